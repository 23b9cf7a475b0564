// Windows of 3 at stride 3 on 5 columns would silently drop the last 2 (stride 2 tiles: 0, 2).
// expect: "AvgPool: the stride must tile the input height and width exactly"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/layers/pool.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 5, 5>, ctnn::AvgPool<3, 3>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 5, 5>, ctnn::AvgPool<3, 2>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
