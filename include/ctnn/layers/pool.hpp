// MaxPool<Window, Stride> and AvgPool<Window, Stride>: pooling over Window x Window squares with
// no padding; Stride defaults to Window (non-overlapping). The window must fit and the stride must
// tile the input exactly, so no row or column is silently dropped. Arithmetic: kernels/pool.hpp.
// Both are monotone in every input, so interval bounds pool the lower and the upper bounds.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/pool.hpp>

namespace ctnn {

namespace detail {
// What both pools share once bound: shapes, geometry and no parameters. Safe when the window
// does not fit, so that the layer's own assertion stays the only error.
template <std::size_t Window, std::size_t Stride, class In>
struct PoolLayer {
  static constexpr bool fits = Window > 0 && Stride > 0 && Window <= In::height&& Window <= In::width;
  static constexpr bool tiles = !fits || ((In::height - Window) % Stride == 0 && (In::width - Window) % Stride == 0);
  static constexpr kernels::PoolGeometry geometry{In::channels, In::height, In::width, fits ? Window : 1,
                                                  Stride > 0 ? Stride : 1};
  using in_shape = In;
  using out_shape = Shape<In::channels, geometry.out_height(), geometry.out_width()>;
  static constexpr std::size_t param_count = 0;

  static std::string label(std::string_view name) {
    return std::string(name) + "<" + std::to_string(Window) + (Stride != Window ? ", " + std::to_string(Stride) : "") +
           ">";
  }
  void init(Rng&) noexcept {}
  std::tuple<> parameters() noexcept { return {}; }
  std::tuple<> parameters() const noexcept { return {}; }
};
}  // namespace detail

template <std::size_t Window, std::size_t Stride = Window>
struct MaxPool {
  static constexpr std::string_view name = "MaxPool";

  template <class In>
  struct bind : detail::PoolLayer<Window, Stride, In> {
    using base = detail::PoolLayer<Window, Stride, In>;
    static_assert(Window > 0 && Stride > 0, "MaxPool: the window and the stride must be positive");
    static_assert(Window <= In::height && Window <= In::width, "MaxPool: the window must fit inside the input image");
    static_assert(base::tiles, "MaxPool: the stride must tile the input height and width exactly");
    using typename base::in_shape;
    using typename base::out_shape;

    static constexpr std::size_t flops = 0;  // comparisons only
    static std::string label() { return base::label(name); }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      kernels::max_pool_forward(kernels::fixed<base::geometry>, x.data(), y.data());
    }
    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind&) const noexcept {
      if (dx) kernels::max_pool_backward(kernels::fixed<base::geometry>, x.data(), y.data(), dy.data(), dx->data());
    }

    // Interval bounds of a chunk of images: the max of the lower bounds, the max of the upper ones.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      for (std::size_t i = 0; i < lower.size(); ++i) {
        kernels::max_pool_forward(kernels::fixed<base::geometry>, lower[i].data(), out_lower[i].data());
        kernels::max_pool_forward(kernels::fixed<base::geometry>, upper[i].data(), out_upper[i].data());
      }
    }
    // Each bound's gradient goes to the input bound that won its window.
    void backward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                           std::span<const tensor_of<out_shape>> out_lower,
                           std::span<const tensor_of<out_shape>> out_upper, std::span<tensor_of<out_shape>> d_lower,
                           std::span<tensor_of<out_shape>> d_upper, std::span<tensor_of<in_shape>> dx_lower,
                           std::span<tensor_of<in_shape>> dx_upper, bind&) const noexcept {
      if (dx_lower.empty()) return;
      for (std::size_t i = 0; i < lower.size(); ++i) {
        kernels::max_pool_backward(kernels::fixed<base::geometry>, lower[i].data(), out_lower[i].data(),
                                   d_lower[i].data(), dx_lower[i].data());
        kernels::max_pool_backward(kernels::fixed<base::geometry>, upper[i].data(), out_upper[i].data(),
                                   d_upper[i].data(), dx_upper[i].data());
      }
    }
  };
};

template <std::size_t Window, std::size_t Stride = Window>
struct AvgPool {
  static constexpr std::string_view name = "AvgPool";

  template <class In>
  struct bind : detail::PoolLayer<Window, Stride, In> {
    using base = detail::PoolLayer<Window, Stride, In>;
    static_assert(Window > 0 && Stride > 0, "AvgPool: the window and the stride must be positive");
    static_assert(Window <= In::height && Window <= In::width, "AvgPool: the window must fit inside the input image");
    static_assert(base::tiles, "AvgPool: the stride must tile the input height and width exactly");
    using typename base::in_shape;
    using typename base::out_shape;

    static constexpr std::size_t flops = 2 * out_shape::size * Window * Window;  // a scaled add per window entry
    static std::string label() { return base::label(name); }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      kernels::avg_pool_forward(kernels::fixed<base::geometry>, x.data(), y.data());
    }
    void backward(const tensor_of<in_shape>&, const tensor_of<out_shape>&, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind&) const noexcept {
      if (dx) kernels::avg_pool_backward(kernels::fixed<base::geometry>, dy.data(), dx->data());
    }

    // Interval bounds of a chunk of images: averages of non-negative weights keep the order.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      for (std::size_t i = 0; i < lower.size(); ++i) {
        kernels::avg_pool_forward(kernels::fixed<base::geometry>, lower[i].data(), out_lower[i].data());
        kernels::avg_pool_forward(kernels::fixed<base::geometry>, upper[i].data(), out_upper[i].data());
      }
    }
    void backward_interval(std::span<const tensor_of<in_shape>>, std::span<const tensor_of<in_shape>>,
                           std::span<const tensor_of<out_shape>>, std::span<const tensor_of<out_shape>>,
                           std::span<tensor_of<out_shape>> d_lower, std::span<tensor_of<out_shape>> d_upper,
                           std::span<tensor_of<in_shape>> dx_lower, std::span<tensor_of<in_shape>> dx_upper,
                           bind&) const noexcept {
      if (dx_lower.empty()) return;
      for (std::size_t i = 0; i < d_lower.size(); ++i) {
        kernels::avg_pool_backward(kernels::fixed<base::geometry>, d_lower[i].data(), dx_lower[i].data());
        kernels::avg_pool_backward(kernels::fixed<base::geometry>, d_upper[i].data(), dx_upper[i].data());
      }
    }
  };
};

}  // namespace ctnn
