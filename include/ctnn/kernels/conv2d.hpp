// 2-D convolution (cross-correlation, as in every framework) of one image, with stride and zero
// padding. Layout: x is (C,H,W), w is (F,C,K,K) = (F,T) with T = C K K taps, b is (F), y is
// (F,OH,OW) = (F,P) with OH = (H + 2P - K) / S + 1. The SIMD versions lower the convolution to
// matrix products over the im2col matrix (T,P) of the input (Chellapilla et al. 2006), built in
// `columns`, a caller-owned scratch of T * P floats; the references ignore it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include <ctnn/kernels/fixed.hpp>
#include <ctnn/kernels/gemm.hpp>
#include <ctnn/kernels/vector.hpp>

namespace ctnn::kernels {

struct Conv2dGeometry {
  std::size_t channels, height, width;  // input
  std::size_t filters, kernel, stride, padding;

  constexpr std::size_t out_height() const noexcept { return (height + 2 * padding - kernel) / stride + 1; }
  constexpr std::size_t out_width() const noexcept { return (width + 2 * padding - kernel) / stride + 1; }
  constexpr std::size_t out_plane() const noexcept { return out_height() * out_width(); }
  constexpr std::size_t taps() const noexcept { return channels * kernel * kernel; }
};

// Conv2dGeometry's members as constants (kernels/fixed.hpp).
template <Conv2dGeometry G>
struct Fixed<G, Conv2dGeometry> {
  static constexpr std::size_t channels = G.channels, height = G.height, width = G.width;
  static constexpr std::size_t filters = G.filters, kernel = G.kernel, stride = G.stride, padding = G.padding;
  static constexpr std::size_t out_height() noexcept { return G.out_height(); }
  static constexpr std::size_t out_width() noexcept { return G.out_width(); }
  static constexpr std::size_t out_plane() noexcept { return G.out_plane(); }
  static constexpr std::size_t taps() noexcept { return G.taps(); }
};

namespace detail {

// The output columns [begin, end) whose input column ow*S + tap - P lies in [0, W).
struct ColumnRange {
  std::size_t begin, end;
};
template <class Geometry>
constexpr ColumnRange valid_columns(const Geometry& g, std::size_t tap) noexcept {
  const std::ptrdiff_t shift = static_cast<std::ptrdiff_t>(tap) - static_cast<std::ptrdiff_t>(g.padding);
  const std::ptrdiff_t stride = static_cast<std::ptrdiff_t>(g.stride);
  const std::ptrdiff_t begin = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  const std::ptrdiff_t last_input = static_cast<std::ptrdiff_t>(g.width) - 1 - shift;
  const std::ptrdiff_t end = last_input < 0 ? 0 : std::min<std::ptrdiff_t>(last_input / stride + 1, g.out_width());
  return {static_cast<std::size_t>(begin), static_cast<std::size_t>(std::max(begin, end))};
}

// The input row of output row oh for kernel row tap, or -1 when it falls in the padding.
template <class Geometry>
constexpr std::ptrdiff_t input_row(const Geometry& g, std::size_t oh, std::size_t tap) noexcept {
  const std::ptrdiff_t row = static_cast<std::ptrdiff_t>(oh * g.stride + tap) - static_cast<std::ptrdiff_t>(g.padding);
  return row >= 0 && row < static_cast<std::ptrdiff_t>(g.height) ? row : -1;
}

}  // namespace detail

// y[f,oh,ow] = b[f] + sum_{c,i,j} w[f,c,i,j] * x[c, oh*S+i-P, ow*S+j-P]
inline void conv2d_forward_reference(const Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y,
                                     float* /*columns*/) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  for (std::size_t f = 0; f < g.filters; ++f)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow) {
        float total = b[f];
        for (std::size_t c = 0; c < g.channels; ++c)
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) {
              const std::ptrdiff_t row =
                  static_cast<std::ptrdiff_t>(oh * g.stride + i) - static_cast<std::ptrdiff_t>(g.padding);
              const std::ptrdiff_t col =
                  static_cast<std::ptrdiff_t>(ow * g.stride + j) - static_cast<std::ptrdiff_t>(g.padding);
              if (row < 0 || col < 0 || row >= static_cast<std::ptrdiff_t>(g.height) ||
                  col >= static_cast<std::ptrdiff_t>(g.width))
                continue;
              total += w[((f * g.channels + c) * k + i) * k + j] * x[(c * g.height + row) * g.width + col];
            }
        y[(f * out_h + oh) * out_w + ow] = total;
      }
}

namespace detail {
// dst[0..n) = src[0..n): the runs im2col copies are short (one output row), too short for a
// memcpy call to pay off.
template <class Arch>
void copy_run(std::size_t n, const float* src, float* dst) noexcept {
  using batch = xsimd::batch<float, Arch>;
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    batch::load_unaligned(src + i).store_unaligned(dst + i);
  for (; i < n; ++i) dst[i] = src[i];
}
}  // namespace detail

