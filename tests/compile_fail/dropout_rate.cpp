// A dropout rate of 1 drops everything, and the survivors' scale 1 / (1 - rate) is infinite.
// expect: "Dropout: the rate must be in [0, 1)"
#include <ratio>

#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/layers/dropout.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::Dropout<std::ratio<2, 2>>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::Dropout<std::ratio<1, 2>>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
