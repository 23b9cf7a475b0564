// The image side of int8 inference: quantizing a float input, convolution and max pooling on
// 8-bit codes. Codes are unsigned, code = zero_point + real / scale (Jacob et al. 2018, eq. 1),
// and images are stored channels-last, x is (H,W,C): the C values of a pixel are contiguous, so
// the K x K window of a convolution is K runs of K C bytes, and the output of the int8 matrix
// product, (pixels, filters), is already the next layer's (H,W,C) image. The convolution lowers
// to that product over im2row (Chellapilla et al. 2006, transposed): rows[p, t] holds the window
// of output pixel p with taps t = (i K + j) C + c, padded with zero bytes to whole groups of 4.
// A convolution followed by non-overlapping max pooling orders those rows window by window and
// pools the int32 sums before requantizing them (int8_conv2d_max_pool). Geometries are kernels/conv2d.hpp's
// Conv2dGeometry and kernels/pool.hpp's PoolGeometry.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include <xsimd/xsimd.hpp>

#include <ctnn/kernels/conv2d.hpp>
#include <ctnn/kernels/int8_gemm.hpp>
#include <ctnn/kernels/pool.hpp>

namespace ctnn::kernels {

namespace detail {
// x86's max and min: the second operand when the first is NaN, so NaN becomes the lowest code
// in both flavours.
inline float clamp_code(float value, float lowest, float highest) noexcept {
  value = value > lowest ? value : lowest;
  return value < highest ? value : highest;
}
}  // namespace detail

// q[i] = clamp(nearbyint(x[i] / scale), -zero_point, 255 - zero_point) + zero_point
inline void quantize_reference(std::size_t n, const float* x, float scale, std::int32_t zero_point,
                               std::uint8_t* q) noexcept {
  const float lowest = static_cast<float>(-zero_point), highest = static_cast<float>(255 - zero_point);
  for (std::size_t i = 0; i < n; ++i)
    q[i] = static_cast<std::uint8_t>(
        static_cast<std::int32_t>(std::nearbyint(detail::clamp_code(x[i] / scale, lowest, highest))) + zero_point);
}
template <class Arch = xsimd::default_arch>
void quantize(std::size_t n, const float* x, float scale, std::int32_t zero_point, std::uint8_t* q) noexcept {
  using floats = xsimd::batch<float, Arch>;
  using ints = xsimd::batch<std::int32_t, Arch>;
  const floats scale_batch(scale), lowest(static_cast<float>(-zero_point)),
      highest(static_cast<float>(255 - zero_point));
  alignas(64) std::int32_t codes[ints::size];
  std::size_t i = 0;
  for (const std::size_t whole = n - n % floats::size; i < whole; i += floats::size) {
    const floats value = xsimd::min(xsimd::max(floats::load_unaligned(x + i) / scale_batch, lowest), highest);
    (xsimd::nearbyint_as_int(value) + ints(zero_point)).store_aligned(codes);
    for (std::size_t lane = 0; lane < floats::size; ++lane) q[i + lane] = static_cast<std::uint8_t>(codes[lane]);
  }
  quantize_reference(n - i, x + i, scale, zero_point, q + i);
}

// A float (C,H,W) image to codes laid out (H,W,C). One channel is the same order: the SIMD
// quantize; several channels are interleaved one value at a time.
template <class Arch = xsimd::default_arch>
void quantize_image(std::size_t channels, std::size_t plane, const float* x, float scale, std::int32_t zero_point,
                    std::uint8_t* q) noexcept {
  if (channels == 1) {
    quantize<Arch>(plane, x, scale, zero_point, q);
    return;
  }
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t p = 0; p < plane; ++p)
      quantize_reference(1, x + c * plane + p, scale, zero_point, q + p * channels + c);
}

