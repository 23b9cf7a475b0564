// The real usps.h5: sizes, first labels and class counts (from data/usps/README.md), pixel range.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include <ctnn/io/data_path.hpp>
#include <ctnn/io/usps.hpp>

namespace {

const std::filesystem::path shared_data = CTNN_SOURCE_DIR "/../shared/data";

std::array<std::size_t, 10> class_counts(const ctnn::Dataset& dataset) {
  std::array<std::size_t, 10> counts{};
  for (const auto label : dataset.labels) ++counts.at(label);
  return counts;
}

}  // namespace

TEST_CASE("usps: real training set") {
  const auto train = ctnn::load_usps(ctnn::Split::train, shared_data);
  CHECK(train.name == "usps");
  CHECK(train.size() == 7291);
  CHECK(train.channels == 1);
  CHECK(train.height == 16);
  CHECK(train.width == 16);
  CHECK(train.images.size() == 7291 * 256);
  CHECK(std::vector(train.labels.begin(), train.labels.begin() + 10) ==
        std::vector<std::uint8_t>{6, 5, 4, 7, 3, 6, 3, 1, 0, 1});
  CHECK(class_counts(train) == std::array<std::size_t, 10>{1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644});
  const auto [low, high] = std::minmax_element(train.images.begin(), train.images.end());
  CHECK(*low >= 0.0f);
  CHECK(*high <= 1.0f);
  CHECK(*high > 0.9f);
}

TEST_CASE("usps: real test set by path") {
  const auto test = ctnn::load_usps(shared_data / "usps" / "usps.h5", ctnn::Split::test);
  CHECK(test.size() == 2007);
  CHECK(class_counts(test) == std::array<std::size_t, 10>{359, 264, 198, 166, 200, 160, 170, 147, 166, 177});
  CHECK(ctnn::load_usps(ctnn::Split::test, shared_data / "usps" / "usps.h5").labels == test.labels);
}
