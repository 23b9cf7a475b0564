// Calibration for int8 inference: the range of the values at every layer boundary of a float
// network (0 is the input, I + 1 the output of layer I) over a few hundred images, from which
// quantize() (quantized_net.hpp) sets each activation's scale and zero point.
// The range is the minimum and maximum seen (percentile 100), or, for a percentile p below 100,
// the values below which p% of them fall at the top and (100 - p)% at the bottom, read from a
// 4096-bin histogram between the minimum and the maximum (TensorRT's percentile calibration;
// Wu et al. 2020, section 4.1): clipping a few outliers buys a finer step for all other values.
// Images run one by one (Net::forward with per-thread buffers), threads split them, and the
// partial results are merged with min, max and counts, so the ranges do not depend on the
// thread count.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ctnn/core/tensor.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/quantize/quantization.hpp>

namespace ctnn {

struct CalibrationOptions {
  std::size_t images = 500;  // training images, drawn at random with `seed`
  double percentile = 100;   // 100: min and max; below: clip that share at each end
  std::uint64_t seed = 1;
};

namespace detail {

inline constexpr std::size_t calibration_bins = 4096;

struct BoundaryStatistics {
  ActivationRange range{std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()};
  std::vector<std::uint64_t> histogram;  // second pass only
};

// Runs every input through the net and calls record(boundary, values, statistics) for the input
// and each layer's output, with one statistics vector per thread, merged by merge(into, from).
template <class NetType, class Record, class Merge>
void visit_boundaries(const NetType& net, std::span<const tensor_of<typename NetType::in_shape>> inputs,
                      std::vector<BoundaryStatistics>& total, Record record, Merge merge) {
  constexpr std::size_t boundaries = NetType::layer_count + 1;
#pragma omp parallel
  {
    std::vector<BoundaryStatistics> mine = total;
    const auto buffers = std::make_unique<typename NetType::Inference>();
    const std::size_t count = inputs.size();
#pragma omp for schedule(static)
    for (std::size_t i = 0; i < count; ++i) {
      net.forward(inputs[i], *buffers);
      record(0, std::span<const float>(inputs[i].span()), mine[0]);
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (record(I + 1, std::span<const float>(std::get<I>(*buffers).span()), mine[I + 1]), ...);
      }
      (std::make_index_sequence<boundaries - 1>{});
    }
#pragma omp critical(ctnn_calibration)
    for (std::size_t b = 0; b < boundaries; ++b) merge(total[b], mine[b]);
  }
}

// The bin edge beyond which `share` of the histogram's counts lie, counted from the bottom (the
// lower edge of the bin where the running count reaches it) or from the top (its upper edge):
// the clipped share is at most `share`.
inline float histogram_tail(const BoundaryStatistics& statistics, double share, bool from_top) {
  const auto& counts = statistics.histogram;
  std::uint64_t total = 0;
  for (const std::uint64_t count : counts) total += count;
  const double width = (static_cast<double>(statistics.range.max) - statistics.range.min) / counts.size();
  const double wanted = share * static_cast<double>(total);
  double running = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const std::size_t bin = from_top ? counts.size() - 1 - i : i;
    running += static_cast<double>(counts[bin]);
    if (running >= wanted)
      return static_cast<float>(statistics.range.min + width * static_cast<double>(from_top ? bin + 1 : bin));
  }
  return from_top ? statistics.range.min : statistics.range.max;
}

}  // namespace detail

// The range at each of the net's layer_count + 1 boundaries over `inputs` (normalized as the net
// was trained). Throws std::invalid_argument for no inputs or a percentile outside (50, 100].
template <class NetType>
std::vector<ActivationRange> calibrate(const NetType& net,
                                       std::span<const tensor_of<typename NetType::in_shape>> inputs,
                                       double percentile = 100) {
  if (inputs.empty()) throw std::invalid_argument("calibrate: no calibration images");
  if (!(percentile > 50 && percentile <= 100))
    throw std::invalid_argument("calibrate: the percentile " + std::to_string(percentile) + " is not in (50, 100]");
  constexpr std::size_t boundaries = NetType::layer_count + 1;
  std::vector<detail::BoundaryStatistics> statistics(boundaries);
  detail::visit_boundaries(
      net, inputs, statistics,
      [](std::size_t, std::span<const float> values, detail::BoundaryStatistics& mine) {
        for (const float value : values) {
          mine.range.min = std::min(mine.range.min, value);
          mine.range.max = std::max(mine.range.max, value);
        }
      },
      [](detail::BoundaryStatistics& into, const detail::BoundaryStatistics& from) {
        into.range.min = std::min(into.range.min, from.range.min);
        into.range.max = std::max(into.range.max, from.range.max);
      });
  std::vector<ActivationRange> ranges;
  for (const auto& boundary : statistics) {
    if (!std::isfinite(boundary.range.min) || !std::isfinite(boundary.range.max))
      throw std::invalid_argument("calibrate: the network produced a value that is not finite");
    ranges.push_back(boundary.range);
  }
  if (percentile == 100) return ranges;

  for (auto& boundary : statistics) boundary.histogram.assign(detail::calibration_bins, 0);
  detail::visit_boundaries(
      net, inputs, statistics,
      [](std::size_t, std::span<const float> values, detail::BoundaryStatistics& mine) {
        const double low = mine.range.min,
                     width = (static_cast<double>(mine.range.max) - low) / detail::calibration_bins;
        for (const float value : values) {
          const double position = width > 0 ? (value - low) / width : 0;
          ++mine.histogram[std::min(detail::calibration_bins - 1, static_cast<std::size_t>(std::max(0.0, position)))];
        }
      },
      [](detail::BoundaryStatistics& into, const detail::BoundaryStatistics& from) {
        for (std::size_t i = 0; i < into.histogram.size(); ++i) into.histogram[i] += from.histogram[i];
      });
  const double tail = (100 - percentile) / 100;
  for (std::size_t b = 0; b < boundaries; ++b) {
    ranges[b].min = std::max(ranges[b].min, detail::histogram_tail(statistics[b], tail, false));
    ranges[b].max = std::min(ranges[b].max, detail::histogram_tail(statistics[b], tail, true));
  }
  return ranges;
}

// Calibration on `options.images` images of `data` drawn at random with `options.seed`, each
// normalized with `normalization`. Throws std::invalid_argument for an empty data set or images
// of another shape than the net's input.
template <class NetType>
std::vector<ActivationRange> calibrate(const NetType& net, const Dataset& data, Normalization normalization,
                                       const CalibrationOptions& options) {
  using In = typename NetType::in_shape;
  if (data.image_size() != In::size)
    throw std::invalid_argument(data.name + ": images of " + std::to_string(data.image_size()) +
                                " values, but the network reads " + std::to_string(In::size));
  const std::vector<std::size_t> order = shuffled_indices(data.size(), options.seed);
  std::vector<tensor_of<In>> inputs(std::min(options.images, data.size()));
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto image = data.image(order[i]);
    for (std::size_t p = 0; p < In::size; ++p) inputs[i][p] = (image[p] - normalization.mean) / normalization.stddev;
  }
  return calibrate(net, std::span<const tensor_of<In>>(inputs), options.percentile);
}

}  // namespace ctnn
