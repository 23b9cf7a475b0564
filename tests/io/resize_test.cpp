// Bilinear resizing: constants stay constant, identity is exact, upscaled ink mass scales with area.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <utility>

#include <ctnn/io/data_path.hpp>
#include <ctnn/io/resize.hpp>

namespace {

ctnn::Dataset constant_dataset(std::size_t height, std::size_t width, float value) {
  ctnn::Dataset dataset;
  dataset.name = "constant";
  dataset.channels = 2;
  dataset.height = height;
  dataset.width = width;
  dataset.labels = {3, 4};
  dataset.images.assign(2 * 2 * height * width, value);
  return dataset;
}

double ink(std::span<const float> values) { return std::accumulate(values.begin(), values.end(), 0.0); }

}  // namespace

TEST_CASE("usps resize: a constant image stays constant up and down") {
  for (const auto& [height, width] : {std::pair<std::size_t, std::size_t>{28, 28}, {7, 5}, {1, 1}, {40, 3}}) {
    const auto resized = ctnn::resize_bilinear(constant_dataset(16, 16, 0.625f), height, width);
    CHECK(resized.channels == 2);
    CHECK(resized.labels == std::vector<std::uint8_t>{3, 4});
    REQUIRE(resized.images.size() == 4 * height * width);
    for (const float value : resized.images) CHECK(value == doctest::Approx(0.625f));
  }
}

TEST_CASE("usps resize: same size is the identity") {
  auto dataset = constant_dataset(5, 7, 0.0f);
  std::iota(dataset.images.begin(), dataset.images.end(), 0.0f);
  CHECK(ctnn::resize_bilinear(dataset, 5, 7).images == dataset.images);
}

TEST_CASE("usps resize: 16x16 to 28x28 keeps the ink mass up to the area ratio") {
  const auto usps = ctnn::load_usps(ctnn::Split::test, CTNN_SOURCE_DIR "/../shared/data");
  const auto resized = ctnn::resize_bilinear(usps, 28, 28);
  CHECK(resized.height == 28);
  CHECK(resized.width == 28);
  CHECK(resized.size() == usps.size());
  CHECK(resized.labels == usps.labels);
  const double ratio = 28.0 * 28.0 / (16.0 * 16.0);
  CHECK(ink(resized.images) == doctest::Approx(ink(usps.images) * ratio).epsilon(0.03));
  for (const std::size_t i : {0u, 1u, 1000u, 2006u})
    CHECK(ink(resized.image(i)) == doctest::Approx(ink(usps.image(i)) * ratio).epsilon(0.08));
  const auto [low, high] = std::minmax_element(resized.images.begin(), resized.images.end());
  CHECK(*low >= 0.0f);
  CHECK(*high <= 1.0f);
}

TEST_CASE("usps resize: an empty target size is refused") {
  CHECK_THROWS_AS(ctnn::resize_bilinear(constant_dataset(4, 4, 1.0f), 0, 4), ctnn::DataError);
}