namespace detail {
// One row of im2row: the window of output pixel (oh, ow), taps (i K + j) C + c; each kernel row
// is one run of up to K C bytes of x.
template <class Geometry>
void int8_window_row(const Geometry& g, const std::uint8_t* x, std::uint8_t zero_point, std::size_t oh, std::size_t ow,
                     std::uint8_t* row) noexcept {
  const std::size_t k = g.kernel, c = g.channels, run = k * c;
  if (g.padding == 0) {  // no window leaves the image; with a fixed geometry, constant-size copies
    const std::uint8_t* corner = x + (oh * g.stride * g.width + ow * g.stride) * c;
    const std::uint8_t* end = x + g.channels * g.height * g.width;
    const std::size_t row_bytes = int8_padded_depth(g.taps());
    for (std::size_t i = 0; i < k; ++i) {
      const std::uint8_t* source = corner + i * g.width * c;
      // A run shorter than 8 bytes (a first layer's 3 or 5 pixels) as one 8-byte copy where it
      // stays inside the image and the row: the bytes past the run are the next kernel row's,
      // written next, or the padding, zeroed below.
      if (run < 8 && source + 8 <= end && i * run + 8 <= row_bytes)
        std::memcpy(row + i * run, source, 8);
      else
        std::memcpy(row + i * run, source, run);
    }
    std::fill(row + k * run, row + row_bytes, std::uint8_t{0});
    return;
  }
  // The taps j in [first, last) read columns ow*S + j - P inside [0, W).
  const std::ptrdiff_t left = static_cast<std::ptrdiff_t>(ow * g.stride) - static_cast<std::ptrdiff_t>(g.padding);
  const std::size_t first = static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(-left, 0, k));
  const std::size_t last =
      static_cast<std::size_t>(std::clamp<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(g.width) - left, 0, k));
  for (std::size_t i = 0; i < k; ++i) {
    std::uint8_t* out = row + i * run;
    const std::ptrdiff_t input = detail::input_row(g, oh, i);
    if (input < 0 || first >= last) {
      std::fill_n(out, run, zero_point);
      continue;
    }
    if (first == 0 && last == k) {  // the whole run inside the image: the common case
      std::memcpy(out, x + (static_cast<std::size_t>(input) * g.width + static_cast<std::size_t>(left)) * c, run);
      continue;
    }
    std::fill_n(out, first * c, zero_point);
    std::memcpy(out + first * c,
                x + (static_cast<std::size_t>(input) * g.width + static_cast<std::size_t>(left) + first) * c,
                (last - first) * c);
    std::fill_n(out + last * c, (k - last) * c, zero_point);
  }
  std::fill(row + k * run, row + int8_padded_depth(g.taps()), std::uint8_t{0});
}
}  // namespace detail

// rows[p, t] for p = oh OW + ow and t = (i K + j) C + c: x[oh*S+i-P, ow*S+j-P, c], or
// `zero_point` (the code of 0) where that falls in the padding; bytes t >= K K C of each row of
// int8_padded_depth(K K C) are 0.
template <class Geometry>
void int8_im2row(const Geometry& g, const std::uint8_t* x, std::uint8_t zero_point, std::uint8_t* rows) noexcept {
  const std::size_t row_size = int8_padded_depth(g.taps());
  for (std::size_t oh = 0; oh < g.out_height(); ++oh)
    for (std::size_t ow = 0; ow < g.out_width(); ++ow)
      detail::int8_window_row(g, x, zero_point, oh, ow, rows + (oh * g.out_width() + ow) * row_size);
}

// The same rows ordered for Window x Window max pooling of the convolution's output: the
// Window^2 pixels of each pooling window in a run, windows in row-major order (the output must
// tile into whole windows).
template <std::size_t Window, class Geometry>
void int8_im2row_pooled(const Geometry& g, const std::uint8_t* x, std::uint8_t zero_point,
                        std::uint8_t* rows) noexcept {
  const std::size_t row_size = int8_padded_depth(g.taps());
  for (std::size_t ph = 0; ph < g.out_height() / Window; ++ph)
    for (std::size_t pw = 0; pw < g.out_width() / Window; ++pw)
      for (std::size_t i = 0; i < Window; ++i)
        for (std::size_t j = 0; j < Window; ++j, rows += row_size)
          detail::int8_window_row(g, x, zero_point, ph * Window + i, pw * Window + j, rows);
}

// y[oh,ow,f] = epilogue(sum_{i,j,c} w[f, (i K + j) C + c] * (x[oh*S+i-P, ow*S+j-P, c] or
// input_zero_point in the padding)): x is (H,W,C) codes, y is (OH,OW,F) codes, w is the packed
// (F, K K C) weight matrix. `rows` is scratch for the fast version (OH OW int8_padded_depth(K K C)
// bytes); the reference ignores it.
template <class Geometry>
void int8_conv2d_reference(const Geometry& g, const std::uint8_t* x, std::uint8_t input_zero_point, Int8Weights w,
                           const Requantize& out, std::uint8_t* y, std::uint8_t* /*rows*/) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), k = g.kernel;
  for (std::size_t oh = 0; oh < out_h; ++oh)
    for (std::size_t ow = 0; ow < out_w; ++ow)
      for (std::size_t f = 0; f < g.filters; ++f) {
        std::int32_t sum = 0;
        for (std::size_t i = 0; i < k; ++i)
          for (std::size_t j = 0; j < k; ++j)
            for (std::size_t c = 0; c < g.channels; ++c) {
              const std::ptrdiff_t row =
                  static_cast<std::ptrdiff_t>(oh * g.stride + i) - static_cast<std::ptrdiff_t>(g.padding);
              const std::ptrdiff_t col =
                  static_cast<std::ptrdiff_t>(ow * g.stride + j) - static_cast<std::ptrdiff_t>(g.padding);
              const bool inside = row >= 0 && col >= 0 && row < static_cast<std::ptrdiff_t>(g.height) &&
                                  col < static_cast<std::ptrdiff_t>(g.width);
              const std::uint8_t code =
                  inside ? x[(static_cast<std::size_t>(row) * g.width + static_cast<std::size_t>(col)) * g.channels + c]
                         : input_zero_point;
              sum += std::int32_t{code} * std::int32_t{w(f, (i * k + j) * g.channels + c)};
            }
        y[(oh * out_w + ow) * g.filters + f] = detail::requantize_value(sum, f, out);
      }
}

