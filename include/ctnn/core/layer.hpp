// The Layer concept: what a bound layer (Spec::bind<InShape>) provides, and the optional
// capabilities a Net looks for. Layers hold parameters only; the Net owns every buffer.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <ctnn/core/random.hpp>
#include <ctnn/core/shape.hpp>
#include <ctnn/core/tensor.hpp>

namespace ctnn {

// A bound layer L, with x : tensor_of<in_shape>, y and dy : tensor_of<out_shape>:
//   in_shape, out_shape      the shapes of one input and one output image.
//   param_count              number of trained scalars; flops: forward multiply-adds times 2.
//   label()                  how summary() and the architecture signature spell the layer.
//   forward(x, y)            inference: overwrites y. No allocation, no state change.
//   backward(x, y, dy, dx, grad)
//                            requires: y = forward(x), dy = dLoss/dy. dy is scratch and may be
//                            overwritten. Overwrites *dx with dLoss/dx unless dx is null (the
//                            input gradient is not wanted). Accumulates (+=) dLoss/dparameters
//                            into grad, which has the layer's own type.
//   init(rng)                draws the initial parameters.
//   parameters()             a tuple of references to the trained tensors, in a fixed order: the
//                            optimizer walks the parameters of a layer, its gradient and its
//                            optimizer state in parallel through it.
template <class L>
concept Layer = requires(const L& layer, L& mutable_layer, L& grad, Rng& rng, const tensor_of<typename L::in_shape>& x,
                         tensor_of<typename L::out_shape>& y, tensor_of<typename L::in_shape>* dx) {
  typename L::in_shape;
  typename L::out_shape;
  { L::param_count } -> std::convertible_to<std::size_t>;
  { L::flops } -> std::convertible_to<std::size_t>;
  { L::label() } -> std::convertible_to<std::string>;
  layer.forward(x, y);
  layer.backward(x, y, y, dx, grad);
  mutable_layer.init(rng);
  mutable_layer.parameters();
};

// Optional: a layer that behaves differently in training draws its randomness from a seed that
// the Net derives from (step, layer, image), so backward can replay it and threads cannot
// change it (Dropout).
template <class L>
concept StochasticLayer = Layer<L> &&
    requires(const L& layer, L& grad, const tensor_of<typename L::in_shape>& x, tensor_of<typename L::out_shape>& y,
             tensor_of<typename L::in_shape>* dx, std::uint64_t seed) {
  layer.forward_train(x, y, seed);
  layer.backward_train(x, y, y, dx, grad, seed);
};

// Optional: a layer whose training pass couples the images of a mini-batch (BatchNorm). The Net
// hands it the whole batch; forward_batch may update running statistics.
template <class L>
concept BatchLayer = Layer<L> &&
    requires(L& layer, L& grad, std::span<const tensor_of<typename L::in_shape>> xs,
             std::span<tensor_of<typename L::out_shape>> ys, std::span<tensor_of<typename L::in_shape>> dxs) {
  layer.forward_batch(xs, ys);
  layer.backward_batch(xs, std::span<const tensor_of<typename L::out_shape>>(ys), ys, dxs, grad);
};

// Optional: a layer that runs faster over a chunk of images than one by one (Dense reuses each
// weight row across them). Same contract as forward and backward, for each image of the chunk.
template <class L>
concept ChunkLayer = Layer<L> &&
    requires(const L& layer, L& grad, std::span<const tensor_of<typename L::in_shape>> xs,
             std::span<tensor_of<typename L::out_shape>> ys, std::span<tensor_of<typename L::in_shape>> dxs) {
  layer.forward_chunk(xs, ys);
  layer.backward_chunk(xs, std::span<const tensor_of<typename L::out_shape>>(ys), ys, dxs, grad);
};

// Optional: the input gradient alone, for a span of images, without the parameter gradient that
// backward also computes (attacks and explanations want only dx). Same contract as backward
// otherwise: each dy is scratch, each dx is overwritten.
template <class L>
concept InputGradientLayer = Layer<L> &&
    requires(const L& layer, std::span<const tensor_of<typename L::in_shape>> xs,
             std::span<const tensor_of<typename L::out_shape>> ys, std::span<tensor_of<typename L::out_shape>> dys,
             std::span<tensor_of<typename L::in_shape>> dxs) {
  layer.backward_input(xs, ys, dys, dxs);
};

// Optional: tensors saved with the model that training does not optimize (running statistics).
template <class L>
concept StatefulLayer = Layer<L> && requires(L& layer) {
  layer.state();
};

namespace detail {
template <class F, class... ParameterTuples>
void for_each_in_layer(F& f, ParameterTuples&&... parameters) {
  using First = std::decay_t<std::tuple_element_t<0, std::tuple<ParameterTuples...>>>;
  const auto visit = [&](auto index) { f(std::get<decltype(index)::value>(parameters)...); };
  [&]<std::size_t... J>(std::index_sequence<J...>) { (visit(std::integral_constant<std::size_t, J>{}), ...); }
  (std::make_index_sequence<std::tuple_size_v<First>>{});
}

}  // namespace detail

// Calls f(t, u, ...) on each trained tensor t of `first` and the tensors at the same place in
// `more` (sets of the same layers: gradients, optimizer moments). This is how the optimizers
// walk a network without knowing its layers.
template <class F, class Layers, class... More>
void for_each_parameter(F&& f, Layers& first, More&... more) {
  const auto visit = [&](auto index) {
    constexpr std::size_t I = decltype(index)::value;
    detail::for_each_in_layer(f, std::get<I>(first).parameters(), std::get<I>(more).parameters()...);
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) { (visit(std::integral_constant<std::size_t, I>{}), ...); }
  (std::make_index_sequence<std::tuple_size_v<std::remove_const_t<Layers>>>{});
}

// Like for_each_parameter, for every tensor a saved model holds: parameters, then state
// (running statistics).
template <class F, class Layers>
void for_each_tensor(F&& f, Layers& layers) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&](auto& layer) {
          detail::for_each_in_layer(f, layer.parameters());
          if constexpr (StatefulLayer<std::remove_const_t<std::remove_reference_t<decltype(layer)>>>)
            detail::for_each_in_layer(f, layer.state());
        }(std::get<I>(layers)),
        ...);
  }
  (std::make_index_sequence<std::tuple_size_v<std::remove_const_t<Layers>>>{});
}

// Whether a pass trains (batch statistics, dropout) or infers.
enum class Mode { eval, train };

// The activation a Conv or Dense takes when the user names none; Net resolves it (see net.hpp).
struct Auto {};

enum class Padding { valid, same };
inline constexpr Padding valid = Padding::valid;
inline constexpr Padding same = Padding::same;

}  // namespace ctnn
