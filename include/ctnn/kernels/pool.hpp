// Max and average pooling of one image, no padding. x is (C,H,W), y is (C,OH,OW) with
// OH = (H - window) / S + 1. Windows may overlap (S < window). The SIMD versions work on a run
// of output columns at once, gathering the input column ow*S + j of each lane.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

#include <ctnn/kernels/fixed.hpp>
#include <ctnn/kernels/vector.hpp>

namespace ctnn::kernels {

struct PoolGeometry {
  std::size_t channels, height, width;  // input
  std::size_t window, stride;

  constexpr std::size_t out_height() const noexcept { return (height - window) / stride + 1; }
  constexpr std::size_t out_width() const noexcept { return (width - window) / stride + 1; }
};

// PoolGeometry's members as constants (kernels/fixed.hpp).
template <PoolGeometry G>
struct Fixed<G, PoolGeometry> {
  static constexpr std::size_t channels = G.channels, height = G.height, width = G.width;
  static constexpr std::size_t window = G.window, stride = G.stride;
  static constexpr std::size_t out_height() noexcept { return G.out_height(); }
  static constexpr std::size_t out_width() noexcept { return G.out_width(); }
};

// y[c,oh,ow] = max_{i,j} x[c, oh*S+i, ow*S+j]
inline void max_pool_forward_reference(const PoolGeometry& g, const float* x, float* y) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            best = std::max(best, x[(c * g.height + oh * g.stride + i) * g.width + ow * g.stride + j]);
        y[(c * out_h + oh) * out_w + ow] = best;
      }
}

namespace detail {
template <class Arch>
xsimd::batch<std::int32_t, Arch> strided_lanes(std::size_t stride) noexcept {
  using index_batch = xsimd::batch<std::int32_t, Arch>;
  alignas(64) std::int32_t lanes[index_batch::size];
  for (std::size_t lane = 0; lane < index_batch::size; ++lane) lanes[lane] = static_cast<std::int32_t>(lane * stride);
  return index_batch::load_aligned(lanes);
}
}  // namespace detail

template <class Arch = xsimd::default_arch, class Geometry>
void max_pool_forward(const Geometry& g, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const auto index = detail::strided_lanes<Arch>(g.stride);
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh) {
      const float* x_top = x + (c * g.height + oh * g.stride) * g.width;
      float* y_row = y + (c * out_h + oh) * out_w;
      std::size_t ow = 0;
      for (const std::size_t whole = out_w - out_w % batch::size; ow < whole; ow += batch::size) {
        batch best(-std::numeric_limits<float>::infinity());
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            best = xsimd::max(best, batch::gather(x_top + i * g.width + ow * g.stride + j, index));
        best.store_unaligned(y_row + ow);
      }
      for (; ow < out_w; ++ow) {
        float best = -std::numeric_limits<float>::infinity();
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j) best = std::max(best, x_top[i * g.width + ow * g.stride + j]);
        y_row[ow] = best;
      }
    }
}

// Differentiates the max: each dy goes to the first position (row-major in the window) where x
// equals the forward output y, as PyTorch does; ties, such as windows of zeros after a ReLU,
// must not multiply the gradient. dx is overwritten.
inline void max_pool_backward_reference(const PoolGeometry& g, const float* x, const float* y, const float* dy,
                                        float* dx) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow) {
        const std::size_t out = (c * out_h + oh) * out_w + ow;
        bool routed = false;
        for (std::size_t i = 0; i < g.window && !routed; ++i)
          for (std::size_t j = 0; j < g.window && !routed; ++j) {
            const std::size_t in = (c * g.height + oh * g.stride + i) * g.width + ow * g.stride + j;
            if (x[in] == y[out]) {
              dx[in] += dy[out];
              routed = true;
            }
          }
      }
}

