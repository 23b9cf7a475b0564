// Conv<Filters, Kernel, Stride, Padding, Activation>: 2-D convolution of a (C,H,W) image with
// Filters kernels of Kernel x Kernel, then an optional activation applied in place on the output.
// `same` padding keeps H and W at stride 1 (odd kernels only). Arithmetic: kernels/conv2d.hpp,
// as an im2col matrix product. Interval bounds (IBP, kernels/interval.hpp) run the same
// products on the boxes' centres with W and on their radii with |W|.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/conv2d.hpp>
#include <ctnn/kernels/interval.hpp>
#include <ctnn/layers/activation.hpp>

namespace ctnn {

template <std::size_t Filters, std::size_t Kernel, std::size_t Stride = 1, Padding Pad = valid, class Activation = Auto>
struct Conv {
  static constexpr std::string_view name = "Conv";
  using activation = Activation;
  template <class Other>
  using with_activation = Conv<Filters, Kernel, Stride, Pad, Other>;

  template <class In>
  struct bind {
    static_assert(Filters > 0, "Conv: the number of filters must be positive");
    static_assert(Kernel > 0, "Conv: the kernel size must be positive");
    static_assert(Stride > 0, "Conv: the stride must be positive");
    static_assert(Pad == valid || Kernel % 2 == 1, "Conv: same padding needs an odd kernel size");
    static constexpr std::size_t padding = Pad == same ? Kernel / 2 : 0;
    static_assert(Kernel <= In::height + 2 * padding && Kernel <= In::width + 2 * padding,
                  "Conv: the kernel must fit inside the (padded) input image");

    // Safe even when an assertion above fails, so that it stays the only error.
    static constexpr bool fits = Kernel <= In::height + 2 * padding && Kernel <= In::width + 2 * padding && Stride > 0;
    static constexpr kernels::Conv2dGeometry geometry{
        In::channels, In::height, In::width, Filters, Kernel, Stride > 0 ? Stride : 1, padding};
    using in_shape = In;
    using out_shape = Shape<Filters, fits ? geometry.out_height() : 1, fits ? geometry.out_width() : 1>;
    using activation = resolved_activation<Activation>;
    static constexpr std::size_t param_count = Filters * (In::channels * Kernel * Kernel + 1);
    static constexpr std::size_t flops = 2 * out_shape::size * In::channels * Kernel * Kernel;

    static std::string label() {
      std::string text = "Conv<" + std::to_string(Filters) + ", " + std::to_string(Kernel);
      if (Stride != 1 || Pad != valid) text += ", " + std::to_string(Stride);
      if (Pad != valid) text += ", same";
      return text + ">" + activation_suffix<Activation>();
    }

    Tensor<Filters, In::channels, Kernel, Kernel> weight;
    Tensor<Filters> bias;

    void init(Rng& rng) noexcept {
      const float stddev = initial_weight_stddev<Activation>(In::channels * Kernel * Kernel, Filters * Kernel * Kernel);
      for (std::size_t i = 0; i < weight.size; ++i) weight[i] = rng.normal(0.0f, stddev);
      bias.fill(0.0f);
    }
    auto parameters() noexcept { return std::tie(weight, bias); }
    auto parameters() const noexcept { return std::tie(weight, bias); }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      kernels::conv2d_forward(kernels::fixed<geometry>, x.data(), weight.data(), bias.data(), y.data(), columns());
      activation::apply(out_shape::size, y.data(), y.data());
    }

    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind& grad) const noexcept {
      activation::derivative(out_shape::size, y.data(), dy.data(), dy.data());
      kernels::conv2d_backward_weights(kernels::fixed<geometry>, x.data(), dy.data(), grad.weight.data(),
                                       grad.bias.data(), columns());
      if (dx) kernels::conv2d_backward_data(kernels::fixed<geometry>, weight.data(), dy.data(), dx->data(), columns());
    }
    void backward_input(std::span<const tensor_of<in_shape>>, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs) const noexcept {
      for (std::size_t i = 0; i < ys.size(); ++i) {
        activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
        kernels::conv2d_backward_data(kernels::fixed<geometry>, weight.data(), dys[i].data(), dxs[i].data(), columns());
      }
    }

    // Interval bounds of a chunk of images: each box [lower, upper] maps to a box that holds the
    // output of every input inside it: centre W c + b, radius |W| r, then the activation (monotone)
    // on both bounds.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      auto& scratch = interval_scratch();
      kernels::abs_values(weight.size, weight.data(), scratch.abs_weight.data());
      for (std::size_t i = 0; i < lower.size(); ++i) {
        kernels::interval_centre_radius(in_shape::size, 0.5f, lower[i].data(), upper[i].data(), scratch.centre.data(),
                                        scratch.radius.data());
        kernels::conv2d_forward(kernels::fixed<geometry>, scratch.centre.data(), weight.data(), bias.data(),
                                out_lower[i].data(), columns());
        kernels::conv2d_forward(kernels::fixed<geometry>, scratch.radius.data(), scratch.abs_weight.data(),
                                scratch.zero_bias.data(), out_upper[i].data(), columns());
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
        kernels::interval_centre_radius(in_shape::size, 0.5f, lower[i].data(), upper[i].data(), scratch.centre.data(),
                                        scratch.radius.data());
        kernels::conv2d_backward_weights(kernels::fixed<geometry>, scratch.centre.data(), dl, grad.weight.data(),
                                         grad.bias.data(), columns());
        kernels::conv2d_backward_weights(kernels::fixed<geometry>, scratch.radius.data(), du,
                                         scratch.abs_weight_grad.data(), scratch.zero_bias_grad.data(), columns());
        if (dx_lower.empty()) continue;
        float* dxl = dx_lower[i].data();
        float* dxu = dx_upper[i].data();
        kernels::conv2d_backward_data(kernels::fixed<geometry>, weight.data(), dl, dxl, columns());
        kernels::conv2d_backward_data(kernels::fixed<geometry>, scratch.abs_weight.data(), du, dxu, columns());
        kernels::interval_lower_upper(in_shape::size, 0.5f, dxl, dxu, dxl, dxu);
      }
      kernels::add_abs_gradient(weight.size, weight.data(), scratch.abs_weight_grad.data(), grad.weight.data());
    }

   private:
    // The interval passes' scratch, one per thread like columns(): |W| and its gradient, one
    // box's centre and radius; the bias gradient of the radius pass is discarded.
    struct IntervalScratch {
      Tensor<Filters, In::channels, Kernel, Kernel> abs_weight, abs_weight_grad;
      tensor_of<in_shape> centre, radius;
      Tensor<Filters> zero_bias, zero_bias_grad;
    };
    // On the heap, made on first use: static thread-local storage would be reserved in every
    // thread of every program that instantiates the layer, bounds or not.
    static IntervalScratch& interval_scratch() noexcept {
      static thread_local std::unique_ptr<IntervalScratch> scratch;
      if (!scratch) scratch = std::make_unique<IntervalScratch>();
      return *scratch;
    }

    // The im2col matrix of one image (taps x output pixels): one per thread, sized at compile
    // time, so forward and backward allocate nothing and threads never share it. It is scratch:
    // nothing survives from one call to the next.
    static float* columns() noexcept {
      static thread_local Tensor<In::channels * Kernel * Kernel, out_shape::height * out_shape::width> buffer;
      return buffer.data();
    }
  };
};

}  // namespace ctnn
