// quantize/calibration.hpp: the ranges at every layer boundary are the minimum and maximum of
// the values there, checked against the same network run over the images as one mini-batch
// (Workspace, another code path); a percentile range clips a planted outlier and nothing else;
// the ranges do not depend on the thread count; bad arguments are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/quantize/calibration.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ctnn;

namespace {

using SmallNet = Net<Input<1, 6, 6>, Conv<3, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<4>, Dense<3>>;
constexpr std::size_t image_count = 40;

std::vector<tensor_of<SmallNet::in_shape>> random_images(std::uint64_t seed) {
  Rng rng(seed);
  std::vector<tensor_of<SmallNet::in_shape>> images(image_count);
  for (auto& image : images)
    for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform(-1.0f, 2.0f);
  return images;
}

void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

}  // namespace

TEST_CASE("calibration: each range is the minimum and maximum of the values at that boundary") {
  SmallNet net(3);
  const auto images = random_images(5);
  const std::vector<ActivationRange> ranges = calibrate(net, std::span<const tensor_of<SmallNet::in_shape>>(images));
  REQUIRE(ranges.size() == SmallNet::layer_count + 1);

  const auto ws = std::make_unique<Workspace<SmallNet, image_count>>();
  for (std::size_t b = 0; b < image_count; ++b) ws->input(b) = images[b];
  net.forward(*ws, Mode::eval);
  std::vector<ActivationRange> expected;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&](const auto& batch) {
          ActivationRange range{batch[0][0], batch[0][0]};
          for (const auto& tensor : batch)
            for (const float value : tensor.span()) {
              range.min = std::min(range.min, value);
              range.max = std::max(range.max, value);
            }
          expected.push_back(range);
        }(ws->template activations<I>()),
        ...);
  }
  (std::make_index_sequence<SmallNet::layer_count + 1>{});
  for (std::size_t b = 0; b < ranges.size(); ++b) {
    CAPTURE(b);
    // The batch kernels sum in another order than the single-image ones: equal within rounding.
    const float tolerance = 1e-5f * (std::fabs(expected[b].min) + std::fabs(expected[b].max) + 1);
    CHECK(std::fabs(ranges[b].min - expected[b].min) <= tolerance);
    CHECK(std::fabs(ranges[b].max - expected[b].max) <= tolerance);
  }
  CHECK(ranges[3].min == 0.0f);  // after the ReLU
}

TEST_CASE("calibration: a percentile range clips a planted outlier and keeps the rest") {
  SmallNet net(3);
  Rng rng(7);
  std::vector<tensor_of<SmallNet::in_shape>> images(200);
  for (auto& image : images)
    for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform(0.0f, 1.0f);
  images[17][5] = 50.0f;  // 1 value of 7,200
  const auto inputs = std::span<const tensor_of<SmallNet::in_shape>>(images);
  CHECK(calibrate(net, inputs, 100)[0].max == 50.0f);
  const ActivationRange clipped = calibrate(net, inputs, 99.9)[0];
  // 0.1% is 7.2 values at each end; the histogram's bins are 50 / 4096 wide.
  CHECK(clipped.max >= 0.99f);
  CHECK(clipped.max <= 1.0f + 2 * 50.0f / 4096);
  CHECK(clipped.min >= 0.0f);
  CHECK(clipped.min <= 0.01f);
}

TEST_CASE("calibration: the ranges do not depend on the thread count") {
  SmallNet net(11);
  const auto images = random_images(13);
  const auto inputs = std::span<const tensor_of<SmallNet::in_shape>>(images);
  for (const double percentile : {100.0, 99.0}) {
    set_threads(1);
    const auto one = calibrate(net, inputs, percentile);
    set_threads(2);
    const auto two = calibrate(net, inputs, percentile);
    for (std::size_t b = 0; b < one.size(); ++b) {
      CHECK(one[b].min == two[b].min);
      CHECK(one[b].max == two[b].max);
    }
  }
}

TEST_CASE("calibration: a data set is normalized, and bad arguments are refused") {
  SmallNet net(3);
  Dataset data{"flat", 1, 6, 6, std::vector<float>(3 * 36, 0.75f), std::vector<std::uint8_t>(3, 0)};
  const auto ranges = calibrate(net, data, Normalization{0.25f, 2.0f}, CalibrationOptions{.images = 2});
  CHECK(ranges[0].min == 0.25f);
  CHECK(ranges[0].max == 0.25f);
  Dataset wrong{"wrong", 1, 5, 5, std::vector<float>(25, 0.0f), std::vector<std::uint8_t>(1, 0)};
  CHECK_THROWS_AS(calibrate(net, wrong, Normalization{}, CalibrationOptions{}), std::invalid_argument);
  CHECK_THROWS_AS(calibrate(net, std::span<const tensor_of<SmallNet::in_shape>>()), std::invalid_argument);
  const auto images = random_images(1);
  CHECK_THROWS_AS(calibrate(net, std::span<const tensor_of<SmallNet::in_shape>>(images), 40.0), std::invalid_argument);
}
