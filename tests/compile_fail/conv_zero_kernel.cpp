// A 0x0 kernel sees nothing.
// expect: "Conv: the kernel size must be positive"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/conv.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 8, 8>, ctnn::Conv<4, 0>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 8, 8>, ctnn::Conv<4, 1>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
