// An Input alone is not a network: there must be a layer after it.
// expect: "Net: a network needs at least one layer after its Input"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
