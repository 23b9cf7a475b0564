// Bilinear image resizing, so a net built for one input size can read another data set
// (USPS 16x16 -> 28x28 for an MNIST-sized net).
// Design: pixel-centre alignment (OpenCV's INTER_LINEAR, PyTorch's align_corners=false): output
// pixel o samples input coordinate (o + 0.5) * in / out - 0.5, clamped to the border. The weights
// of each output pixel sum to 1, so a constant image stays constant, and when upscaling the ink
// mass grows with the area ratio up to border effects. It is not area-correct: shrinking by more
// than 2x skips input pixels (aliasing), which is fine for the upscaling it is meant for.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include <ctnn/io/dataset.hpp>

namespace ctnn {

namespace detail {

// For one axis: the two input indices each output index reads, and the weight of the second.
struct BilinearTap {
  std::size_t first, second;
  float weight;
};

inline std::vector<BilinearTap> bilinear_taps(std::size_t in_size, std::size_t out_size) {
  std::vector<BilinearTap> taps(out_size);
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double last = static_cast<double>(in_size - 1);
  for (std::size_t o = 0; o < out_size; ++o) {
    const double source = std::clamp((static_cast<double>(o) + 0.5) * scale - 0.5, 0.0, last);
    const auto first = static_cast<std::size_t>(source);
    taps[o] = {first, std::min(first + 1, in_size - 1), static_cast<float>(source - static_cast<double>(first))};
  }
  return taps;
}

inline void resize_plane(std::span<const float> in, std::size_t in_width, std::span<float> out,
                         std::span<const BilinearTap> rows, std::span<const BilinearTap> cols) noexcept {
  const std::size_t out_width = cols.size();
  for (std::size_t y = 0; y < rows.size(); ++y) {
    const auto& row = rows[y];
    for (std::size_t x = 0; x < out_width; ++x) {
      const auto& col = cols[x];
      const float top =
          in[row.first * in_width + col.first] * (1 - col.weight) + in[row.first * in_width + col.second] * col.weight;
      const float bottom = in[row.second * in_width + col.first] * (1 - col.weight) +
                           in[row.second * in_width + col.second] * col.weight;
      out[y * out_width + x] = top * (1 - row.weight) + bottom * row.weight;
    }
  }
}

}  // namespace detail

// Resizes one (H,W) plane `in` into the (out_height,out_width) plane `out`.
// Requires in.size() == in_height * in_width > 0 and out.size() == out_height * out_width.
inline void resize_plane_bilinear(std::span<const float> in, std::size_t in_height, std::size_t in_width,
                                  std::span<float> out, std::size_t out_height, std::size_t out_width) {
  detail::resize_plane(in, in_width, out, detail::bilinear_taps(in_height, out_height),
                       detail::bilinear_taps(in_width, out_width));
}

// Every image of `dataset`, every channel, resized to height x width; labels are copied.
inline Dataset resize_bilinear(const Dataset& dataset, std::size_t height, std::size_t width) {
  if (height == 0 || width == 0 || dataset.height == 0 || dataset.width == 0)
    throw DataError(dataset.name + ": cannot resize " + std::to_string(dataset.height) + "x" +
                    std::to_string(dataset.width) + " images to " + std::to_string(height) + "x" +
                    std::to_string(width));
  Dataset result;
  result.name = dataset.name;
  result.channels = dataset.channels;
  result.height = height;
  result.width = width;
  result.labels = dataset.labels;
  const std::size_t in_plane = dataset.height * dataset.width, out_plane = height * width;
  const std::size_t planes = dataset.images.size() / in_plane;
  result.images.resize(planes * out_plane);
  const auto rows = detail::bilinear_taps(dataset.height, height);
  const auto cols = detail::bilinear_taps(dataset.width, width);
  for (std::size_t p = 0; p < planes; ++p)
    detail::resize_plane(std::span(dataset.images).subspan(p * in_plane, in_plane), dataset.width,
                         std::span(result.images).subspan(p * out_plane, out_plane), rows, cols);
  return result;
}

}  // namespace ctnn
