// The network is its type. This program spells the design card's LeNet-5 two ways, shows that
// the compiler resolves both to the same layers, and prints the per-layer summary.
#include <cstdio>
#include <type_traits>

#include <ctnn/ctnn.hpp>

using namespace ctnn;

// The short form: hidden Conv and Dense layers get ReLU, the last Dense gives logits, and the
// input shape is bound where the network is used.
using LeNet5 = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>;

// The explicit form: the input shape and every activation written out.
// clang-format off
using LeNet5Explicit = Net<Input<1, 28, 28>,
                           Conv<6, 5>, ReLU, MaxPool<2>,
                           Conv<16, 5>, ReLU,
                           Dense<120>, ReLU,
                           Dense<10>>;
// clang-format on

using MnistLeNet5 = LeNet5::bind<Shape<1, 28, 28>>;
static_assert(std::is_same_v<MnistLeNet5::layers, LeNet5Explicit::layers>);
static_assert(std::is_same_v<MnistLeNet5::out_shape, Shape<10, 1, 1>>);
static_assert(MnistLeNet5::param_count == 126'782);

// The classic LeNet-5 of LeCun et al. (1998) adds a second pooling layer and an 84-unit layer;
// with a 28x28 input it has 44,426 parameters.
// clang-format off
using ClassicLeNet5 = Net<Input<1, 28, 28>, Conv<6, 5>, MaxPool<2>, Conv<16, 5>, MaxPool<2>,
                          Dense<120>, Dense<84>, Dense<10>>;
// clang-format on
static_assert(ClassicLeNet5::param_count == 44'426);

int main() {
  std::puts("Design card LeNet-5, short form bound to 1x28x28:");
  MnistLeNet5::summary();
  std::printf("\nsignature: %s\n\nClassic LeNet-5:\n", MnistLeNet5::signature().c_str());
  ClassicLeNet5::summary();

  MnistLeNet5 net(/*seed=*/1);
  tensor_of<MnistLeNet5::in_shape> image;  // a blank image: every class equally unlikely at first
  std::printf("\nan untrained net calls a blank image a %zu\n", net.predict(image));
}
