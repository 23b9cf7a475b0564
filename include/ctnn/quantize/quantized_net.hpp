// QuantizedNet<NetType>: post-training int8 inference for a trained float Net (scheme:
// quantization.hpp; ranges: calibration.hpp). quantize(net, ranges) turns the float layers into
// stages:
//   Conv [+ BatchNorm] [+ ReLU] [+ MaxPool]
//                                 one int8 convolution, BatchNorm folded into its weights
//                                 (batch_norm_folding.hpp), ReLU into the requantization's clamp,
//                                 and non-overlapping max pooling into its epilogue (the int32
//                                 sums are pooled before they are requantized);
//   MaxPool                       any other max pooling, of the codes themselves;
//   Dense [+ BatchNorm] [+ ReLU]  one int8 matrix product; the last Dense gives float logits;
//   Dropout, Identity             nothing (inference is the identity).
// Images are channels-last codes between stages (kernels/int8_image.hpp), so a Dense's weight
// columns are permuted from the float net's (C,H,W) flattening to (H,W,C) when it is prepared.
//
// Inference over a span of images: threads take chunks of images (OpenMP); within a chunk each
// image runs through the convolution and pooling stages alone, which keeps its activations in
// cache, and the Dense stages then run over the whole chunk as one matrix product each, which
// reads their weights once per chunk. Every result is an integer function of its own image until
// the float logits, so the output does not depend on the threads or the chunking.
// Per-thread scratch (activation codes, the im2row matrix) is allocated on a thread's first call.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
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

#include <xsimd/xsimd.hpp>

#include <ctnn/core/net.hpp>
#include <ctnn/core/tensor.hpp>
#include <ctnn/kernels/int8_gemm.hpp>
#include <ctnn/kernels/int8_image.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/pool.hpp>
#include <ctnn/quantize/batch_norm_folding.hpp>
#include <ctnn/quantize/quantization.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ctnn {

// An int8 convolution of a (H,W,C) code image into a (OH,OW,F) one, its requantization fused,
// and with PoolWindow > 1 the max pooling that follows it (windows of PoolWindow x PoolWindow,
// as many pixels apart), into (OH/PoolWindow, OW/PoolWindow, F). The tensors a model file holds
// are public (weights in the float layer's (F,C,K,K) order); prepare() derives the packed
// weights and the epilogue from them.
template <kernels::Conv2dGeometry Geometry, bool Relu, std::size_t PoolWindow = 1>
struct QuantizedConv {
  static constexpr kernels::Conv2dGeometry geometry = Geometry;
  static constexpr std::size_t filters = Geometry.filters, taps = Geometry.taps();
  static constexpr std::size_t in_bytes = Geometry.channels * Geometry.height * Geometry.width;
  static constexpr std::size_t out_bytes = filters * Geometry.out_plane() / (PoolWindow * PoolWindow);
  static constexpr std::size_t scratch_bytes = Geometry.out_plane() * kernels::int8_padded_depth(taps);
  static constexpr bool relu = Relu, float_output = false;

  std::array<std::int8_t, filters * taps> weight{};  // (F, C, K, K)
  std::array<float, filters> weight_scale{};
  std::array<std::int32_t, filters> bias{};  // in units of input.scale * weight_scale[f]
  ActivationQuantization input, output;

