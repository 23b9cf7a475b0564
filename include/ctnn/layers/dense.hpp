// Dense<Units, Activation>: fully connected layer. Any input shape is read as a flat vector of
// In::size values (the implicit flatten), so Dense may follow a convolution directly. The output
// is Shape<Units, 1, 1>. Arithmetic: kernels/dense.hpp. Interval bounds (IBP, kernels/interval.hpp)
// run the same products on the boxes' centres with W and on their radii with |W|; as the last
// layer, Dense also bounds the logit differences z_label - z_k directly (margin_bounds).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/dense.hpp>
#include <ctnn/kernels/interval.hpp>
#include <ctnn/layers/activation.hpp>

namespace ctnn {

template <std::size_t Units, class Activation = Auto>
struct Dense {
  static constexpr std::string_view name = "Dense";
  using activation = Activation;
  template <class Other>
  using with_activation = Dense<Units, Other>;

  template <class In>
  struct bind {
    static_assert(Units > 0, "Dense: the number of units must be positive");

    using in_shape = In;
    using out_shape = Shape<(Units > 0 ? Units : 1), 1, 1>;
    using activation = resolved_activation<Activation>;
    static constexpr std::size_t inputs = In::size;
    static constexpr std::size_t param_count = Units * (inputs + 1);
    static constexpr std::size_t flops = 2 * Units * inputs;

    static std::string label() { return "Dense<" + std::to_string(Units) + ">" + activation_suffix<Activation>(); }

    Tensor<out_shape::size, inputs> weight;  // row m holds the weights of unit m
    Tensor<out_shape::size> bias;

    void init(Rng& rng) noexcept {
      const float stddev = initial_weight_stddev<Activation>(inputs, Units);
      for (std::size_t i = 0; i < weight.size; ++i) weight[i] = rng.normal(0.0f, stddev);
      bias.fill(0.0f);
    }
    auto parameters() noexcept { return std::tie(weight, bias); }
    auto parameters() const noexcept { return std::tie(weight, bias); }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      forward_chunk(std::span(&x, 1), std::span(&y, 1));
    }
    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind& grad) const noexcept {
      backward_chunk(std::span(&x, 1), std::span(&y, 1), std::span(&dy, 1),
                     dx ? std::span(dx, 1) : std::span<tensor_of<in_shape>>(), grad);
    }

