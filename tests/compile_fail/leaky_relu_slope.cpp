// A slope of 3/2 is not a leaky ReLU: negative inputs would grow faster than positive ones.
// expect: "LeakyReLU: the slope must be in [0, 1)"
#include <ratio>

#include <ctnn/core/net.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/dense.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::LeakyReLU<std::ratio<3, 2>>, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::LeakyReLU<std::ratio<1, 2>>, ctnn::Dense<10>>;
#endif

int main() {
  Model net(1);
  const ctnn::tensor_of<Model::in_shape> x{};
  return net.forward(x)[0] == 0.0f && Model::param_count > 0 ? 0 : 1;
}