  void prepare() {
    const std::size_t k = Geometry.kernel, channels = Geometry.channels;
    std::vector<std::int8_t> by_tap(weight.size());  // (F, K, K, C): im2row's tap order
    for (std::size_t f = 0; f < filters; ++f)
      for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t i = 0; i < k; ++i)
          for (std::size_t j = 0; j < k; ++j)
            by_tap[f * taps + (i * k + j) * channels + c] = weight[((f * channels + c) * k + i) * k + j];
    kernels::pack_int8_weights(filters, taps, by_tap.data(), taps, packed_.data());
    for (std::size_t f = 0; f < filters; ++f) {
      std::int32_t row_sum = 0;
      for (std::size_t t = 0; t < taps; ++t) row_sum += weight[f * taps + t];
      offset_[f] = bias[f] - input.zero_point * row_sum;
      multiplier_[f] = input.scale * weight_scale[f] / output.scale;
    }
  }

  template <class Arch, bool Vnni>
  void forward(const std::uint8_t* x, std::uint8_t* y, std::uint8_t* scratch) const noexcept {
    const kernels::Requantize out{offset_.data(), multiplier_.data(), output.zero_point, Relu ? output.zero_point : 0};
    const kernels::Int8Weights w{packed_.data(), filters, taps};
    const auto zero_point = static_cast<std::uint8_t>(input.zero_point);
    if constexpr (PoolWindow > 1)
      kernels::int8_conv2d_max_pool<PoolWindow, Arch, Vnni>(kernels::fixed<Geometry>, x, zero_point, w, out, y,
                                                            scratch);
    else
      kernels::int8_conv2d<Arch, Vnni>(kernels::fixed<Geometry>, x, zero_point, w, out, y, scratch);
  }

 private:
  alignas(64) std::array<std::int32_t, kernels::int8_packed_words(filters, taps)> packed_{};
  alignas(64) std::array<std::int32_t, kernels::int8_padded_outputs(filters)> offset_{};
  alignas(64) std::array<float, kernels::int8_padded_outputs(filters)> multiplier_{};
};

// An int8 fully connected layer over a chunk of images whose input is the (H,W,C) code image of
// InShape, flattened; the float layer's weights are (Units, C H W).
template <class InShape, std::size_t Units, bool Relu, bool FloatOutput>
struct QuantizedDense {
  static constexpr std::size_t inputs = InShape::size;
  static constexpr std::size_t in_bytes = inputs, out_bytes = FloatOutput ? 0 : Units;
  static constexpr std::size_t scratch_bytes = 0;
  static constexpr bool relu = Relu, float_output = FloatOutput;

  std::array<std::int8_t, Units * inputs> weight{};  // (Units, C H W), the float layer's order
  std::array<float, Units> weight_scale{};
  std::array<std::int32_t, Units> bias{};
  ActivationQuantization input, output;  // output unused for float logits

  void prepare() {
    constexpr std::size_t channels = InShape::channels, plane = InShape::height * InShape::width;
    std::vector<std::int8_t> channels_last(weight.size());
    for (std::size_t u = 0; u < Units; ++u)
      for (std::size_t c = 0; c < channels; ++c)
        for (std::size_t p = 0; p < plane; ++p)
          channels_last[u * inputs + p * channels + c] = weight[u * inputs + c * plane + p];
    kernels::pack_int8_weights(Units, inputs, channels_last.data(), inputs, packed_.data());
    for (std::size_t u = 0; u < Units; ++u) {
      std::int32_t row_sum = 0;
      for (std::size_t k = 0; k < inputs; ++k) row_sum += weight[u * inputs + k];
      offset_[u] = bias[u] - input.zero_point * row_sum;
      multiplier_[u] = input.scale * weight_scale[u] / (FloatOutput ? 1.0f : output.scale);
    }
  }

  // count images: x rows of ldx bytes (readable up to int8_padded_depth(inputs)), y rows of ldy.
  template <class Arch, bool Vnni, class Value>
  void forward(std::size_t count, const std::uint8_t* x, std::size_t ldx, Value* y, std::size_t ldy) const noexcept {
    const kernels::Int8Weights w{packed_.data(), Units, inputs};
    if constexpr (FloatOutput) {
      kernels::int8_gemm<Arch, Vnni>(count, x, ldx, w, kernels::Dequantize{offset_.data(), multiplier_.data(), Relu}, y,
                                     ldy);
    } else {
      const kernels::Requantize out{offset_.data(), multiplier_.data(), output.zero_point,
                                    Relu ? output.zero_point : 0};
      kernels::int8_gemm<Arch, Vnni>(count, x, ldx, w, out, y, ldy);
    }
  }

 private:
  alignas(64) std::array<std::int32_t, kernels::int8_packed_words(Units, inputs)> packed_{};
  alignas(64) std::array<std::int32_t, kernels::int8_padded_outputs(Units)> offset_{};
  alignas(64) std::array<float, kernels::int8_padded_outputs(Units)> multiplier_{};
};