    // Several images at once, so each weight row is read from memory once for all of them.
    void forward_chunk(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const noexcept {
      kernels::dense_forward(batch(xs.size()), xs.front().data(), weight.data(), bias.data(), ys.front().data());
      for (auto& y : ys) activation::apply(out_shape::size, y.data(), y.data());
    }
    void backward_chunk(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs,
                        bind& grad) const noexcept {
      for (std::size_t i = 0; i < xs.size(); ++i)
        activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
      if (!dxs.empty())
        kernels::dense_backward_data(batch(xs.size()), weight.data(), dys.front().data(), dxs.front().data());
      kernels::dense_backward_weights(batch(xs.size()), xs.front().data(), dys.front().data(), grad.weight.data(),
                                      grad.bias.data());
    }
    void backward_input(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs) const noexcept {
      for (std::size_t i = 0; i < xs.size(); ++i)
        activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
      kernels::dense_backward_data(batch(xs.size()), weight.data(), dys.front().data(), dxs.front().data());
    }

    // Training takes the whole mini-batch, so that the weight gradient is one product over all
    // its images rather than one per chunk of images summed afterwards (a weight matrix per
    // chunk is more memory traffic than the product itself). Threads split the images for the
    // forward pass and the input gradient, and the units for the weight gradient: each gradient
    // element is summed over the images in order by one thread, whatever the thread count.
    void forward_batch(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const noexcept {
      const std::size_t count = xs.size();
#pragma omp parallel for schedule(static)
      for (std::size_t part = 0; part < parts; ++part) {
        const std::size_t first = part * count / parts, last = (part + 1) * count / parts;
        if (first < last) forward_chunk(xs.subspan(first, last - first), ys.subspan(first, last - first));
      }
    }
    void backward_batch(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs,
                        bind& grad) const noexcept {
      const std::size_t count = xs.size();
#pragma omp parallel for schedule(static)
      for (std::size_t part = 0; part < parts; ++part) {
        const std::size_t first = part * count / parts, last = (part + 1) * count / parts;
        for (std::size_t i = first; i < last; ++i)
          activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
        if (!dxs.empty() && first < last)
          kernels::dense_backward_data(batch(last - first), weight.data(), dys[first].data(), dxs[first].data());
      }
      constexpr std::size_t unit_blocks = (out_shape::size + units_per_block - 1) / units_per_block;
#pragma omp parallel for schedule(static)
      for (std::size_t block = 0; block < unit_blocks; ++block) {
        const std::size_t first = block * units_per_block;
        const std::size_t units = std::min(units_per_block, out_shape::size - first);
        kernels::DenseBatch slice = batch(count);
        slice.outputs = units;
        kernels::dense_backward_weights(slice, xs.front().data(), dys.front().data() + first,
                                        grad.weight.data() + first * inputs, grad.bias.data() + first);
      }
    }

    // Interval bounds of a chunk of images: each box [lower, upper] maps to a box that holds the
    // output of every input inside it: centre W c + b, radius |W| r, then the activation (monotone)
    // on both bounds. Blocks of images share each weight row, as forward_chunk does.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      auto& scratch = interval_scratch();
      kernels::abs_values(weight.size, weight.data(), scratch.abs_weight.data());
      for (std::size_t first = 0; first < lower.size(); first += interval_block) {
        const std::size_t count = std::min(interval_block, lower.size() - first);
        for (std::size_t i = 0; i < count; ++i)
          kernels::interval_centre_radius(inputs, 0.5f, lower[first + i].data(), upper[first + i].data(),
                                          scratch.centre[i].data(), scratch.radius[i].data());
        kernels::dense_forward(batch(count), scratch.centre[0].data(), weight.data(), bias.data(),
                               out_lower[first].data());
        kernels::dense_forward(batch(count), scratch.radius[0].data(), scratch.abs_weight.data(),
                               scratch.zero_bias.data(), out_upper[first].data());
      }
      for (std::size_t i = 0; i < lower.size(); ++i) {
        kernels::interval_lower_upper(out_shape::size, 1.0f, out_lower[i].data(), out_upper[i].data(),
                                      out_lower[i].data(), out_upper[i].data());
        activation::apply(out_shape::size, out_lower[i].data(), out_lower[i].data());
        activation::apply(out_shape::size, out_upper[i].data(), out_upper[i].data());
      }
    }

    // Differentiates forward_interval. d_lower and d_upper hold dLoss/d(output bounds) and are
    // scratch; dx_lower and dx_upper (unless empty) are overwritten; grad is accumulated into.
    void backward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                           std::span<const tensor_of<out_shape>> out_lower,
                           std::span<const tensor_of<out_shape>> out_upper, std::span<tensor_of<out_shape>> d_lower,
                           std::span<tensor_of<out_shape>> d_upper, std::span<tensor_of<in_shape>> dx_lower,
                           std::span<tensor_of<in_shape>> dx_upper, bind& grad) const noexcept {
      auto& scratch = interval_scratch();
      kernels::abs_values(weight.size, weight.data(), scratch.abs_weight.data());
      scratch.abs_weight_grad.fill(0.0f);
      for (std::size_t i = 0; i < lower.size(); ++i) {
        float* dl = d_lower[i].data();
        float* du = d_upper[i].data();
        activation::derivative(out_shape::size, out_lower[i].data(), dl, dl);
        activation::derivative(out_shape::size, out_upper[i].data(), du, du);
        kernels::interval_centre_radius(out_shape::size, 1.0f, dl, du, dl, du);  // now d centre, d radius
      }
      for (std::size_t first = 0; first < lower.size(); first += interval_block) {
        const std::size_t count = std::min(interval_block, lower.size() - first);
        for (std::size_t i = 0; i < count; ++i)
          kernels::interval_centre_radius(inputs, 0.5f, lower[first + i].data(), upper[first + i].data(),
                                          scratch.centre[i].data(), scratch.radius[i].data());
        kernels::dense_backward_weights(batch(count), scratch.centre[0].data(), d_lower[first].data(),
                                        grad.weight.data(), grad.bias.data());
        kernels::dense_backward_weights(batch(count), scratch.radius[0].data(), d_upper[first].data(),
                                        scratch.abs_weight_grad.data(), scratch.zero_bias_grad.data());
        if (dx_lower.empty()) continue;
        kernels::dense_backward_data(batch(count), weight.data(), d_lower[first].data(), dx_lower[first].data());
        kernels::dense_backward_data(batch(count), scratch.abs_weight.data(), d_upper[first].data(),
                                     dx_upper[first].data());
        for (std::size_t i = first; i < first + count; ++i)
          kernels::interval_lower_upper(inputs, 0.5f, dx_lower[i].data(), dx_upper[i].data(), dx_lower[i].data(),
                                        dx_upper[i].data());
      }
      kernels::add_abs_gradient(weight.size, weight.data(), scratch.abs_weight_grad.data(), grad.weight.data());
    }

