// Normalization statistics, seeded shuffles and dataset splits.
#include "ctnn/data/preprocess.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace {

bool is_permutation_of_range(std::vector<std::size_t> indices, std::size_t n) {
  if (indices.size() != n) return false;
  std::sort(indices.begin(), indices.end());
  for (std::size_t i = 0; i < n; ++i)
    if (indices[i] != i) return false;
  return true;
}

// Disjoint and covering 0..n-1, each part sorted.
void check_partition(const ctnn::SplitIndices& split, std::size_t n) {
  CHECK(std::is_sorted(split.train.begin(), split.train.end()));
  CHECK(std::is_sorted(split.validation.begin(), split.validation.end()));
  CHECK(std::is_sorted(split.test.begin(), split.test.end()));
  std::vector<std::size_t> all = split.train;
  all.insert(all.end(), split.validation.begin(), split.validation.end());
  all.insert(all.end(), split.test.begin(), split.test.end());
  CHECK(is_permutation_of_range(all, n));
}

}  // namespace

TEST_CASE("compute_normalization: mean and population stddev of a known vector") {
  const std::vector<float> pixels{1, 2, 3, 4, 5, 6, 7, 8};
  const ctnn::Normalization stats = ctnn::compute_normalization(pixels);
  CHECK(stats.mean == doctest::Approx(4.5));
  CHECK(stats.stddev == doctest::Approx(std::sqrt(5.25)));  // sum of (x - 4.5)^2 is 42, over 8

  const std::vector<float> constant(1000, 0.25f);
  const ctnn::Normalization flat = ctnn::compute_normalization(constant);
  CHECK(flat.mean == 0.25f);
  CHECK(flat.stddev == 0.0f);
  CHECK_THROWS_AS(ctnn::compute_normalization(std::vector<float>{}), std::invalid_argument);
}

TEST_CASE("normalize: zero mean and unit stddev, denormalize undoes it") {
  std::vector<float> pixels;
  for (int i = 0; i < 1000; ++i) pixels.push_back(static_cast<float>((i * 37) % 101) / 100.0f);
  const auto original = pixels;
  const ctnn::Normalization stats = ctnn::compute_normalization(pixels);
  ctnn::normalize(pixels, stats);
  const ctnn::Normalization after = ctnn::compute_normalization(pixels);
  CHECK(after.mean == doctest::Approx(0.0).epsilon(1e-5));
  CHECK(std::abs(after.mean) < 1e-5f);
  CHECK(after.stddev == doctest::Approx(1.0).epsilon(1e-5));
  ctnn::denormalize(pixels, stats);
  for (std::size_t i = 0; i < pixels.size(); ++i) REQUIRE(pixels[i] == doctest::Approx(original[i]).epsilon(1e-5));

  CHECK_THROWS_AS(ctnn::normalize(pixels, {0.5f, 0.0f}), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::normalize(pixels, {0.5f, -1.0f}), std::invalid_argument);
}

TEST_CASE("shuffled_indices: a permutation fixed by the seed") {
  const auto a = ctnn::shuffled_indices(1000, 1), b = ctnn::shuffled_indices(1000, 1);
  const auto c = ctnn::shuffled_indices(1000, 2);
  CHECK(is_permutation_of_range(a, 1000));
  CHECK(is_permutation_of_range(c, 1000));
  CHECK(a == b);
  CHECK(a != c);
  CHECK_FALSE(std::is_sorted(a.begin(), a.end()));
  CHECK(ctnn::shuffled_indices(0, 1).empty());
  CHECK(ctnn::shuffled_indices(1, 1) == std::vector<std::size_t>{0});

  // Every element should land in every slot about equally often: 3! orders of 3 elements.
  std::vector<int> counts(6, 0);
  for (std::uint64_t seed = 0; seed < 6000; ++seed) {
    const auto order = ctnn::shuffled_indices(3, seed);
    ++counts[order[0] * 2 + (order[1] > order[2] ? 1 : 0)];
  }
  for (const int count : counts) CHECK(std::abs(count - 1000) < 120);
}

TEST_CASE("holdout_split: 5000 of 60000 for validation") {
  const ctnn::SplitIndices split = ctnn::holdout_split(60000, 5000, 123);
  CHECK(split.train.size() == 55000);
  CHECK(split.validation.size() == 5000);
  CHECK(split.test.empty());
  check_partition(split, 60000);
  const ctnn::SplitIndices again = ctnn::holdout_split(60000, 5000, 123);
  CHECK(again.validation == split.validation);
  CHECK(ctnn::holdout_split(60000, 5000, 124).validation != split.validation);
  CHECK_THROWS_AS(ctnn::holdout_split(10, 11, 1), std::invalid_argument);
}

TEST_CASE("ratio_split: 6:2:2 of 1000 gives 600/200/200 and ratios are normalized") {
  for (const auto& ratios : {std::vector<double>{6, 2, 2}, {0.6, 0.2, 0.2}, {3, 1, 1}}) {
    const ctnn::SplitIndices split = ctnn::ratio_split(1000, ratios[0], ratios[1], ratios[2], 9);
    CHECK(split.train.size() == 600);
    CHECK(split.validation.size() == 200);
    CHECK(split.test.size() == 200);
    check_partition(split, 1000);
  }
  const ctnn::SplitIndices thirds = ctnn::ratio_split(7, 1, 1, 1, 3);
  check_partition(thirds, 7);
  CHECK(thirds.train.size() + thirds.validation.size() + thirds.test.size() == 7);
  const ctnn::SplitIndices all_train = ctnn::ratio_split(70000, 1, 0, 0, 3);
  CHECK(all_train.train.size() == 70000);
  CHECK(all_train.validation.empty());
  CHECK(all_train.test.empty());
}

TEST_CASE("ratio_split: rejects negative and all-zero ratios") {
  CHECK_THROWS_AS(ctnn::ratio_split(100, -1, 1, 1, 1), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::ratio_split(100, 0, 0, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::ratio_split(100, 1, NAN, 1, 1), std::invalid_argument);
}
