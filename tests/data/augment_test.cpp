// Affine, noise, erasing, the combined `augment` and the parallel batch helper.
#include "ctnn/data/augment.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

constexpr std::size_t side = 28;
constexpr std::size_t pixels = side * side;

std::vector<float> gaussian_blob(double centre_x, double centre_y, double sigma) {
  std::vector<float> image(pixels);
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      const double x = static_cast<double>(column) - centre_x, y = static_cast<double>(row) - centre_y;
      image[row * side + column] = static_cast<float>(std::exp(-(x * x + y * y) / (2 * sigma * sigma)));
    }
  return image;
}

// A stroke-like pattern with distinct values, zero outside rows 8..18 and columns 9..17.
std::vector<float> compact_pattern() {
  std::vector<float> image(pixels, 0.0f);
  for (std::size_t row = 8; row <= 18; ++row)
    for (std::size_t column = 9; column <= 17; ++column)
      image[row * side + column] = static_cast<float>((row * 7 + column * 3) % 11) / 10.0f;
  return image;
}

double mass(const std::vector<float>& image) {
  double total = 0;
  for (const float value : image) total += value;
  return total;
}

struct Point {
  double x, y;
};

Point centre_of_mass(const std::vector<float>& image) {
  double x = 0, y = 0;
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      x += image[row * side + column] * static_cast<double>(column);
      y += image[row * side + column] * static_cast<double>(row);
    }
  return {x / mass(image), y / mass(image)};
}

// Mass-weighted mean of the squared distance to the image centre.
double second_moment(const std::vector<float>& image) {
  const double centre = (side - 1) / 2.0;
  double moment = 0;
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      const double x = static_cast<double>(column) - centre, y = static_cast<double>(row) - centre;
      moment += image[row * side + column] * (x * x + y * y);
    }
  return moment / mass(image);
}

bool same_bytes(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

ctnn::Augmentation everything() {
  ctnn::Augmentation augmentation;
  augmentation.affine = {15, 0.1f, 2, 10};
  augmentation.elastic = true;
  augmentation.erase_probability = 0.5f;
  augmentation.noise_stddev = 0.05f;
  return augmentation;
}

}  // namespace

TEST_CASE("augment apply_affine: the identity gives the input exactly") {
  const auto in = gaussian_blob(11.3, 15.7, 3.1);
  std::vector<float> out(pixels, -1.0f);
  ctnn::apply_affine({}, in, out, side, side);
  CHECK(same_bytes(in, out));
}

TEST_CASE("augment apply_affine: integer translations move the content exactly") {
  const auto in = compact_pattern();
  std::vector<float> out(pixels, -1.0f);
  ctnn::Affine shift;
  shift.translation_x = 3;
  shift.translation_y = -2;
  ctnn::apply_affine(shift, in, out, side, side);
  for (std::size_t row = 0; row < side; ++row)
    for (std::size_t column = 0; column < side; ++column) {
      const bool inside = row + 2 < side && column >= 3;
      const float expected = inside ? in[(row + 2) * side + column - 3] : 0.0f;
      REQUIRE(out[row * side + column] == expected);
    }
  const Point before = centre_of_mass(in), after = centre_of_mass(out);
  CHECK(after.x - before.x == doctest::Approx(3).epsilon(1e-12));
  CHECK(after.y - before.y == doctest::Approx(-2).epsilon(1e-12));
}

TEST_CASE("augment apply_affine: 90 degrees turns a right-hand pixel to the top, keeping mass") {
  // Centre (13.5, 13.5): (x, y) = (20, 10) is (+6.5, -3.5) from it; a counter-clockwise quarter
  // turn on screen (y down) sends (u, v) to (v, -u) = (-3.5, -6.5), that is (10, 7).
  const auto in = compact_pattern();
  std::vector<float> out(pixels);
  ctnn::Affine turn;
  turn.rotation_degrees = 90;
  ctnn::apply_affine(turn, in, out, side, side);
  for (std::size_t row = 8; row <= 18; ++row)
    for (std::size_t column = 9; column <= 17; ++column) {
      const std::size_t turned_row = side - 1 - column, turned_column = row;
      REQUIRE(out[turned_row * side + turned_column] == doctest::Approx(in[row * side + column]).epsilon(1e-5));
    }
  CHECK(out[7 * side + 10] == doctest::Approx(in[10 * side + 20]));
  CHECK(mass(out) == doctest::Approx(mass(in)).epsilon(0.01));

  const auto blob = gaussian_blob(13.5, 13.5, 3.0);
  std::vector<float> tilted(pixels);
  turn.rotation_degrees = 30;
  ctnn::apply_affine(turn, blob, tilted, side, side);
  CHECK(mass(tilted) == doctest::Approx(mass(blob)).epsilon(0.03));
}

