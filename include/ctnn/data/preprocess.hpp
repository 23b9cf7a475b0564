// Dataset preprocessing: normalization statistics, seeded shuffles and train/validation/test splits.
// Statistics are accumulated in double (60000 MNIST images are 47 million pixels, beyond what a
// float sum resolves). Shuffles are Fisher-Yates driven by ctnn::Rng, so one seed gives one
// permutation with every compiler and standard library. Split parts are returned sorted: a split
// is a set, and sorted indices read the dataset in memory order.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

// x_normalized = (x - mean) / stddev.
struct Normalization {
  float mean = 0;
  float stddev = 1;
};

// Mean and population standard deviation (divide by N) of all pixels, in two passes for accuracy.
// Throws std::invalid_argument on an empty span.
inline Normalization compute_normalization(std::span<const float> pixels) {
  if (pixels.empty()) throw std::invalid_argument("compute_normalization: no pixels");
  double sum = 0;
  for (const float value : pixels) sum += value;
  const double mean = sum / static_cast<double>(pixels.size());
  double squares = 0;
  for (const float value : pixels) {
    const double deviation = value - mean;
    squares += deviation * deviation;
  }
  return {static_cast<float>(mean), static_cast<float>(std::sqrt(squares / static_cast<double>(pixels.size())))};
}

// In place: x <- (x - mean) / stddev. Throws std::invalid_argument unless stddev is positive and
// finite (a constant dataset has stddev 0 and cannot be normalized this way).
inline void normalize(std::span<float> pixels, Normalization normalization) {
  if (!(normalization.stddev > 0 && std::isfinite(normalization.stddev)))
    throw std::invalid_argument("normalize: stddev must be positive and finite");
  for (float& value : pixels) value = (value - normalization.mean) / normalization.stddev;
}

// In place: x <- x * stddev + mean, the inverse of `normalize` up to rounding.
inline void denormalize(std::span<float> pixels, Normalization normalization) noexcept {
  for (float& value : pixels) value = value * normalization.stddev + normalization.mean;
}

// A permutation of 0..n-1 by Fisher-Yates (Knuth, TAOCP vol. 2, algorithm 3.4.2 P) with Rng(seed).
inline std::vector<std::size_t> shuffled_indices(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> indices(n);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  Rng rng(seed);
  for (std::size_t i = n; i > 1; --i) std::swap(indices[i - 1], indices[rng.below(i)]);
  return indices;
}

// Disjoint parts of 0..n-1 that together cover it, each sorted.
struct SplitIndices {
  std::vector<std::size_t> train, validation, test;
};

namespace detail {

inline std::vector<std::size_t> sorted_slice(const std::vector<std::size_t>& order, std::size_t begin,
                                             std::size_t end) {
  std::vector<std::size_t> part(order.begin() + static_cast<std::ptrdiff_t>(begin),
                                order.begin() + static_cast<std::ptrdiff_t>(end));
  std::sort(part.begin(), part.end());
  return part;
}

}  // namespace detail

// Holds out `validation_count` random images of n for validation and trains on the rest (MNIST:
// 5000 of the 60000 training images); test stays empty because the dataset brings its own.
// Throws std::invalid_argument if validation_count > n.
inline SplitIndices holdout_split(std::size_t n, std::size_t validation_count, std::uint64_t seed) {
  if (validation_count > n) throw std::invalid_argument("holdout_split: validation_count exceeds n");
  const std::vector<std::size_t> order = shuffled_indices(n, seed);
  SplitIndices split;
  split.validation = detail::sorted_slice(order, 0, validation_count);
  split.train = detail::sorted_slice(order, validation_count, n);
  return split;
}

// Splits a pooled set of n images by ratios, for example 6:2:2; the ratios are normalized by
// their sum. Part boundaries are round(n * cumulative ratio), so each size is within one image of
// its exact share and the sizes add up to n. Throws std::invalid_argument if a ratio is negative
// or not finite, or if all are zero.
inline SplitIndices ratio_split(std::size_t n, double train, double validation, double test, std::uint64_t seed) {
  for (const double ratio : {train, validation, test})
    if (!(ratio >= 0 && std::isfinite(ratio)))
      throw std::invalid_argument("ratio_split: ratios must be non-negative and finite");
  const double total = train + validation + test;
  if (!(total > 0)) throw std::invalid_argument("ratio_split: at least one ratio must be positive");
  const auto boundary = [&](double share) {
    return std::min(n, static_cast<std::size_t>(std::round(static_cast<double>(n) * share / total)));
  };
  const std::size_t train_end = boundary(train);
  const std::size_t validation_end = std::max(train_end, boundary(train + validation));
  const std::vector<std::size_t> order = shuffled_indices(n, seed);
  SplitIndices split;
  split.train = detail::sorted_slice(order, 0, train_end);
  split.validation = detail::sorted_slice(order, train_end, validation_end);
  split.test = detail::sorted_slice(order, validation_end, n);
  return split;
}

// The images and labels at `indices`, in that order: how a split becomes data sets.
inline Dataset subset(const Dataset& dataset, std::span<const std::size_t> indices, std::string name) {
  Dataset part{std::move(name), dataset.channels, dataset.height, dataset.width, {}, {}};
  part.images.reserve(indices.size() * dataset.image_size());
  part.labels.reserve(indices.size());
  for (const std::size_t i : indices) {
    if (i >= dataset.size())
      throw std::out_of_range("subset: index " + std::to_string(i) + " is past the " + std::to_string(dataset.size()) +
                              " images of " + dataset.name);
    const auto image = dataset.image(i);
    part.images.insert(part.images.end(), image.begin(), image.end());
    part.labels.push_back(dataset.labels[i]);
  }
  return part;
}

}  // namespace ctnn