// im2row, then one int8 matrix product (pixels x taps) x (taps x filters).
template <class Arch = xsimd::default_arch, bool Vnni = has_vnni<Arch>, class Geometry>
void int8_conv2d(const Geometry& g, const std::uint8_t* x, std::uint8_t input_zero_point, Int8Weights w,
                 const Requantize& out, std::uint8_t* y, std::uint8_t* rows) noexcept {
  int8_im2row(g, x, input_zero_point, rows);
  int8_gemm<Arch, Vnni>(g.out_plane(), rows, int8_padded_depth(g.taps()), w, out, y, g.filters);
}

// y[oh,ow,c] = max_{i,j} x[oh*S+i, ow*S+j, c] on (H,W,C) codes. The max commutes with the
// (increasing) map from codes to real values, so pooling codes pools the values exactly.
template <class Geometry>
void int8_max_pool_reference(const Geometry& g, const std::uint8_t* x, std::uint8_t* y) noexcept {
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), channels = g.channels;
  for (std::size_t oh = 0; oh < out_h; ++oh)
    for (std::size_t ow = 0; ow < out_w; ++ow)
      for (std::size_t c = 0; c < channels; ++c) {
        std::uint8_t best = 0;
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            best = std::max(best, x[((oh * g.stride + i) * g.width + ow * g.stride + j) * channels + c]);
        y[(oh * out_w + ow) * channels + c] = best;
      }
}

// Each output pixel is the running max of the window's pixels, a SIMD width of channels at a time.
template <class Arch = xsimd::default_arch, class Geometry>
void int8_max_pool(const Geometry& g, const std::uint8_t* x, std::uint8_t* y) noexcept {
  using bytes = xsimd::batch<std::uint8_t, Arch>;
  const std::size_t out_h = g.out_height(), out_w = g.out_width(), channels = g.channels;
  for (std::size_t oh = 0; oh < out_h; ++oh)
    for (std::size_t ow = 0; ow < out_w; ++ow) {
      const std::uint8_t* corner = x + ((oh * g.stride) * g.width + ow * g.stride) * channels;
      std::uint8_t* out = y + (oh * out_w + ow) * channels;
      std::size_t c = 0;
      for (const std::size_t whole = channels - channels % bytes::size; c < whole; c += bytes::size) {
        bytes best = bytes::load_unaligned(corner + c);
        for (std::size_t i = 0; i < g.window; ++i)
          for (std::size_t j = 0; j < g.window; ++j)
            best = xsimd::max(best, bytes::load_unaligned(corner + (i * g.width + j) * channels + c));
        best.store_unaligned(out + c);
      }
      // The channels past the last whole width (all of them when C is below one width), window
      // position by window position, so that each pass runs along contiguous channels.
      const std::size_t tail = c;
      for (c = tail; c < channels; ++c) out[c] = corner[c];
      for (std::size_t i = 0; i < g.window; ++i)
        for (std::size_t j = 0; j < g.window; ++j) {
          const std::uint8_t* pixel = corner + (i * g.width + j) * channels;
          for (c = tail; c < channels; ++c) out[c] = std::max(out[c], pixel[c]);
        }
    }
}

// int8_conv2d followed by Window x Window max pooling with stride Window, as one kernel: y is
// (OH/Window, OW/Window, F). The reference runs the two references one after the other.
template <std::size_t Window, class Geometry>
void int8_conv2d_max_pool_reference(const Geometry& g, const std::uint8_t* x, std::uint8_t input_zero_point,
                                    Int8Weights w, const Requantize& out, std::uint8_t* y, std::uint8_t* /*rows*/) {
  std::vector<std::uint8_t> convolved(g.filters * g.out_plane());
  int8_conv2d_reference(g, x, input_zero_point, w, out, convolved.data(), nullptr);
  const PoolGeometry pool{g.filters, g.out_height(), g.out_width(), Window, Window};
  int8_max_pool_reference(pool, convolved.data(), y);
}

// Pools the int32 sums before requantizing them (int8_gemm_max_pool), which the requantization's
// monotonicity makes exact: a Window^2-th of the epilogues, and no pass over the convolution's
// output. `rows` is OH OW int8_padded_depth(K K C) bytes, as for int8_conv2d.
template <std::size_t Window, class Arch = xsimd::default_arch, bool Vnni = has_vnni<Arch>, class Geometry>
void int8_conv2d_max_pool(const Geometry& g, const std::uint8_t* x, std::uint8_t input_zero_point, Int8Weights w,
                          const Requantize& out, std::uint8_t* y, std::uint8_t* rows) noexcept {
  int8_im2row_pooled<Window>(g, x, input_zero_point, rows);
  int8_gemm_max_pool<Window * Window, Arch, Vnni>(g.out_plane(), rows, int8_padded_depth(g.taps()), w, out, y,
                                                  g.filters);
}

}  // namespace ctnn::kernels
