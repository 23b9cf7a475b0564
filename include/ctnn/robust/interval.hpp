// Certified robustness by interval bound propagation (IBP, Gowal et al. 2018, "On the
// Effectiveness of Interval Bound Propagation for Training Verifiably Robust Models").
//
// The L-inf ball of radius epsilon around an image (in pixel units, clipped to [0, 1], then
// normalized as the model's inputs are) is a box; every layer maps a box to a box holding the
// outputs of all its points (each layer's forward_interval). At the last layer the
// specification is folded in (section 3): for a linear last layer, margin[k] bounds z_y - z_k
// from below through the row difference W_y - W_k; the image is certified when every margin is
// positive: no input in the ball changes the prediction. (Bounds are computed in float: they
// are sound up to the rounding of a few ulp, far below any margin that matters.)
//
// Training minimizes the cross-entropy of the worst-case logits zhat_k = -margin_k (eq. 8);
// interval_backward adds its parameter gradient into the same gradient tuple the optimizers
// take, so that the clean loss of net.forward / net.backward supplies the kappa part (eq. 9).
//
// An IntervalWorkspace owns the bounds of Batch images at every layer boundary and their
// gradients, allocated once. Images are split into fixed chunks, each with its own parameter
// gradient summed in chunk order, so results do not depend on the thread count.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <ctnn/core/layer.hpp>
#include <ctnn/core/net.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/kernels/interval.hpp>

namespace ctnn {

// A layer whose bounds propagate: forward_interval(lower, upper, out_lower, out_upper) over a
// chunk of images.
template <class L>
concept IntervalLayer = requires(const L& layer, std::span<const tensor_of<typename L::in_shape>> in,
                                 std::span<tensor_of<typename L::out_shape>> out) {
  layer.forward_interval(in, in, out, out);
};

// A layer that interval training can pass through: backward_interval differentiates the bounds.
template <class L>
concept IntervalTrainableLayer = IntervalLayer<L> &&
    requires(const L& layer, L& grad, std::span<const tensor_of<typename L::in_shape>> in,
             std::span<const tensor_of<typename L::out_shape>> out, std::span<tensor_of<typename L::out_shape>> d_out,
             std::span<tensor_of<typename L::in_shape>> d_in) {
  layer.backward_interval(in, in, out, out, d_out, d_out, d_in, d_in, grad);
};

// A linear last layer with the specification folded in (Dense with no activation).
template <class L>
concept SpecificationLayer = requires(const L& layer, L& grad, const tensor_of<typename L::in_shape>& x,
                                      tensor_of<typename L::in_shape>* dx, tensor_of<typename L::out_shape>& margin) {
  layer.margin_bounds(x, x, std::size_t{0}, margin);
  layer.margin_bounds_backward(x, x, std::size_t{0}, margin, dx, dx, grad);
};

namespace detail {
template <class NetType, std::size_t Batch, class Indices>
struct interval_buffers;
template <class NetType, std::size_t Batch, std::size_t... I>
struct interval_buffers<NetType, Batch, std::index_sequence<I...>> {
  using type = std::tuple<std::array<tensor_of<typename NetType::template shape_at<I>>, Batch>...>;
};
}  // namespace detail

template <class NetType, std::size_t Batch>
class IntervalWorkspace {
  static_assert(Batch > 0, "IntervalWorkspace: the batch size must be positive");

 public:
  using in_shape = typename NetType::in_shape;
  using out_shape = typename NetType::out_shape;
  using layers = typename NetType::layers;
  static constexpr std::size_t layer_count = NetType::layer_count;
  static constexpr std::size_t batch_size = Batch;
  static constexpr std::size_t classes = NetType::classes;
  // Gradient chunks: fixed, so the summation order depends on neither thread count nor timing.
  static constexpr std::size_t chunk_count = Batch < 8 ? Batch : 8;

  std::size_t count = Batch;                // images in use, at most Batch
  std::array<std::size_t, Batch> labels{};  // the class each image must keep
  std::array<float, Batch> losses{};        // worst-case loss of each image, after interval_forward

  IntervalWorkspace() : storage_(std::make_unique<Storage>()) {}

  // Image b's box: the pixels' epsilon-ball clipped to [0, 1], normalized as the model's inputs.
  // Throws std::invalid_argument on a wrong pixel count or a negative epsilon.
  void set_input(std::size_t b, std::span<const float> pixels, Normalization normalization, float epsilon) {
    if (pixels.size() != in_shape::size)
      throw std::invalid_argument("IntervalWorkspace: an image has " + std::to_string(pixels.size()) +
                                  " pixels, the network reads " + std::to_string(in_shape::size));
    if (!(epsilon >= 0.0f)) throw std::invalid_argument("IntervalWorkspace: epsilon must be non-negative");
    const float scale = 1.0f / normalization.stddev;
    auto& lower = input_lower(b);
    auto& upper = input_upper(b);
    for (std::size_t i = 0; i < in_shape::size; ++i) {
      lower[i] = (std::max(0.0f, pixels[i] - epsilon) - normalization.mean) * scale;
      upper[i] = (std::min(1.0f, pixels[i] + epsilon) - normalization.mean) * scale;
    }
  }

