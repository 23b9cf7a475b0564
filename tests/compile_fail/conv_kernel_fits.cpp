// A 5x5 kernel on a 4x4 image: no valid position.
// expect: "Conv: the kernel must fit inside the (padded) input image"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/conv.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Conv<32, 5>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Conv<32, 4>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