// Max pooling of (H,W,C) codes: the codes keep their scale and zero point.
template <kernels::PoolGeometry Geometry>
struct QuantizedMaxPool {
  static constexpr kernels::PoolGeometry geometry = Geometry;
  static constexpr std::size_t in_bytes = Geometry.channels * Geometry.height * Geometry.width;
  static constexpr std::size_t out_bytes = Geometry.channels * Geometry.out_height() * Geometry.out_width();
  static constexpr std::size_t scratch_bytes = 0;
  static constexpr bool float_output = false;

  ActivationQuantization input, output;

  void prepare() noexcept {}
  template <class Arch, bool>
  void forward(const std::uint8_t* x, std::uint8_t* y, std::uint8_t*) const noexcept {
    kernels::int8_max_pool<Arch>(kernels::fixed<Geometry>, x, y);
  }
};

namespace detail {

enum class QuantizedRole { conv, dense, batch_norm, relu, identity, other_activation, max_pool, dropout, unsupported };

template <class L>
struct activation_layer_traits {
  static constexpr bool value = false;
};
template <class Activation, class In>
struct activation_layer_traits<ActivationLayer<Activation, In>> {
  static constexpr bool value = true;
  using activation = Activation;
};

template <class Activation>
constexpr QuantizedRole activation_role() {
  if constexpr (std::is_same_v<Activation, ReLU>) return QuantizedRole::relu;
  if constexpr (std::is_same_v<Activation, Identity>) return QuantizedRole::identity;
  return QuantizedRole::other_activation;
}

template <class L>
constexpr QuantizedRole quantized_role() {
  if constexpr (requires { requires std::same_as<std::remove_cv_t<decltype(L::geometry)>, kernels::Conv2dGeometry>; })
    return QuantizedRole::conv;
  else if constexpr (requires {
                       requires std::same_as<std::remove_cv_t<decltype(L::geometry)>, kernels::PoolGeometry>;
                     })
    return std::is_same_v<L,
                          typename MaxPool<L::geometry.window, L::geometry.stride>::template bind<typename L::in_shape>>
               ? QuantizedRole::max_pool
               : QuantizedRole::unsupported;
  else if constexpr (requires(L layer) {
                       L::inputs;
                       layer.weight;
                       layer.bias;
                     })
    return QuantizedRole::dense;
  else if constexpr (requires(L layer) {
                       layer.running_mean;
                       layer.running_variance;
                       L::epsilon;
                     })
    return QuantizedRole::batch_norm;
  else if constexpr (requires {
                       L::keep_scale;
                       L::rate;
                     })
    return QuantizedRole::dropout;
  else if constexpr (activation_layer_traits<L>::value)
    return activation_role<typename activation_layer_traits<L>::activation>();
  else
    return QuantizedRole::unsupported;
}

// The window of a max pooling a convolution can take into its epilogue: windows that do not
// overlap (stride = window); 0 for any other layer.
template <class L>
constexpr std::size_t fusable_pool_window() {
  if constexpr (quantized_role<L>() == QuantizedRole::max_pool)
    return L::geometry.window == L::geometry.stride ? L::geometry.window : 0;
  else
    return 0;
}

// A Conv or Dense's own (fused) activation.
template <class L>
constexpr QuantizedRole own_activation() {
  if constexpr (requires { typename L::activation; })
    return activation_role<typename L::activation>();
  else
    return QuantizedRole::identity;
}

enum class PlanError {
  none,
  unsupported_layer,
  unsupported_activation,
  lonely_batch_norm,
  lonely_activation,
  not_ending_in_dense,
  image_stage_after_dense
};

// One stage: float layers first..last, the BatchNorm among them (or none), ReLU or not, and the
// window of the max pooling fused into a convolution (1: none).
struct StagePlan {
  QuantizedRole kind = QuantizedRole::unsupported;
  std::size_t first = 0, last = 0;
  std::size_t norm = static_cast<std::size_t>(-1);
  bool relu = false;
  std::size_t pool = 1;
  constexpr bool has_norm() const noexcept { return norm != static_cast<std::size_t>(-1); }
};

template <std::size_t Layers>
struct QuantizationPlan {
  std::array<StagePlan, Layers> stages{};
  std::size_t count = 0;
  PlanError error = PlanError::none;
};

// Groups the float layers into stages by the rules of the header comment.
template <std::size_t Layers>
constexpr QuantizationPlan<Layers> make_plan(const std::array<QuantizedRole, Layers>& roles,
                                             const std::array<QuantizedRole, Layers>& activations,
                                             const std::array<std::size_t, Layers>& pool_windows) {
  QuantizationPlan<Layers> plan;
  const auto fail = [&plan](PlanError error) {
    if (plan.error == PlanError::none) plan.error = error;
  };
  bool seen_dense = false;
  for (std::size_t i = 0; i < Layers;) {
    const QuantizedRole role = roles[i];
    if (role == QuantizedRole::conv || role == QuantizedRole::dense) {
      StagePlan stage{role, i, i};
      if (activations[i] == QuantizedRole::other_activation) fail(PlanError::unsupported_activation);
      stage.relu = activations[i] == QuantizedRole::relu;
      std::size_t next = i + 1;
      if (next < Layers && roles[next] == QuantizedRole::batch_norm) stage.norm = stage.last = next++;
      if (next < Layers && roles[next] == QuantizedRole::other_activation) fail(PlanError::unsupported_activation);
      if (next < Layers && (roles[next] == QuantizedRole::relu || roles[next] == QuantizedRole::identity)) {
        stage.relu = stage.relu || roles[next] == QuantizedRole::relu;
        stage.last = next++;
      }
      if (role == QuantizedRole::conv && next < Layers && roles[next] == QuantizedRole::max_pool &&
          pool_windows[next] > 0) {
        stage.pool = pool_windows[next];
        stage.last = next++;
      }
      if (role == QuantizedRole::conv && seen_dense) fail(PlanError::image_stage_after_dense);
      seen_dense = seen_dense || role == QuantizedRole::dense;
      plan.stages[plan.count++] = stage;
      i = next;
    } else if (role == QuantizedRole::max_pool) {
      if (seen_dense) fail(PlanError::image_stage_after_dense);
      plan.stages[plan.count++] = StagePlan{role, i, i};
      ++i;
    } else if (role == QuantizedRole::dropout || role == QuantizedRole::identity) {
      ++i;
    } else {
      fail(role == QuantizedRole::batch_norm         ? PlanError::lonely_batch_norm
           : role == QuantizedRole::relu             ? PlanError::lonely_activation
           : role == QuantizedRole::other_activation ? PlanError::unsupported_activation
                                                     : PlanError::unsupported_layer);
      ++i;
    }
  }
  if (plan.error == PlanError::none && (plan.count == 0 || plan.stages[plan.count - 1].kind != QuantizedRole::dense))
    fail(PlanError::not_ending_in_dense);
  return plan;
}

template <class NetType>
struct quantization_plan {
  static constexpr std::size_t layers = NetType::layer_count;
  static constexpr auto value = []<std::size_t... I>(std::index_sequence<I...>) {
    return make_plan<layers>({quantized_role<typename NetType::template layer_type<I>>()...},
                             {own_activation<typename NetType::template layer_type<I>>()...},
                             {fusable_pool_window<typename NetType::template layer_type<I>>()...});
  }
  (std::make_index_sequence<layers>{});
};

// The stage type of one plan entry; a placeholder when the plan is invalid, so that the
// QuantizedNet's assertion stays the only error.
template <class NetType, StagePlan Stage, bool Last>
constexpr auto stage_type_of() {
  using L = typename NetType::template layer_type<Stage.first>;
  if constexpr (Stage.kind == QuantizedRole::conv)
    return std::type_identity<QuantizedConv<L::geometry, Stage.relu, Stage.pool>>{};
  else if constexpr (Stage.kind == QuantizedRole::max_pool)
    return std::type_identity<QuantizedMaxPool<L::geometry>>{};
  else
    return std::type_identity<QuantizedDense<
        typename L::in_shape, (Stage.kind == QuantizedRole::dense ? L::out_shape::size : 1), Stage.relu, Last>>{};
}

template <class NetType, class Indices>
struct quantized_stages;
template <class NetType, std::size_t... S>
struct quantized_stages<NetType, std::index_sequence<S...>> {
  static constexpr auto plan = quantization_plan<NetType>::value;
  using type = std::tuple<typename decltype(stage_type_of<NetType, plan.stages[S], S + 1 == plan.count>())::type...>;
};

constexpr std::size_t round_up_64(std::size_t bytes) noexcept { return (bytes + 63) / 64 * 64; }

}  // namespace detail