  // The bounds at boundary I of image b (0: the input, I + 1: the output of layer I).
  template <std::size_t I>
  auto& lower(std::size_t b) noexcept {
    return std::get<I>(storage_->lower)[b];
  }
  template <std::size_t I>
  auto& upper(std::size_t b) noexcept {
    return std::get<I>(storage_->upper)[b];
  }
  tensor_of<in_shape>& input_lower(std::size_t b) noexcept { return lower<0>(b); }
  tensor_of<in_shape>& input_upper(std::size_t b) noexcept { return upper<0>(b); }
  const tensor_of<out_shape>& output_lower(std::size_t b) const noexcept {
    return std::get<layer_count>(storage_->lower)[b];
  }
  const tensor_of<out_shape>& output_upper(std::size_t b) const noexcept {
    return std::get<layer_count>(storage_->upper)[b];
  }
  // Lower bounds of z_label - z_k for every class k (0 at the label), after interval_forward.
  const tensor_of<out_shape>& margins(std::size_t b) const noexcept { return storage_->margins[b]; }
  // Whether no input in image b's box changes its prediction from its label.
  bool certified(std::size_t b) const noexcept {
    for (std::size_t k = 0; k < classes; ++k)
      if (k != labels[b] && !(storage_->margins[b][k] > 0.0f)) return false;
    return true;
  }

 private:
  template <class N, std::size_t B>
  friend float interval_forward(const N& net, IntervalWorkspace<N, B>& ws);
  template <class N, std::size_t B>
  friend void interval_backward(const N& net, IntervalWorkspace<N, B>& ws, float weight, typename N::layers& grad);

  using buffers = typename detail::interval_buffers<NetType, Batch, std::make_index_sequence<layer_count + 1>>::type;
  struct Storage {
    buffers lower, upper, d_lower, d_upper;
    std::array<tensor_of<out_shape>, Batch> margins, d_margins;
    std::array<layers, chunk_count> chunk_grads;
  };
  std::unique_ptr<Storage> storage_;
};

namespace detail {
template <class NetType, std::size_t... I>
constexpr bool interval_trainable(std::index_sequence<I...>) {
  return (IntervalTrainableLayer<typename NetType::template layer_type<I>> && ...);
}
template <class Array>
auto chunk_of(Array& array, std::size_t first, std::size_t last) noexcept {
  return std::span(array.data() + first, last - first);
}
template <class Array>
auto const_chunk_of(const Array& array, std::size_t first, std::size_t last) noexcept {
  return std::span(array.data() + first, last - first);
}
}  // namespace detail

// Bounds every layer's outputs for the ws.count boxes in ws (set_input, labels), then the
// margins: through the specification when the last layer is linear (Dense), otherwise as the
// lower bound of z_label minus the upper bound of z_k. Returns the mean worst-case cross-entropy
// (Gowal et al. eq. 8); ws.losses holds each image's. Throws std::out_of_range on a count above
// the batch or a label that is not a class.
template <class NetType, std::size_t Batch>
float interval_forward(const NetType& net, IntervalWorkspace<NetType, Batch>& ws) {
  constexpr std::size_t layer_count = NetType::layer_count;
  constexpr std::size_t classes = NetType::classes;
  using Last = typename NetType::template layer_type<layer_count - 1>;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    static_assert((IntervalLayer<typename NetType::template layer_type<I>> && ...),
                  "interval_forward: every layer needs forward_interval");
  }
  (std::make_index_sequence<layer_count>{});
  if (ws.count > Batch)
    throw std::out_of_range("IntervalWorkspace: count " + std::to_string(ws.count) + " exceeds the batch size " +
                            std::to_string(Batch));
  for (std::size_t b = 0; b < ws.count; ++b)
    if (ws.labels[b] >= classes)
      throw std::out_of_range("IntervalWorkspace: label " + std::to_string(ws.labels[b]) + " of image " +
                              std::to_string(b) + " is not a class of this network (0.." + std::to_string(classes - 1) +
                              ")");
  auto& storage = *ws.storage_;
  const std::size_t count = ws.count;
  constexpr std::size_t chunks = IntervalWorkspace<NetType, Batch>::chunk_count;
#pragma omp parallel for schedule(static)
  for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
    const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
    if (first == last) continue;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (net.template layer<I>().forward_interval(detail::const_chunk_of(std::get<I>(storage.lower), first, last),
                                                detail::const_chunk_of(std::get<I>(storage.upper), first, last),
                                                detail::chunk_of(std::get<I + 1>(storage.lower), first, last),
                                                detail::chunk_of(std::get<I + 1>(storage.upper), first, last)),
       ...);
    }
    (std::make_index_sequence<layer_count>{});
    for (std::size_t b = first; b < last; ++b) {
      const std::size_t label = ws.labels[b];
      auto& margin = storage.margins[b];
      if constexpr (SpecificationLayer<Last>) {
        net.template layer<layer_count - 1>().margin_bounds(std::get<layer_count - 1>(storage.lower)[b],
                                                            std::get<layer_count - 1>(storage.upper)[b], label, margin);
      } else {
        const auto& lower = std::get<layer_count>(storage.lower)[b];
        const auto& upper = std::get<layer_count>(storage.upper)[b];
        for (std::size_t k = 0; k < classes; ++k) margin[k] = k == label ? 0.0f : lower[label] - upper[k];
      }
      ws.losses[b] =
          kernels::worst_case_cross_entropy(classes, margin.data(), label, 0.0f, storage.d_margins[b].data());
    }
  }
  double total = 0;
  for (std::size_t b = 0; b < count; ++b) total += ws.losses[b];
  return count ? static_cast<float>(total / static_cast<double>(count)) : 0.0f;
}