    // The specification folded into a linear (logit) layer (Gowal et al. 2018, section 3): on the
    // box [lower, upper] of the input, margin[k] is a lower bound of z_label - z_k through the
    // row difference W_label - W_k (margin[label] = 0), tighter than subtracting logit bounds.
    // The image is certified when every other margin is positive.
    void margin_bounds(const tensor_of<in_shape>& lower, const tensor_of<in_shape>& upper, std::size_t label,
                       tensor_of<out_shape>& margin) const noexcept requires std::is_same_v<activation, Identity> {
      kernels::margin_bounds(inputs, out_shape::size, weight.data(), bias.data(), lower.data(), upper.data(), label,
                             margin.data());
    }
    // Differentiates margin_bounds given d_margin = dLoss/dmargin: dx_lower and dx_upper are
    // overwritten unless null; grad is accumulated into.
    void margin_bounds_backward(const tensor_of<in_shape>& lower, const tensor_of<in_shape>& upper, std::size_t label,
                                const tensor_of<out_shape>& d_margin, tensor_of<in_shape>* dx_lower,
                                tensor_of<in_shape>* dx_upper,
                                bind& grad) const noexcept requires std::is_same_v<activation, Identity> {
      kernels::margin_bounds_backward(inputs, out_shape::size, weight.data(), lower.data(), upper.data(), label,
                                      d_margin.data(), grad.weight.data(), grad.bias.data(),
                                      dx_lower ? dx_lower->data() : nullptr, dx_upper ? dx_upper->data() : nullptr);
    }

   private:
    // The interval passes' scratch, one per thread (as Conv's im2col matrix): |W| and its
    // gradient, and the centres and radii of a block of boxes; the bias gradient of the radius
    // pass is discarded.
    static constexpr std::size_t interval_block = 8;
    struct IntervalScratch {
      Tensor<out_shape::size, inputs> abs_weight, abs_weight_grad;
      std::array<tensor_of<in_shape>, interval_block> centre, radius;
      Tensor<out_shape::size> zero_bias, zero_bias_grad;
    };
    // On the heap, made on first use: static thread-local storage would be reserved in every
    // thread of every program that instantiates the layer, bounds or not.
    static IntervalScratch& interval_scratch() noexcept {
      static thread_local std::unique_ptr<IntervalScratch> scratch;
      if (!scratch) scratch = std::make_unique<IntervalScratch>();
      return *scratch;
    }

    static constexpr std::size_t parts = 8;             // image ranges of forward_batch / backward_batch
    static constexpr std::size_t units_per_block = 16;  // rows of the weight gradient per task
    // Consecutive tensors of an array are whole cache lines apart: their stride in floats.
    static constexpr kernels::DenseBatch batch(std::size_t count) noexcept {
      return {inputs, out_shape::size, count, sizeof(tensor_of<in_shape>) / sizeof(float),
              sizeof(tensor_of<out_shape>) / sizeof(float)};
    }
  };
};

}  // namespace ctnn