template <class NetType>
class QuantizedNet {
  static constexpr auto plan = detail::quantization_plan<NetType>::value;
  static_assert(plan.error != detail::PlanError::unsupported_layer,
                "QuantizedNet: int8 inference takes Conv, Dense, BatchNorm, ReLU, MaxPool and Dropout layers only");
  static_assert(plan.error != detail::PlanError::unsupported_activation,
                "QuantizedNet: int8 inference takes ReLU (or no) activations only");
  static_assert(plan.error != detail::PlanError::lonely_batch_norm,
                "QuantizedNet: a BatchNorm must directly follow a Conv or a Dense, to be folded into it");
  static_assert(plan.error != detail::PlanError::lonely_activation,
                "QuantizedNet: a ReLU must follow a Conv or a Dense (or its BatchNorm), to be fused into it");
  static_assert(plan.error != detail::PlanError::not_ending_in_dense,
                "QuantizedNet: the network must end with a Dense layer, which gives the float logits");
  static_assert(plan.error != detail::PlanError::image_stage_after_dense,
                "QuantizedNet: Conv and MaxPool layers must come before every Dense layer");

 public:
  using float_net = NetType;
  using in_shape = typename NetType::in_shape;
  using out_shape = typename NetType::out_shape;
  static constexpr std::size_t classes = NetType::classes;
  static constexpr std::size_t stage_count = plan.count;
  using stages = typename detail::quantized_stages<NetType, std::make_index_sequence<stage_count>>::type;
  template <std::size_t S>
  using stage_type = std::tuple_element_t<S, stages>;
  // The float layers stage S was made from, and whether it folded a BatchNorm and applies ReLU.
  static constexpr std::size_t first_layer(std::size_t stage) noexcept { return plan.stages[stage].first; }
  static constexpr std::size_t last_layer(std::size_t stage) noexcept { return plan.stages[stage].last; }
  // Images a thread runs through the Dense stages at once.
  static constexpr std::size_t chunk_capacity = 32;