// columns[t = (c K + i) K + j, oh OW + ow] = x[c, oh*S+i-P, ow*S+j-P], zero in the padding.
// At stride 1 each output row is one contiguous run of an input row.
template <class Arch = xsimd::default_arch, class Geometry>
void im2col(const Geometry& g, const float* x, float* columns) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j) {
        float* row = columns + ((c * k + i) * k + j) * out_h * out_w;
        const auto [begin, end] = detail::valid_columns(g, j);
        for (std::size_t oh = 0; oh < out_h; ++oh) {
          float* out = row + oh * out_w;
          const std::ptrdiff_t input = detail::input_row(g, oh, i);
          if (input < 0 || begin >= end) {
            std::fill_n(out, out_w, 0.0f);
            continue;
          }
          const float* x_row = x + (c * g.height + static_cast<std::size_t>(input)) * g.width;
          for (std::size_t ow = 0; ow < begin; ++ow) out[ow] = 0.0f;
          if (g.stride == 1) {
            detail::copy_run<Arch>(end - begin, x_row + begin + j - g.padding, out + begin);
          } else {
            for (std::size_t ow = begin; ow < end; ++ow) out[ow] = x_row[ow * g.stride + j - g.padding];
          }
          for (std::size_t ow = end; ow < out_w; ++ow) out[ow] = 0.0f;
        }
      }
}

// The transpose of im2col: rows[oh OW + ow, t] = x[c, oh*S+i-P, ow*S+j-P], zero in the padding.
// Each kernel row of taps is one contiguous run of an input row where it lies inside the image.
template <class Arch = xsimd::default_arch, class Geometry>
void im2row(const Geometry& g, const float* x, float* rows) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel, taps = g.taps();
  for (std::size_t oh = 0; oh < out_h; ++oh)
    for (std::size_t ow = 0; ow < out_w; ++ow) {
      float* row = rows + (oh * out_w + ow) * taps;
      // The taps j in [first, last) read columns ow*S + j - P inside [0, W).
      const std::ptrdiff_t left = static_cast<std::ptrdiff_t>(ow * g.stride) - static_cast<std::ptrdiff_t>(g.padding);
      const std::size_t first = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(-left, 0, k));
      const std::size_t last =
          static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.width) - left, 0, k));
      for (std::size_t c = 0; c < g.channels; ++c)
        for (std::size_t i = 0; i < k; ++i) {
          const std::ptrdiff_t input = detail::input_row(g, oh, i);
          float* out = row + (c * k + i) * k;
          if (input < 0 || first >= last) {
            std::fill_n(out, k, 0.0f);
            continue;
          }
          const float* x_row = x + (c * g.height + static_cast<std::size_t>(input)) * g.width;
          for (std::size_t j = 0; j < first; ++j) out[j] = 0.0f;
          detail::copy_run<Arch>(last - first, x_row + left + static_cast<std::ptrdiff_t>(first), out + first);
          for (std::size_t j = last; j < k; ++j) out[j] = 0.0f;
        }
    }
}

// The adjoint of im2col: dx[c, oh*S+i-P, ow*S+j-P] += columns[t, oh OW + ow]; dx is overwritten.
template <class Arch = xsimd::default_arch, class Geometry>
void col2im(const Geometry& g, const float* columns, float* dx) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  for (std::size_t c = 0; c < g.channels; ++c)
    for (std::size_t i = 0; i < k; ++i)
      for (std::size_t j = 0; j < k; ++j) {
        const float* row = columns + ((c * k + i) * k + j) * out_h * out_w;
        const auto [begin, end] = detail::valid_columns(g, j);
        for (std::size_t oh = 0; oh < out_h; ++oh) {
          const std::ptrdiff_t input = detail::input_row(g, oh, i);
          if (input < 0 || begin >= end) continue;
          float* dx_row = dx + (c * g.height + static_cast<std::size_t>(input)) * g.width;
          if (g.stride == 1) {
            axpy<Arch>(end - begin, 1.0f, row + oh * out_w + begin, dx_row + begin + j - g.padding);
          } else {
            for (std::size_t ow = begin; ow < end; ++ow) dx_row[ow * g.stride + j - g.padding] += row[oh * out_w + ow];
          }
        }
      }
}

// y = b + W columns: one register-blocked matrix product (kernels/gemm.hpp).
template <class Arch = xsimd::default_arch, class Geometry>
void conv2d_forward(const Geometry& g, const float* x, const float* w, const float* b, float* y,
                    float* columns) noexcept {
  const std::size_t plane = g.out_plane(), taps = g.taps();
  im2col<Arch>(g, x, columns);
  for (std::size_t f = 0; f < g.filters; ++f) std::fill_n(y + f * plane, plane, b[f]);
  gemm<Arch>(g.filters, plane, taps, MatrixView{w, taps, 1}, columns, plane, y, plane);
}