// After interval_forward(net, ws): accumulates (+=) weight times the gradient of the mean
// worst-case loss with respect to the parameters into grad (e.g. Workspace::grad(), beside the
// clean loss's gradient). Every layer needs backward_interval and the last must be linear.
template <class NetType, std::size_t Batch>
void interval_backward(const NetType& net, IntervalWorkspace<NetType, Batch>& ws, float weight,
                       typename NetType::layers& grad) {
  constexpr std::size_t layer_count = NetType::layer_count;
  constexpr std::size_t classes = NetType::classes;
  using Last = typename NetType::template layer_type<layer_count - 1>;
  constexpr bool linear_last = SpecificationLayer<Last>;
  constexpr bool trainable = detail::interval_trainable<NetType>(std::make_index_sequence<layer_count - 1>{});
  static_assert(linear_last,
                "interval_backward: the last layer must be a linear Dense (the specification is folded into it)");
  static_assert(
      trainable,
      "interval_backward: every layer but the last needs backward_interval (BatchNorm and Dropout have none)");
  // Discarded when an assertion fails, so that it stays the only error.
  if constexpr (linear_last && trainable) {
    auto& storage = *ws.storage_;
    const std::size_t count = ws.count;
    if (count == 0) return;
    const float scale = weight / static_cast<float>(count);
    constexpr std::size_t chunks = IntervalWorkspace<NetType, Batch>::chunk_count;
#pragma omp parallel for schedule(static)
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
      const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
      if (first == last) continue;
      auto& chunk_grad = storage.chunk_grads[chunk];
      for (std::size_t b = first; b < last; ++b) {
        const std::size_t label = ws.labels[b];
        kernels::worst_case_cross_entropy(classes, storage.margins[b].data(), label, scale,
                                          storage.d_margins[b].data());
        constexpr bool want_dx = layer_count > 1;
        net.template layer<layer_count - 1>().margin_bounds_backward(
            std::get<layer_count - 1>(storage.lower)[b], std::get<layer_count - 1>(storage.upper)[b], label,
            storage.d_margins[b], want_dx ? &std::get<layer_count - 1>(storage.d_lower)[b] : nullptr,
            want_dx ? &std::get<layer_count - 1>(storage.d_upper)[b] : nullptr, std::get<layer_count - 1>(chunk_grad));
      }
      [&]<std::size_t... J>(std::index_sequence<J...>) {
        const auto backward_layer = [&](auto index) {
          constexpr std::size_t I = decltype(index)::value;
          using L = typename NetType::template layer_type<I>;
          using InTensor = tensor_of<typename L::in_shape>;
          net.template layer<I>().backward_interval(
              detail::const_chunk_of(std::get<I>(storage.lower), first, last),
              detail::const_chunk_of(std::get<I>(storage.upper), first, last),
              detail::const_chunk_of(std::get<I + 1>(storage.lower), first, last),
              detail::const_chunk_of(std::get<I + 1>(storage.upper), first, last),
              detail::chunk_of(std::get<I + 1>(storage.d_lower), first, last),
              detail::chunk_of(std::get<I + 1>(storage.d_upper), first, last),
              I > 0 ? detail::chunk_of(std::get<I>(storage.d_lower), first, last) : std::span<InTensor>(),
              I > 0 ? detail::chunk_of(std::get<I>(storage.d_upper), first, last) : std::span<InTensor>(),
              std::get<I>(chunk_grad));
        };
        (backward_layer(std::integral_constant<std::size_t, layer_count - 2 - J>{}), ...);
      }
      (std::make_index_sequence<layer_count - 1>{});
    }
    // grad += chunk 0 + chunk 1 + ..., in chunk order for every element; the chunks are zeroed.
    auto add_and_clear = [](auto& total, auto&... parts) {
#pragma omp parallel for schedule(static)
      for (std::size_t i = 0; i < total.size; ++i) {
        float sum = total[i];
        ((sum += parts[i], parts[i] = 0.0f), ...);
        total[i] = sum;
      }
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      const auto reduce_layer = [&](auto index) {
        constexpr std::size_t L = decltype(index)::value;
        [&]<std::size_t... Chunk>(std::index_sequence<Chunk...>) {
          detail::for_each_in_layer(add_and_clear, std::get<L>(grad).parameters(),
                                    std::get<L>(storage.chunk_grads[Chunk]).parameters()...);
        }
        (std::make_index_sequence<chunks>{});
      };
      (reduce_layer(std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::make_index_sequence<layer_count>{});
  }
}

// Verified and clean accuracy of a net on a data set at one epsilon.
struct Verification {
  float epsilon = 0;
  std::size_t images = 0, clean_correct = 0, verified = 0;
  double seconds = 0;
  std::vector<std::uint8_t> certified;  // per image: 1 when certified (which implies correct)
  float clean_accuracy() const noexcept {
    return images ? static_cast<float>(clean_correct) / static_cast<float>(images) : 0.0f;
  }
  float verified_accuracy() const noexcept {
    return images ? static_cast<float>(verified) / static_cast<float>(images) : 0.0f;
  }
};

// Certifies the first `limit` images of `dataset` (0: all) at `epsilon` in pixel units, with the
// inputs normalized by `normalization` (the model's own). Throws std::invalid_argument when the
// images do not have the net's input shape or epsilon is negative.
template <class NetType>
Verification verify(const NetType& net, const Dataset& dataset, Normalization normalization, float epsilon,
                    std::size_t limit = 0) {
  check_input_shape<NetType>(dataset);
  if (!(epsilon >= 0.0f)) throw std::invalid_argument("verify: epsilon must be non-negative");
  constexpr std::size_t batch = 64;
  constexpr std::size_t classes = NetType::classes;
  const auto start = std::chrono::steady_clock::now();
  Verification result;
  result.epsilon = epsilon;
  result.images = limit == 0 ? dataset.size() : std::min(limit, dataset.size());
  result.certified.assign(result.images, 0);
  IntervalWorkspace<NetType, batch> ws;
  using Inference = typename NetType::Inference;
  std::vector<std::unique_ptr<Inference>> inference(ws.chunk_count);
  for (auto& buffers : inference) buffers = std::make_unique<Inference>();
  std::array<std::uint8_t, batch> correct{};
  const float scale = 1.0f / normalization.stddev;
  for (std::size_t first = 0; first < result.images; first += batch) {
    ws.count = std::min(batch, result.images - first);
    for (std::size_t b = 0; b < ws.count; ++b) {
      ws.set_input(b, dataset.image(first + b), normalization, epsilon);
      ws.labels[b] = dataset.labels[first + b];
    }
    interval_forward(net, ws);
    const std::size_t count = ws.count;
#pragma omp parallel for schedule(static)
    for (std::size_t chunk = 0; chunk < ws.chunk_count; ++chunk) {
      tensor_of<typename NetType::in_shape> x;
      for (std::size_t b = chunk * count / ws.chunk_count; b < (chunk + 1) * count / ws.chunk_count; ++b) {
        const auto pixels = dataset.image(first + b);
        for (std::size_t i = 0; i < x.size; ++i) x[i] = (pixels[i] - normalization.mean) * scale;
        const auto& logits = net.forward(x, *inference[chunk]);
        const auto predicted = std::max_element(logits.data(), logits.data() + classes) - logits.data();
        correct[b] = static_cast<std::size_t>(predicted) == ws.labels[b];
      }
    }
    for (std::size_t b = 0; b < count; ++b) {
      result.clean_correct += correct[b];
      // A certified box holds the clean image, so it is correct too (barring float ties).
      const bool certified = ws.certified(b) && correct[b];
      result.certified[first + b] = certified;
      result.verified += certified;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ctnn