  QuantizedNet() : stages_(std::make_unique<stages>()) {}
  QuantizedNet(const QuantizedNet& other) : stages_(std::make_unique<stages>(*other.stages_)), input_(other.input_) {}
  QuantizedNet& operator=(const QuantizedNet& other) {
    *stages_ = *other.stages_;
    input_ = other.input_;
    return *this;
  }
  QuantizedNet(QuantizedNet&&) noexcept = default;
  QuantizedNet& operator=(QuantizedNet&&) noexcept = default;

  // The input's quantization and the stages' tensors, as quantize() or a model file sets them;
  // call prepare() after changing them.
  ActivationQuantization& input_quantization() noexcept { return input_; }
  const ActivationQuantization& input_quantization() const noexcept { return input_; }
  template <std::size_t S>
  stage_type<S>& stage() noexcept {
    return std::get<S>(*stages_);
  }
  template <std::size_t S>
  const stage_type<S>& stage() const noexcept {
    return std::get<S>(*stages_);
  }

  // Chains each stage's input quantization to the previous one's output and derives the packed
  // weights and requantization constants of every stage.
  void prepare() {
    ActivationQuantization current = input_;
    [&]<std::size_t... S>(std::index_sequence<S...>) {
      (
          [&](auto& stage) {
            stage.input = current;
            if constexpr (requires { stage.weight; })
              current = stage.output;
            else
              stage.output = current;  // max pooling keeps the codes' meaning
            stage.prepare();
          }(std::get<S>(*stages_)),
          ...);
    }
    (std::make_index_sequence<stage_count>{});
  }

