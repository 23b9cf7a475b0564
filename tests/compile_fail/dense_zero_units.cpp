// A fully connected layer with no units.
// expect: "Dense: the number of units must be positive"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<0>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<1>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
