// The networks the example programs train, and a loader that picks the right one for a model file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <ratio>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/model_file.hpp>

namespace examples {

using namespace ctnn;

// LeNet-5 as the design card writes it: two 5x5 convolutions (6 and 16 filters), one 2x2 max
// pooling, a 120-unit hidden layer, 10 logits. Hidden layers take ReLU; the input is bound to
// MNIST's 1x28x28 images.
using LeNet5 = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>;

// The strongest MNIST net: 28x28 -> two 3x3 convolutions (32 filters) -> 24x24 -> pool -> 12x12
// -> two 3x3 convolutions (64 filters) -> 8x8 -> pool -> 4x4 -> 256 units -> 10 logits. Each
// convolution is linear, normalized over the batch, then rectified (Ioffe & Szegedy 2015);
// dropout (Srivastava et al. 2014) regularizes the dense layer.
// clang-format off
using BestNet = Net<Input<1, 28, 28>,
                    Conv<32, 3>, BatchNorm<>, ReLU,
                    Conv<32, 3>, BatchNorm<>, ReLU, MaxPool<2>,
                    Conv<64, 3>, BatchNorm<>, ReLU,
                    Conv<64, 3>, BatchNorm<>, ReLU, MaxPool<2>,
                    Dense<256>, BatchNorm<>, ReLU, Dropout<std::ratio<2, 5>>,
                    Dense<10>>;
// clang-format on

// For Fashion-MNIST: two convolution blocks (32 and 64 filters, same padding, batch-normalized)
// that halve the image twice, 28 -> 14 -> 7, then 128 units with dropout and 10 logits.
// clang-format off
using FashionNet = Net<Input<1, 28, 28>,
                       Conv<32, 3, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                       Conv<64, 3, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                       Dense<128>, Dropout<std::ratio<1, 4>>,
                       Dense<10>>;
// clang-format on

// For adversarial training (train_adversarial): strided 5x5 convolutions halve the image twice,
// 28 -> 14 -> 7, then 128 units; Wong, Rice & Kolter's MNIST net (2020) at twice the width, as
// robustness at eps = 0.3 needs capacity (Madry et al. 2018, section 4).
using AdversarialNet = Net<Conv<32, 5, 2, same>, Conv<32, 5, 2, same>, Dense<128>, Dense<10>>::bind<Shape<1, 28, 28>>;

// For certified robustness by interval bound propagation (train_certified, certify): Gowal et
// al.'s (2018) small MNIST net, a strided 4x4 convolution (28 -> 13), a 4x4 one (13 -> 10), 100
// units and 10 logits. Small and shallow keeps the interval bounds tight.
using CertifiedNet = Net<Conv<16, 4, 2>, Conv<32, 4>, Dense<100>, Dense<10>>::bind<Shape<1, 28, 28>>;

// Ensemble members (train_ensemble) besides BestNet: the same four 3x3 convolutions with same
// padding, so the image keeps its size until each pooling (28 -> 14 -> 7) and the dense layer
// sees a 7x7 map, and a shallower net of two 5x5 same-padded convolutions (28 -> 14 -> 7). Members
// that differ in receptive fields and depth make different mistakes, which is what averaging
// their probabilities needs (Ciresan, Meier & Schmidhuber 2012, multi-column networks).
// clang-format off
using SamePaddedNet = Net<Input<1, 28, 28>,
                          Conv<32, 3, 1, same>, BatchNorm<>, ReLU,
                          Conv<32, 3, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                          Conv<64, 3, 1, same>, BatchNorm<>, ReLU,
                          Conv<64, 3, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                          Dense<256>, BatchNorm<>, ReLU, Dropout<std::ratio<2, 5>>,
                          Dense<10>>;
using WideKernelNet = Net<Input<1, 28, 28>,
                          Conv<32, 5, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                          Conv<64, 5, 1, same>, BatchNorm<>, ReLU, MaxPool<2>,
                          Dense<256>, BatchNorm<>, ReLU, Dropout<std::ratio<2, 5>>,
                          Dense<10>>;
// clang-format on

// Loads the model file at `path` into whichever of Nets... saved it and returns use(net, info)
// for that net, e.g. with_model<LeNet5, BestNet>(path, [](auto& net, const ModelInfo& info) {...}).
// A file saved by none of them gets a ModelError naming its signature and the ones known here.
template <class... Nets, class Use>
auto with_model(const std::filesystem::path& path, Use&& use) {
  const std::string signature = model_signature(path);
  using First = std::tuple_element_t<0, std::tuple<Nets...>>;
  using Result = decltype(use(std::declval<First&>(), std::declval<const ModelInfo&>()));
  std::optional<std::conditional_t<std::is_void_v<Result>, bool, Result>> result;
  const auto try_net = [&]<class NetType>(std::type_identity<NetType>) {
    if (result || signature != NetType::signature()) return;
    NetType net;
    const ModelInfo info = load_model(net, path);
    if constexpr (std::is_void_v<Result>) {
      use(net, info);
      result = true;
    } else {
      result = use(net, info);
    }
  };
  (try_net(std::type_identity<Nets>{}), ...);
  if (!result) {
    std::string known;
    ((known += "\n  " + Nets::signature()), ...);
    throw ModelError("model file " + path.string() + " was saved by `" + signature +
                     "`, which this program does not know; it reads:" + known);
  }
  if constexpr (!std::is_void_v<Result>) return std::move(*result);
}

// Every network above, for programs that read any of their model files.
template <class Use>
auto with_example_model(const std::filesystem::path& path, Use&& use) {
  return with_model<LeNet5, BestNet, FashionNet, AdversarialNet, CertifiedNet>(path, std::forward<Use>(use));
}

}  // namespace examples