  // "Conv<32, 3> + BatchNorm + ReLU": the float layers stage S was made from.
  static std::string stage_label(std::size_t stage) {
    std::string text;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I >= first_layer(stage) && I <= last_layer(stage)
            ? void(text += (text.empty() ? "" : " + ") + NetType::template layer_type<I>::label())
            : void()),
       ...);
    }
    (std::make_index_sequence<NetType::layer_count>{});
    return text;
  }

  // Logits of xs.size() images into ys (at least as many). Arch and Vnni choose the kernels'
  // instruction set (the defaults: the compiler's best, with VNNI where it targets it).
  template <class Arch = xsimd::default_arch, bool Vnni = kernels::has_vnni<Arch>>
  void forward(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const {
    if (ys.size() < xs.size())
      throw std::invalid_argument("QuantizedNet::forward: " + std::to_string(xs.size()) + " images but room for " +
                                  std::to_string(ys.size()) + " outputs");
    const std::size_t count = xs.size();
    if (count == 0) return;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    // Whole chunks for every thread: the split changes no result, only the balance.
    const std::size_t per_thread = static_cast<std::size_t>(threads);
    std::size_t chunks = (count + chunk_capacity - 1) / chunk_capacity;
    chunks = std::min(count, (chunks + per_thread - 1) / per_thread * per_thread);
#pragma omp parallel for schedule(static)
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
      const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
      if (first < last) forward_chunk<Arch, Vnni>(xs.subspan(first, last - first), ys.subspan(first, last - first));
    }
  }

  // One image's logits, into the net's own buffer (not for concurrent use).
  const tensor_of<out_shape>& forward(const tensor_of<in_shape>& x) {
    if (!single_output_) single_output_ = std::make_unique<tensor_of<out_shape>>();
    forward(std::span(&x, 1), std::span(single_output_.get(), 1));
    return *single_output_;
  }
  std::size_t predict(const tensor_of<in_shape>& x) {
    const auto& logits = forward(x);
    return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + classes) - logits.data());
  }

 private:
  static constexpr std::size_t first_dense = [] {
    std::size_t s = 0;
    while (s < plan.count && plan.stages[s].kind != detail::QuantizedRole::dense) ++s;
    return s;
  }();

  // Code buffers at the stage boundaries: boundary b is stage b's input; those that feed a Dense
  // stage hold a row per image of the chunk, the others one image.
  template <std::size_t B>
  static constexpr std::size_t boundary_bytes() noexcept {
    if constexpr (B == 0)
      return in_shape::size;
    else
      return stage_type<B - 1>::out_bytes;
  }
  template <std::size_t B>
  static constexpr std::size_t row_stride = detail::round_up_64(boundary_bytes<B>());
  template <std::size_t B>
  static constexpr std::size_t boundary_rows = B >= first_dense ? chunk_capacity : 1;
  static constexpr auto boundary_offsets = []<std::size_t... B>(std::index_sequence<B...>) {
    const std::array<std::size_t, stage_count + 1> sizes{(row_stride<B> * boundary_rows<B>)...};
    std::array<std::size_t, stage_count + 1> offsets{};
    for (std::size_t b = 1; b <= stage_count; ++b) offsets[b] = offsets[b - 1] + sizes[b - 1];
    return offsets;
  }
  (std::make_index_sequence<stage_count + 1>{});
  template <std::size_t B>
  static constexpr std::size_t boundary_offset = boundary_offsets[B];
  static constexpr std::size_t rows_offset = boundary_offset<stage_count>;
  static constexpr std::size_t scratch_size = rows_offset + [] {
    std::size_t most = 0;
    [&]<std::size_t... S>(std::index_sequence<S...>) { ((most = std::max(most, stage_type<S>::scratch_bytes)), ...); }
    (std::make_index_sequence<stage_count>{});
    return most;
  }();

  // On the heap, made on a thread's first use, zeroed once: the bytes past each row's codes
  // (read as the last group of 4 of a Dense's input) stay 0.
  static std::uint8_t* thread_scratch() {
    struct alignas(64) Scratch : std::array<std::uint8_t, scratch_size> {};
    static thread_local std::unique_ptr<Scratch> scratch;
    if (!scratch) scratch = std::make_unique<Scratch>();
    return scratch->data();
  }

  template <class Arch, bool Vnni>
  void forward_chunk(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const {
    std::uint8_t* scratch = thread_scratch();
    const auto boundary = [scratch]<std::size_t B>(std::integral_constant<std::size_t, B>, std::size_t row) {
      return scratch + boundary_offset<B> + (B >= first_dense ? row : 0) * row_stride<B>;
    };
    for (std::size_t b = 0; b < xs.size(); ++b) {
      kernels::quantize_image<Arch>(in_shape::channels, in_shape::height * in_shape::width, xs[b].data(), input_.scale,
                                    input_.zero_point, boundary(std::integral_constant<std::size_t, 0>{}, b));
      [&]<std::size_t... S>(std::index_sequence<S...>) {
        (std::get<S>(*stages_).template forward<Arch, Vnni>(boundary(std::integral_constant<std::size_t, S>{}, b),
                                                            boundary(std::integral_constant<std::size_t, S + 1>{}, b),
                                                            scratch + rows_offset),
         ...);
      }
      (std::make_index_sequence<first_dense>{});
    }
    [&]<std::size_t... D>(std::index_sequence<D...>) {
      (
          [&]<std::size_t S>(std::integral_constant<std::size_t, S>) {
            const std::uint8_t* x = boundary(std::integral_constant<std::size_t, S>{}, 0);
            if constexpr (S + 1 == stage_count)
              std::get<S>(*stages_).template forward<Arch, Vnni>(xs.size(), x, row_stride<S>, ys.front().data(),
                                                                 sizeof(tensor_of<out_shape>) / sizeof(float));
            else
              std::get<S>(*stages_).template forward<Arch, Vnni>(
                  xs.size(), x, row_stride<S>, boundary(std::integral_constant<std::size_t, S + 1>{}, 0),
                  row_stride<S + 1>);
          }(std::integral_constant<std::size_t, first_dense + D>{}),
          ...);
    }
    (std::make_index_sequence<stage_count - first_dense>{});
  }

  std::unique_ptr<stages> stages_;
  ActivationQuantization input_;
  std::unique_ptr<tensor_of<out_shape>> single_output_;
};