TEST_CASE("augment apply_affine: scale 1.1 grows the second moment about the centre by 1.21") {
  const auto in = gaussian_blob(13.5, 13.5, 3.0);
  std::vector<float> out(pixels);
  ctnn::Affine grow;
  grow.scale = 1.1f;
  ctnn::apply_affine(grow, in, out, side, side);
  CHECK(second_moment(out) / second_moment(in) == doctest::Approx(1.21).epsilon(0.02));
  CHECK(mass(out) / mass(in) == doctest::Approx(1.21).epsilon(0.02));
}

TEST_CASE("augment sample_affine: draws inside the ranges, zero ranges give the identity") {
  ctnn::Rng rng(7);
  const ctnn::AffineRange range{10, 0.1f, 2, 5};
  for (int draw = 0; draw < 1000; ++draw) {
    const ctnn::Affine affine = ctnn::sample_affine(range, rng);
    REQUIRE(std::abs(affine.rotation_degrees) <= 10);
    REQUIRE(affine.scale >= 0.9f);
    REQUIRE(affine.scale <= 1.1f);
    REQUIRE(std::abs(affine.translation_x) <= 2);
    REQUIRE(std::abs(affine.translation_y) <= 2);
    REQUIRE(std::abs(affine.shear_degrees) <= 5);
  }
  const ctnn::Affine none = ctnn::sample_affine({}, rng);
  CHECK(none.rotation_degrees == 0);
  CHECK(none.scale == 1);
  CHECK(none.translation_x == 0);
  CHECK(none.translation_y == 0);
  CHECK(none.shear_degrees == 0);
}

TEST_CASE("augment add_gaussian_noise: the requested stddev on mid-grey, clipped to 0..1") {
  std::vector<float> image(100 * 100, 0.5f);
  ctnn::Rng rng(11);
  ctnn::add_gaussian_noise(image, 0.1f, rng);
  double sum = 0, squares = 0;
  for (const float value : image) {
    sum += value;
    squares += (value - 0.5) * (value - 0.5);
  }
  CHECK(sum / static_cast<double>(image.size()) == doctest::Approx(0.5).epsilon(0.01));
  CHECK(std::sqrt(squares / static_cast<double>(image.size())) == doctest::Approx(0.1).epsilon(0.05));

  std::vector<float> loud(100 * 100, 0.5f);
  ctnn::add_gaussian_noise(loud, 1.0f, rng);
  std::size_t at_bounds = 0;
  for (const float value : loud) {
    REQUIRE(value >= 0.0f);
    REQUIRE(value <= 1.0f);
    at_bounds += value == 0.0f || value == 1.0f;
  }
  CHECK(at_bounds > loud.size() / 4);  // P(|N(0,1)| > 0.5) is 0.62
}

TEST_CASE("augment random_erase: p = 1 zeroes one rectangle of area fraction in range, p = 0 nothing") {
  const ctnn::ErasingOptions options;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    CAPTURE(seed);
    std::vector<float> image(pixels, 1.0f);
    ctnn::Rng rng(seed);
    REQUIRE(ctnn::random_erase(image, side, side, 1.0f, options, rng));
    std::size_t zeros = 0, top = side, bottom = 0, left = side, right = 0;
    for (std::size_t row = 0; row < side; ++row)
      for (std::size_t column = 0; column < side; ++column)
        if (image[row * side + column] == 0.0f) {
          ++zeros;
          top = std::min(top, row), bottom = std::max(bottom, row);
          left = std::min(left, column), right = std::max(right, column);
        }
    REQUIRE(zeros > 0);
    CHECK(zeros == (bottom - top + 1) * (right - left + 1));  // a full rectangle
    const double fraction = static_cast<double>(zeros) / pixels;
    CHECK(fraction >= options.area_min);
    CHECK(fraction <= options.area_max);
    const double aspect = static_cast<double>(bottom - top + 1) / static_cast<double>(right - left + 1);
    CHECK(aspect >= 1.0 / 3.0 / 1.5);  // rounding to whole pixels may stretch the ratio a little
    CHECK(aspect <= 3.0 * 1.5);
  }

  const auto pattern = compact_pattern();
  auto untouched = pattern;
  ctnn::Rng rng(3);
  CHECK_FALSE(ctnn::random_erase(untouched, side, side, 0.0f, options, rng));
  CHECK(same_bytes(pattern, untouched));
}

