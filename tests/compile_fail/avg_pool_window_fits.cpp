// A 5x5 pooling window on a 4x4 image.
// expect: "AvgPool: the window must fit inside the input image"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/layers/pool.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::AvgPool<5>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::AvgPool<4>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