// The int8 version of `net`, with activation scales from `ranges` (calibrate(), one range per
// layer boundary: layer_count + 1 of them) and per-channel weight scales. Throws
// std::invalid_argument when the ranges do not fit the net.
template <class NetType>
QuantizedNet<NetType> quantize(const NetType& net, std::span<const ActivationRange> ranges) {
  if (ranges.size() != NetType::layer_count + 1)
    throw std::invalid_argument("quantize: " + std::to_string(ranges.size()) + " calibration ranges for a network of " +
                                std::to_string(NetType::layer_count) + " layers (expected " +
                                std::to_string(NetType::layer_count + 1) + ")");
  using Quantized = QuantizedNet<NetType>;
  constexpr auto plan = detail::quantization_plan<NetType>::value;
  Quantized result;
  result.input_quantization() = activation_quantization(ranges[0]);
  ActivationQuantization current = result.input_quantization();
  const auto quantize_stage = [&]<std::size_t S>(std::integral_constant<std::size_t, S>) {
    constexpr detail::StagePlan stage_plan = plan.stages[S];
    auto& stage = result.template stage<S>();
    using Stage = std::remove_reference_t<decltype(stage)>;
    stage.input = current;
    if constexpr (stage_plan.kind == detail::QuantizedRole::max_pool) {
      stage.output = current;
    } else {
      using Layer = typename NetType::template layer_type<stage_plan.first>;
      const auto layer = std::make_unique<Layer>(net.template layer<stage_plan.first>());
      if constexpr (stage_plan.has_norm()) fold_batch_norm(*layer, net.template layer<stage_plan.norm>());
      if constexpr (!Stage::float_output) stage.output = activation_quantization(ranges[stage_plan.last + 1]);
      constexpr std::size_t outputs = decltype(layer->bias)::size, row = decltype(layer->weight)::size / outputs;
      for (std::size_t f = 0; f < outputs; ++f) {
        const float bias = layer->bias[f];
        const float min_scale = std::fabs(bias) / (current.scale * max_bias_code);
        stage.weight_scale[f] =
            quantize_weight_row(std::span<const float>(layer->weight.data() + f * row, row), min_scale,
                                std::span<std::int8_t>(stage.weight.data() + f * row, row));
        stage.bias[f] = quantize_bias(bias, current.scale, stage.weight_scale[f]);
      }
      current = stage.output;
    }
  };
  [&]<std::size_t... S>(std::index_sequence<S...>) { (quantize_stage(std::integral_constant<std::size_t, S>{}), ...); }
  (std::make_index_sequence<Quantized::stage_count>{});
  result.prepare();
  return result;
}

}  // namespace ctnn
