// Activations: Identity, ReLU, LeakyReLU<Slope>, Tanh and Sigmoid. Each is a layer spec of its
// own (same output shape as input) and also the Activation parameter of Conv and Dense, which
// apply it in place on their output. Derivatives are taken from the output y (kernels/activation.hpp).
// Every activation is monotone (non-decreasing), so the interval bounds of f(x) over a box are
// f(lower) and f(upper).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/activation.hpp>

namespace ctnn {

namespace detail {
// The layer form of an activation: y = f(x), dx = f'(y) * dy.
template <class Activation, class In>
struct ActivationLayer {
  using in_shape = In;
  using out_shape = In;
  static constexpr std::size_t param_count = 0;
  static constexpr std::size_t flops = 0;
  static std::string label() { return std::string(Activation::name); }

  void init(Rng&) noexcept {}
  std::tuple<> parameters() noexcept { return {}; }
  std::tuple<> parameters() const noexcept { return {}; }

  void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
    Activation::apply(In::size, x.data(), y.data());
  }
  void backward(const tensor_of<in_shape>&, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                tensor_of<in_shape>* dx, ActivationLayer&) const noexcept {
    if (dx) Activation::derivative(In::size, y.data(), dy.data(), dx->data());
  }

  // Interval bounds of a chunk of images: [f(lower), f(upper)].
  void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                        std::span<tensor_of<out_shape>> out_lower,
                        std::span<tensor_of<out_shape>> out_upper) const noexcept {
    for (std::size_t i = 0; i < lower.size(); ++i) {
      Activation::apply(In::size, lower[i].data(), out_lower[i].data());
      Activation::apply(In::size, upper[i].data(), out_upper[i].data());
    }
  }
  // Differentiates forward_interval: each bound through f' at that bound.
  void backward_interval(std::span<const tensor_of<in_shape>>, std::span<const tensor_of<in_shape>>,
                         std::span<const tensor_of<out_shape>> out_lower,
                         std::span<const tensor_of<out_shape>> out_upper, std::span<tensor_of<out_shape>> d_lower,
                         std::span<tensor_of<out_shape>> d_upper, std::span<tensor_of<in_shape>> dx_lower,
                         std::span<tensor_of<in_shape>> dx_upper, ActivationLayer&) const noexcept {
    if (dx_lower.empty()) return;
    for (std::size_t i = 0; i < out_lower.size(); ++i) {
      Activation::derivative(In::size, out_lower[i].data(), d_lower[i].data(), dx_lower[i].data());
      Activation::derivative(In::size, out_upper[i].data(), d_upper[i].data(), dx_upper[i].data());
    }
  }
};
}  // namespace detail

struct Identity {
  static constexpr std::string_view name = "Identity";
  static constexpr bool is_activation = true;
  static void apply(std::size_t n, const float* x, float* y) noexcept {
    if (x != y) std::copy_n(x, n, y);
  }
  static void derivative(std::size_t n, const float*, const float* dy, float* dx) noexcept {
    if (dy != dx) std::copy_n(dy, n, dx);
  }
  template <class In>
  using bind = detail::ActivationLayer<Identity, In>;
};

struct ReLU {
  static constexpr std::string_view name = "ReLU";
  static constexpr bool is_activation = true;
  static void apply(std::size_t n, const float* x, float* y) noexcept { kernels::relu_forward(n, x, y); }
  static void derivative(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
    kernels::relu_backward(n, y, dy, dx);
  }
  template <class In>
  using bind = detail::ActivationLayer<ReLU, In>;
};

// f(x) = x for x > 0, Slope * x otherwise (Maas et al. 2013); Slope is a std::ratio.
template <class Slope = std::ratio<1, 100>>
struct LeakyReLU {
  static_assert(Slope::num >= 0 && Slope::num < Slope::den, "LeakyReLU: the slope must be in [0, 1)");
  static constexpr std::string_view name = "LeakyReLU";
  static constexpr bool is_activation = true;
  static constexpr float slope = static_cast<float>(Slope::num) / static_cast<float>(Slope::den);
  static void apply(std::size_t n, const float* x, float* y) noexcept { kernels::leaky_relu_forward(n, slope, x, y); }
  static void derivative(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
    kernels::leaky_relu_backward(n, slope, y, dy, dx);
  }
  template <class In>
  using bind = detail::ActivationLayer<LeakyReLU, In>;
};

struct Tanh {
  static constexpr std::string_view name = "Tanh";
  static constexpr bool is_activation = true;
  static void apply(std::size_t n, const float* x, float* y) noexcept { kernels::tanh_forward(n, x, y); }
  static void derivative(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
    kernels::tanh_backward(n, y, dy, dx);
  }
  template <class In>
  using bind = detail::ActivationLayer<Tanh, In>;
};

struct Sigmoid {
  static constexpr std::string_view name = "Sigmoid";
  static constexpr bool is_activation = true;
  static void apply(std::size_t n, const float* x, float* y) noexcept { kernels::sigmoid_forward(n, x, y); }
  static void derivative(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
    kernels::sigmoid_backward(n, y, dy, dx);
  }
  template <class In>
  using bind = detail::ActivationLayer<Sigmoid, In>;
};

template <class Spec>
concept ActivationSpec = requires {
  requires Spec::is_activation;
};

// A layer's activation once Net has resolved Auto; a layer bound by hand treats Auto as Identity.
template <class Activation>
using resolved_activation = std::conditional_t<std::is_same_v<Activation, Auto>, Identity, Activation>;

// " + ReLU" after a layer's label, nothing for Identity.
template <class Activation>
std::string activation_suffix() {
  using Resolved = resolved_activation<Activation>;
  if constexpr (std::is_same_v<Resolved, Identity>)
    return "";
  else
    return " + " + std::string(Resolved::name);
}

// Glorot & Bengio (2010) keep the variance of saturating units; He et al. (2015) double it
// for rectifiers, whose half of the inputs are zero.
template <class Activation>
float initial_weight_stddev(std::size_t fan_in, std::size_t fan_out) noexcept {
  using Resolved = resolved_activation<Activation>;
  constexpr bool rectifier = std::is_same_v<Resolved, ReLU> || requires { Resolved::slope; };
  return rectifier ? std::sqrt(2.0f / static_cast<float>(fan_in))
                   : std::sqrt(2.0f / static_cast<float>(fan_in + fan_out));
}

}  // namespace ctnn