// Differentiates conv2d_forward with respect to x:
// dx[c, oh*S+i-P, ow*S+j-P] += w[f,c,i,j] * dy[f,oh,ow]. dx is overwritten.
inline void conv2d_backward_data_reference(const Conv2dGeometry& g, const float* w, const float* dy, float* dx,
                                           float* /*columns*/) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  std::fill_n(dx, g.channels * g.height * g.width, 0.0f);
  for (std::size_t f = 0; f < g.filters; ++f)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow)
        for (std::size_t c = 0; c < g.channels; ++c)
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) {
              const std::ptrdiff_t row =
                  static_cast<std::ptrdiff_t>(oh * g.stride + i) - static_cast<std::ptrdiff_t>(g.padding);
              const std::ptrdiff_t col =
                  static_cast<std::ptrdiff_t>(ow * g.stride + j) - static_cast<std::ptrdiff_t>(g.padding);
              if (row < 0 || col < 0 || row >= static_cast<std::ptrdiff_t>(g.height) ||
                  col >= static_cast<std::ptrdiff_t>(g.width))
                continue;
              dx[(c * g.height + row) * g.width + col] +=
                  w[((f * g.channels + c) * k + i) * k + j] * dy[(f * out_h + oh) * out_w + ow];
            }
}

// dcolumns = W^T dy, then col2im scatters it back onto the image.
template <class Arch = xsimd::default_arch, class Geometry>
void conv2d_backward_data(const Geometry& g, const float* w, const float* dy, float* dx, float* columns) noexcept {
  const std::size_t plane = g.out_plane(), taps = g.taps();
  std::fill_n(columns, taps * plane, 0.0f);
  gemm<Arch>(taps, plane, g.filters, MatrixView{w, 1, taps}, dy, plane, columns, plane);
  col2im<Arch>(g, columns, dx);
}

// Differentiates conv2d_forward with respect to w and b, accumulating:
// dw[f,c,i,j] += sum_{oh,ow} dy[f,oh,ow] * x[c, oh*S+i-P, ow*S+j-P];  db[f] += sum dy[f].
inline void conv2d_backward_weights_reference(const Conv2dGeometry& g, const float* x, const float* dy, float* dw,
                                              float* db, float* /*columns*/) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  for (std::size_t f = 0; f < g.filters; ++f)
    for (std::size_t oh = 0; oh < out_h; ++oh)
      for (std::size_t ow = 0; ow < out_w; ++ow) {
        const float grad = dy[(f * out_h + oh) * out_w + ow];
        db[f] += grad;
        for (std::size_t c = 0; c < g.channels; ++c)
          for (std::size_t i = 0; i < k; ++i)
            for (std::size_t j = 0; j < k; ++j) {
              const std::ptrdiff_t row =
                  static_cast<std::ptrdiff_t>(oh * g.stride + i) - static_cast<std::ptrdiff_t>(g.padding);
              const std::ptrdiff_t col =
                  static_cast<std::ptrdiff_t>(ow * g.stride + j) - static_cast<std::ptrdiff_t>(g.padding);
              if (row < 0 || col < 0 || row >= static_cast<std::ptrdiff_t>(g.height) ||
                  col >= static_cast<std::ptrdiff_t>(g.width))
                continue;
              dw[((f * g.channels + c) * k + i) * k + j] += grad * x[(c * g.height + row) * g.width + col];
            }
      }
}

// dw += dy rows^T, one matrix product (F,P) x (P,T) over the transposed im2col matrix, so the
// SIMD lanes run along the taps; `columns` holds rows[p, t] here. With fewer taps than two SIMD
// widths (a first layer: 9 or 25 taps) most lanes would idle, so there the lanes run along the
// output plane instead: dw[f,t] += dot(dy[f,:], columns[t,:]) over the im2col matrix (gemm_nt).
template <class Arch = xsimd::default_arch, class Geometry>
void conv2d_backward_weights(const Geometry& g, const float* x, const float* dy, float* dw, float* db,
                             float* columns) noexcept {
  const std::size_t plane = g.out_plane(), taps = g.taps();
  for (std::size_t f = 0; f < g.filters; ++f) db[f] += sum<Arch>(plane, dy + f * plane);
  if (taps < 2 * xsimd::batch<float, Arch>::size) {
    im2col<Arch>(g, x, columns);
    gemm_nt<Arch>(g.filters, taps, plane, dy, plane, columns, plane, dw, taps);
  } else {
    im2row<Arch>(g, x, columns);
    gemm<Arch>(g.filters, taps, plane, MatrixView{dy, plane, 1}, columns, taps, dw, taps);
  }
}

}  // namespace ctnn::kernels
