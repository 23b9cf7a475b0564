// Momentum 0 would never update the running statistics that inference uses.
// expect: "BatchNorm: the momentum must be in (0, 1]"
#include <ratio>

#include <ctnn/core/net.hpp>
#include <ctnn/layers/batch_norm.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::BatchNorm<std::ratio<0, 10>>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::BatchNorm<std::ratio<1, 10>>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
