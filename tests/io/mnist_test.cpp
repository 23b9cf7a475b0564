// The real MNIST and Fashion-MNIST files: sizes, class counts (from data/mnist/README.md), pixel range.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <filesystem>

#include <ctnn/io/data_path.hpp>

namespace {

const std::filesystem::path shared_data = CTNN_SOURCE_DIR "/../shared/data";

std::array<std::size_t, 10> class_counts(const ctnn::Dataset& dataset) {
  std::array<std::size_t, 10> counts{};
  for (const auto label : dataset.labels) ++counts.at(label);
  return counts;
}

void check_pixels(const ctnn::Dataset& dataset) {
  const auto [low, high] = std::minmax_element(dataset.images.begin(), dataset.images.end());
  CHECK(*low == 0.0f);
  CHECK(*high == 1.0f);
  CHECK(dataset.images.size() == dataset.size() * 28 * 28);
}

}  // namespace

TEST_CASE("idx: real MNIST training set") {
  const auto train = ctnn::load_mnist(ctnn::Split::train, shared_data);
  CHECK(train.name == "mnist");
  CHECK(train.size() == 60000);
  CHECK(train.channels == 1);
  CHECK(train.height == 28);
  CHECK(train.width == 28);
  CHECK(class_counts(train) == std::array<std::size_t, 10>{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949});
  CHECK(std::vector(train.labels.begin(), train.labels.begin() + 5) == std::vector<std::uint8_t>{5, 0, 4, 1, 9});
  check_pixels(train);
}

TEST_CASE("idx: real MNIST test set") {
  const auto test = ctnn::load_mnist(ctnn::Split::test, shared_data);
  CHECK(test.size() == 10000);
  CHECK(class_counts(test) == std::array<std::size_t, 10>{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009});
  check_pixels(test);
}

TEST_CASE("idx: real Fashion-MNIST from the Debian package") {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    MESSAGE("skipped: apt-get install dataset-fashion-mnist");
    return;
  }
  const auto test = ctnn::load_fashion_mnist(ctnn::Split::test);
  CHECK(test.size() == 10000);
  CHECK(class_counts(test) == std::array<std::size_t, 10>{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000});
  check_pixels(test);
  CHECK(ctnn::load_fashion_mnist(ctnn::Split::train).size() == 60000);
}
