// A network must have at least one layer; the unbound form is checked before it is bound.
// expect: "Net: a network needs at least one layer"
#include <ctnn/core/net.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Unbound = ctnn::Net<>;
#else
using Unbound = ctnn::Net<ctnn::Dense<10>>;
#endif
using Model = Unbound::bind<ctnn::Shape<1, 4, 4>>;

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
