// Occlusion sensitivity (Zeiler & Fergus 2014, section 4.2): cover part of the image with a
// square patch of a fill value, slide it across, and record how much the class's score drops,
// S(x) - S(x with the patch). A large drop marks a region the net relies on; a drop of zero, a
// region it ignores (for this fill). The patch covers every channel. All placements go through
// the workspace in batches.
//
// Placements start at 0 and step by `stride`; where the stride does not reach the last row or
// column exactly, one more placement is put flush with the edge, so every pixel is covered. The
// per-pixel map is the mean drop of the placements that cover the pixel (as Captum's Occlusion).
// On MNIST the natural fill is 0, the background: occluding empty background then changes nothing.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/explain/score.hpp>

namespace ctnn {

struct OcclusionOptions {
  Score score = Score::probability;  // Zeiler & Fergus plot the probability of the correct class
  std::size_t patch = 4;             // side of the square, in pixels
  std::size_t stride = 1;            // between placements, in pixels
  float fill = 0.0f;                 // pixel value under the patch
};

struct Occlusion {
  std::vector<std::size_t> rows, columns;  // top and left offsets of the placements
  std::vector<float> drops;                // rows.size() x columns.size(): S(x) - S(occluded), row-major
  std::vector<float> sensitivity;          // per pixel (height x width): mean drop of the covering placements
  double score = 0;                        // S(x)
};

namespace detail {

// 0, stride, 2 stride, ... up to extent - patch, and extent - patch itself if the stride skips it.
inline std::vector<std::size_t> placements(std::size_t extent, std::size_t patch, std::size_t stride) {
  std::vector<std::size_t> offsets;
  for (std::size_t offset = 0; offset + patch <= extent; offset += stride) offsets.push_back(offset);
  if (offsets.back() + patch < extent) offsets.push_back(extent - patch);
  return offsets;
}

}  // namespace detail

// The occlusion map of class `target` at `image` (pixel units, in_shape::size values). ws's
// contents are scratch. Throws std::invalid_argument for a wrong image size, a patch of size 0 or
// larger than the image, a zero stride, a class the net does not have or an unusable
// normalization.
template <class NetType, std::size_t Batch>
Occlusion occlusion(NetType& net, Workspace<NetType, Batch>& ws, std::span<const float> image,
                    Normalization normalization, std::size_t target, const OcclusionOptions& options = {}) {
  using In = typename NetType::in_shape;
  detail::check_image_size("the image", image.size(), In::size);
  if (options.patch == 0 || options.patch > In::height || options.patch > In::width)
    throw std::invalid_argument("occlusion: the patch side must be 1 to " +
                                std::to_string(std::min(In::height, In::width)) + ", not " +
                                std::to_string(options.patch));
  if (options.stride == 0) throw std::invalid_argument("occlusion: the stride must be at least 1");
  Occlusion result;
  result.rows = detail::placements(In::height, options.patch, options.stride);
  result.columns = detail::placements(In::width, options.patch, options.stride);
  const std::size_t placements = result.rows.size() * result.columns.size();

  // Item 0 is the clean image, item 1 + p placement p.
  const auto occluded = [&](std::size_t item, std::span<float> pixels) {
    std::copy(image.begin(), image.end(), pixels.begin());
    if (item == 0) return;
    const std::size_t top = result.rows[(item - 1) / result.columns.size()];
    const std::size_t left = result.columns[(item - 1) % result.columns.size()];
    for (std::size_t c = 0; c < In::channels; ++c)
      for (std::size_t y = top; y < top + options.patch; ++y)
        for (std::size_t x = left; x < left + options.patch; ++x)
          pixels[(c * In::height + y) * In::width + x] = options.fill;
  };
  std::vector<double> scores(placements);
  batched_scores(net, ws, normalization, options.score, target, placements + 1, occluded,
                 [&](std::size_t item, double score) {
                   if (item == 0)
                     result.score = score;
                   else
                     scores[item - 1] = score;
                 });

  result.drops.resize(placements);
  std::vector<double> sum(In::height * In::width, 0.0);
  std::vector<std::size_t> covering(In::height * In::width, 0);
  for (std::size_t p = 0; p < placements; ++p) {
    const double drop = result.score - scores[p];
    result.drops[p] = static_cast<float>(drop);
    const std::size_t top = result.rows[p / result.columns.size()];
    const std::size_t left = result.columns[p % result.columns.size()];
    for (std::size_t y = top; y < top + options.patch; ++y)
      for (std::size_t x = left; x < left + options.patch; ++x) {
        sum[y * In::width + x] += drop;
        ++covering[y * In::width + x];
      }
  }
  result.sensitivity.resize(sum.size());
  for (std::size_t i = 0; i < sum.size(); ++i)
    result.sensitivity[i] = static_cast<float>(sum[i] / static_cast<double>(covering[i]));
  return result;
}

}  // namespace ctnn
