// Elastic distortion (Simard et al. 2003): identity at alpha = 0, bounded drift at the paper's values.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "ctnn/data/augment.hpp"

namespace {

constexpr std::size_t side = 28;
constexpr std::size_t pixels = side * side;

// A digit-like "0": an elliptical ring of radii 5 x 8 and stroke about 2.5 pixels wide, centred.
std::vector<float> ring_digit() {
  std::vector<float> image(pixels);
  const double centre = (side - 1) / 2.0;
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      const double x = (static_cast<double>(column) - centre) / 5.0, y = (static_cast<double>(row) - centre) / 8.0;
      const double distance = (std::sqrt(x * x + y * y) - 1.0) * 6.5;  // roughly pixels from the stroke
      image[row * side + column] = static_cast<float>(std::exp(-distance * distance / (2 * 1.2 * 1.2)));
    }
  return image;
}

double mass(const std::vector<float>& image) {
  double total = 0;
  for (const float value : image) total += value;
  return total;
}

std::pair<double, double> centre_of_mass(const std::vector<float>& image) {
  double x = 0, y = 0;
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      x += image[row * side + column] * static_cast<double>(column);
      y += image[row * side + column] * static_cast<double>(row);
    }
  return {x / mass(image), y / mass(image)};
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("elastic_distort: alpha = 0 is exactly the identity") {
  const auto in = ring_digit();
  std::vector<float> out(pixels, -1.0f);
  ctnn::Rng rng(9);
  ctnn::ElasticScratch scratch;
  ctnn::elastic_distort({0, 4}, in, out, side, side, rng, scratch);
  CHECK(same_bytes(in, out));
}

// At the paper's values a single image's ink can change by 20% or more: the field's gradient has a
// standard deviation near 0.25 (1.4 pixels of displacement varying over sigma = 4), and mass scales
// with the local area change 1 - div d. So the bounds of ~10% and ~1.5 pixels hold for the typical
// image (the median over seeds) and on average, not for every draw.
TEST_CASE("elastic_distort: the paper's alpha = 34, sigma = 4 keep mass and centre") {
  const auto in = ring_digit();
  const auto [centre_x, centre_y] = centre_of_mass(in);
  ctnn::ElasticScratch scratch;
  constexpr std::size_t draws = 200;
  std::vector<double> mass_changes, centre_shifts;
  double mass_ratio_sum = 0, shift_x_sum = 0, shift_y_sum = 0, squares = 0;
  for (std::uint64_t seed = 0; seed < draws; ++seed) {
    CAPTURE(seed);
    std::vector<float> out(pixels);
    ctnn::Rng rng(seed);
    ctnn::elastic_distort({}, in, out, side, side, rng, scratch);
    REQUIRE_FALSE(same_bytes(in, out));
    const double ratio = mass(out) / mass(in);
    const auto [x, y] = centre_of_mass(out);
    CHECK(std::abs(ratio - 1) < 0.6);
    CHECK(std::hypot(x - centre_x, y - centre_y) < 4.0);
    mass_changes.push_back(std::abs(ratio - 1));
    centre_shifts.push_back(std::hypot(x - centre_x, y - centre_y));
    mass_ratio_sum += ratio;
    shift_x_sum += x - centre_x;
    shift_y_sum += y - centre_y;

    for (std::size_t i = 0; i < pixels; ++i) squares += scratch.dx()[i] * scratch.dx()[i];
  }
  // Uniform [-1, 1] noise (variance 1/3) under a normalized 2-D Gaussian keeps variance
  // 1/3 / (4 pi sigma^2) per axis: 34 * 0.041 = 1.4 pixels, a little less near the zero-padded
  // borders. One 28x28 field has few independent degrees of freedom, so check the average.
  const double rms = std::sqrt(squares / (pixels * draws));
  CHECK(rms > 1.0);
  CHECK(rms < 1.5);
  const auto median = [](std::vector<double> values) {
    std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2), values.end());
    return values[values.size() / 2];
  };
  CHECK(median(mass_changes) < 0.10);
  CHECK(median(centre_shifts) < 1.5);
  CHECK(mass_ratio_sum / draws == doctest::Approx(1.0).epsilon(0.03));
  CHECK(std::hypot(shift_x_sum, shift_y_sum) / draws < 0.5);
}

TEST_CASE("elastic_distort: a gentler alpha = 10 keeps every image within 15% of its mass and 1.5 pixels") {
  const auto in = ring_digit();
  const auto [centre_x, centre_y] = centre_of_mass(in);
  ctnn::ElasticScratch scratch;
  for (std::uint64_t seed = 0; seed < 200; ++seed) {
    CAPTURE(seed);
    std::vector<float> out(pixels);
    ctnn::Rng rng(seed);
    ctnn::elastic_distort({10, 4}, in, out, side, side, rng, scratch);
    CHECK(mass(out) == doctest::Approx(mass(in)).epsilon(0.15));
    const auto [x, y] = centre_of_mass(out);
    CHECK(std::hypot(x - centre_x, y - centre_y) < 1.5);
  }
}

TEST_CASE("elastic_distort: one seed, one result, whatever the scratch has seen before") {
  const auto in = ring_digit();
  ctnn::ElasticScratch fresh, used;
  std::vector<float> a(pixels), b(pixels), c(pixels);
  ctnn::Rng warm_up(1);
  ctnn::elastic_distort({20, 2}, in, c, side, side, warm_up, used);  // leaves a sigma = 2 kernel behind
  ctnn::Rng first(77), second(77), other(78);
  ctnn::elastic_distort({}, in, a, side, side, first, fresh);
  ctnn::elastic_distort({}, in, b, side, side, second, used);
  CHECK(same_bytes(a, b));
  ctnn::elastic_distort({}, in, c, side, side, other, used);
  CHECK_FALSE(same_bytes(a, c));
}

TEST_CASE("augment: elastic alone equals elastic_distort, drawing the same numbers") {
  const auto in = ring_digit();
  ctnn::Augmentation augmentation;
  augmentation.elastic = true;
  ctnn::ElasticScratch scratch;
  std::vector<float> fused(pixels), direct(pixels);
  ctnn::Rng first(5), second(5);
  ctnn::augment(augmentation, in, fused, side, side, first, scratch);
  ctnn::elastic_distort({}, in, direct, side, side, second, scratch);
  CHECK(same_bytes(fused, direct));
  CHECK(first() == second());
}