// Finds the first matching window position for a run of outputs with SIMD compares, then adds
// each lane's gradient with a scalar store (xsimd 8.1 has no scatter).
template <class Arch = xsimd::default_arch, class Geometry>
void max_pool_backward(const Geometry& g, const float* x, const float* y, const float* dy, float* dx) noexcept {
  using batch = xsimd::batch<float, Arch>;
  using mask = xsimd::batch_bool<float, Arch>;
  const auto index = detail::strided_lanes<Arch>(g.stride);
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  alignas(64) float offsets[batch::size];
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh) {
      const std::size_t top = (c * g.height + oh * g.stride) * g.width;
      const std::size_t out_row = (c * out_h + oh) * out_w;
      std::size_t ow = 0;
      for (const std::size_t whole = out_w - out_w % batch::size; ow < whole; ow += batch::size) {
        const batch best = batch::load_unaligned(y + out_row + ow);
        batch offset(0.0f);
        mask found(false);
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j) {
            const batch candidate = batch::gather(x + top + i * g.width + ow * g.stride + j, index);
            const mask hit = (candidate == best) && !found;
            offset = xsimd::select(hit, batch(static_cast<float>(i * g.width + j)), offset);
            found = found || hit;
          }
        offset.store_aligned(offsets);
        for (std::size_t lane = 0; lane < batch::size; ++lane)
          dx[top + (ow + lane) * g.stride + static_cast<std::size_t>(offsets[lane])] += dy[out_row + ow + lane];
      }
      for (; ow < out_w; ++ow) {
        bool routed = false;
        for (std::size_t i = 0; i < g.window && !routed; ++i)
          for (std::size_t j = 0; j < g.window && !routed; ++j) {
            const std::size_t in = top + i * g.width + ow * g.stride + j;
            if (x[in] == y[out_row + ow]) {
              dx[in] += dy[out_row + ow];
              routed = true;
            }
          }
      }
    }
}

// y[c,oh,ow] = (1 / window^2) sum_{i,j} x[c, oh*S+i, ow*S+j]
inline void avg_pool_forward_reference(const PoolGeometry& g, const float* x, float* y) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  const float scale = 1.0f / static_cast<float>(g.window * g.window);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow) {
        float total = 0;
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            total += x[(c * g.height + oh * g.stride + i) * g.width + ow * g.stride + j];
        y[(c * out_h + oh) * out_w + ow] = total * scale;
      }
}

// One strided axpy per window position over the output row.
template <class Arch = xsimd::default_arch, class Geometry>
void avg_pool_forward(const Geometry& g, const float* x, float* y) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  const float scale = 1.0f / static_cast<float>(g.window * g.window);
  std::fill_n(y, g.channels * out_h * out_w, 0.0f);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t i = 0; i < g.window; ++i)
        for (std::size_t j = 0; j < g.window; ++j)
          axpy_strided<Arch>(out_w, scale, x + (c * g.height + oh * g.stride + i) * g.width + j, g.stride,
                             y + (c * out_h + oh) * out_w);
}

// Differentiates the average: dx[c, oh*S+i, ow*S+j] += dy[c,oh,ow] / window^2. dx is overwritten.
inline void avg_pool_backward_reference(const PoolGeometry& g, const float* dy, float* dx) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  const float scale = 1.0f / static_cast<float>(g.window * g.window);
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow)
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            dx[(c * g.height + oh * g.stride + i) * g.width + ow * g.stride + j] +=
                dy[(c * out_h + oh) * out_w + ow] * scale;
}

// Stride 1 rows are axpys; strided rows scatter, which stays scalar.
template <class Arch = xsimd::default_arch, class Geometry>
void avg_pool_backward(const Geometry& g, const float* dy, float* dx) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width();
  const float scale = 1.0f / static_cast<float>(g.window * g.window);
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t oh = 0; oh < out_h; ++oh) {
      const float* dy_row = dy + (c * out_h + oh) * out_w;
      for (std::size_t i = 0; i < g.window; ++i)
        for (std::size_t j = 0; j < g.window; ++j) {
          float* dx_row = dx + (c * g.height + oh * g.stride + i) * g.width + j;
          if (g.stride == 1) {
            axpy<Arch>(out_w, scale, dy_row, dx_row);
          } else {
            for (std::size_t ow = 0; ow < out_w; ++ow) dx_row[ow * g.stride] += scale * dy_row[ow];
          }
        }
    }
}

}  // namespace ctnn::kernels