TEST_CASE("augment random_erase: random fill stays in 0..1") {
  ctnn::ErasingOptions options;
  options.random_value = true;
  std::vector<float> image(pixels, 2.0f);
  ctnn::Rng rng(5);
  REQUIRE(ctnn::random_erase(image, side, side, 1.0f, options, rng));
  std::size_t filled = 0;
  for (const float value : image)
    if (value != 2.0f) {
      ++filled;
      CHECK(value >= 0.0f);
      CHECK(value < 1.0f);
    }
  CHECK(filled >= static_cast<std::size_t>(0.02 * pixels) - 1);
}

TEST_CASE("augment: a default Augmentation is exactly the identity") {
  const auto in = gaussian_blob(12.2, 14.9, 2.5);
  std::vector<float> out(pixels, -1.0f);
  ctnn::Rng rng(1);
  ctnn::ElasticScratch scratch;
  ctnn::augment({}, in, out, side, side, rng, scratch);
  CHECK(same_bytes(in, out));
  CHECK(rng() == ctnn::Rng(1)());  // and draws nothing
}

TEST_CASE("augment: the same seed gives the same bytes, another seed other bytes") {
  const auto in = gaussian_blob(13.5, 13.5, 4.0);
  const auto run = [&](std::uint64_t seed) {
    std::vector<float> out(pixels);
    ctnn::Rng rng(seed);
    ctnn::ElasticScratch scratch;
    ctnn::augment(everything(), in, out, side, side, rng, scratch);
    return out;
  };
  CHECK(same_bytes(run(42), run(42)));
  CHECK_FALSE(same_bytes(run(42), run(43)));
  for (const float value : run(42)) {
    REQUIRE(value >= 0.0f);
    REQUIRE(value <= 1.0f);
  }
}

TEST_CASE("augment_batch: independent of the thread count, equal to serial augment") {
  constexpr std::size_t dataset = 10;
  std::vector<float> images;
  for (std::size_t image = 0; image < dataset; ++image) {
    const auto blob = gaussian_blob(10.0 + static_cast<double>(image), 16.0 - 0.5 * static_cast<double>(image), 3.0);
    images.insert(images.end(), blob.begin(), blob.end());
  }
  const std::vector<std::size_t> indices{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5};
  const std::uint64_t seed = 2024;
  const auto run = [&]([[maybe_unused]] int threads) {
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
    std::vector<float> out(indices.size() * pixels);
    ctnn::augment_batch(everything(), images.data(), indices, out.data(), side, side, seed);
    return out;
  };
  const auto one = run(1), two = run(2);
  CHECK(same_bytes(one, two));

  ctnn::ElasticScratch scratch;
  for (std::size_t position = 0; position < indices.size(); ++position) {
    CAPTURE(position);
    ctnn::Rng rng(ctnn::augmentation_seed(seed, indices[position], position));
    std::vector<float> out(pixels);
    ctnn::augment(everything(), std::span<const float>(images).subspan(indices[position] * pixels, pixels), out, side,
                  side, rng, scratch);
    CHECK(std::memcmp(out.data(), one.data() + position * pixels, pixels * sizeof(float)) == 0);
  }
  // Image 1 sits at positions 1 and 3: a repeat is augmented afresh.
  CHECK(std::memcmp(one.data() + 1 * pixels, one.data() + 3 * pixels, pixels * sizeof(float)) != 0);
}
