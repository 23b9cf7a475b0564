// Workspace<Net, Batch>: every buffer a mini-batch pass needs, sized at compile time and
// allocated once, in one heap block: the activations and their gradients for Batch images at
// every layer boundary, the labels and losses, the parameter gradient, and one partial gradient
// per chunk of images so that threads never share an accumulator.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/core/tensor.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>

namespace ctnn {

namespace detail {
template <class In, class Layers, std::size_t Batch>
struct batch_buffers;
template <class In, class... Layers, std::size_t Batch>
struct batch_buffers<In, std::tuple<Layers...>, Batch> {
  using type =
      std::tuple<std::array<tensor_of<In>, Batch>, std::array<tensor_of<typename Layers::out_shape>, Batch>...>;
};
}  // namespace detail

template <class NetType, std::size_t Batch>
class Workspace {
  static_assert(Batch > 0, "Workspace: the batch size must be positive");

 public:
  using in_shape = typename NetType::in_shape;
  using out_shape = typename NetType::out_shape;
  using layers = typename NetType::layers;
  static constexpr std::size_t batch_size = Batch;
  // Gradient chunks: fixed, so the summation order depends on neither thread count nor timing.
  static constexpr std::size_t chunk_count = Batch < 8 ? Batch : 8;

  std::size_t count = Batch;                // images in use, at most Batch (a last, short batch)
  std::array<std::size_t, Batch> labels{};  // class of each image
  std::array<float, Batch> losses{};        // per-image loss of the last forward
  SoftmaxCrossEntropy loss{};               // the loss and its label smoothing
  std::uint64_t seed = 0;                   // randomness of training-mode layers (Dropout)

  Workspace() : storage_(std::make_unique<Storage>()) {}

  tensor_of<in_shape>& input(std::size_t b) noexcept { return std::get<0>(storage_->values)[b]; }
  const tensor_of<in_shape>& input(std::size_t b) const noexcept { return std::get<0>(storage_->values)[b]; }
  const tensor_of<out_shape>& output(std::size_t b) const noexcept {
    return std::get<std::tuple_size_v<layers>>(storage_->values)[b];
  }
  const tensor_of<in_shape>& input_gradient(std::size_t b) const noexcept {
    return std::get<0>(storage_->gradients)[b];
  }

  // The batch of activations at boundary I (0 is the input, I + 1 the output of layer I) and the
  // gradient of the loss with respect to them.
  template <std::size_t I>
  auto& activations() noexcept {
    return std::get<I>(storage_->values);
  }
  template <std::size_t I>
  auto& gradients() noexcept {
    return std::get<I>(storage_->gradients);
  }

  layers& grad() noexcept { return storage_->grad; }
  const layers& grad() const noexcept { return storage_->grad; }
  void zero_grad() noexcept {
    for_each_parameter([](auto& tensor) { tensor.fill(0.0f); }, storage_->grad);
  }

 private:
  friend NetType;
  using buffers = typename detail::batch_buffers<in_shape, layers, Batch>::type;
  struct Storage {
    buffers values;
    buffers gradients;
    std::array<layers, chunk_count> chunk_grads;
    layers grad;
  };
  std::unique_ptr<Storage> storage_;
  Mode mode_ = Mode::eval;
};

}  // namespace ctnn
