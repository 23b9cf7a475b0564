// The MNIST preparation on digits the test draws: thick and thin pens, both polarities, large
// canvases and off-centre digits, wide and tall shapes. Every output has its ink box fitting
// 20x20 with the longer side 20, its centre of mass within half a pixel of (14, 14), ink 1 on
// paper 0; blank pages are NoInkErrors. The pieces (distance transform, stroke width, resampling,
// components, Otsu's threshold) are checked on hand-computed cases.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/data/digit_preparation.hpp>

#include "support/digit_drawing.hpp"

namespace {

using ctnn::GrayImage;
using namespace ctnn::test;  // Point, draw_polyline, ellipse, seven, page

// What the tests check of a prepared digit.
struct Measures {
  std::size_t top = 28, left = 28, bottom = 0, right = 0;  // box of every pixel above 0
  double row = 0, column = 0;                              // centre of mass
  float brightest = 0;
  std::size_t height() const { return bottom - top; }
  std::size_t width() const { return right - left; }
};

Measures measure(const ctnn::PreparedDigit& digit) {
  Measures m;
  double mass = 0;
  for (std::size_t r = 0; r < 28; ++r)
    for (std::size_t c = 0; c < 28; ++c) {
      const float value = digit.pixels[r * 28 + c];
      if (value <= 0) continue;
      m.top = std::min(m.top, r);
      m.left = std::min(m.left, c);
      m.bottom = std::max(m.bottom, r + 1);
      m.right = std::max(m.right, c + 1);
      mass += value;
      m.row += value * static_cast<double>(r);
      m.column += value * static_cast<double>(c);
      m.brightest = std::max(m.brightest, value);
    }
  m.row /= mass;
  m.column /= mass;
  return m;
}

void check_mnist_layout(const ctnn::PreparedDigit& digit) {
  const Measures m = measure(digit);
  CHECK(std::max(m.height(), m.width()) == 20);
  CHECK(std::min(m.height(), m.width()) <= 20);
  CHECK(std::abs(m.row - 14) <= 0.5 + 1e-6);  // a whole-pixel shift: at most half a pixel off
  CHECK(std::abs(m.column - 14) <= 0.5 + 1e-6);
  CHECK(m.brightest == doctest::Approx(1.0f));
  for (const float value : digit.pixels) {
    CHECK(value >= 0);
    CHECK(value <= 1);
  }
}

double mean_difference(const ctnn::PreparedDigit& a, const ctnn::PreparedDigit& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.pixels.size(); ++i) sum += std::abs(a.pixels[i] - b.pixels[i]);
  return sum / static_cast<double>(a.pixels.size());
}

// A ring and a 7 in a box of `size` pixels at (left, top), drawn with `pen`.
GrayImage ring(std::size_t height, std::size_t width, double left, double top, double size, double pen) {
  GrayImage coverage(height, width);
  draw_polyline(coverage, ellipse(left + 0.3 * size, top + 0.5 * size, 0.28 * size, 0.48 * size), pen);
  return coverage;
}

GrayImage seven_drawing(std::size_t height, std::size_t width, double left, double top, double size, double pen) {
  GrayImage coverage(height, width);
  draw_polyline(coverage, seven(left, top, 0.6 * size, size), pen);
  return coverage;
}

}  // namespace

TEST_CASE("prepare_digit: any canvas, pen and position gives MNIST's layout") {
  struct Case {
    std::string name;
    GrayImage coverage;
  };
  const Case cases[] = {
      {"ring, medium pen, small canvas", ring(120, 100, 30, 15, 90, 8)},
      {"ring, thick pen, 1000x800 canvas", ring(800, 1000, 300, 100, 600, 60)},
      {"ring, thin pen, 1000x800 canvas", ring(800, 1000, 300, 100, 600, 2)},
      {"seven, off-centre in a corner of 1000x800", seven_drawing(800, 1000, 820, 600, 150, 12)},
      {"seven, near the top-left of 1000x800", seven_drawing(800, 1000, 5, 5, 200, 5)},
      {"small seven in a 28x28 image", seven_drawing(28, 28, 9, 9, 10, 2)},
  };
  for (const Case& test_case : cases) {
    CAPTURE(test_case.name);  // clang 14 cannot capture a structured binding
    const GrayImage& coverage = test_case.coverage;
    for (const bool dark_ink : {true, false}) {
      CAPTURE(dark_ink);
      const auto digit = ctnn::prepare_digit(dark_ink ? page(coverage, 1.0f, 0.05f) : page(coverage, 0.0f, 0.9f));
      CHECK(digit.inverted == dark_ink);
      check_mnist_layout(digit);
    }
  }
}

TEST_CASE("prepare_digit: both polarities and a dim gray photo give the same digit") {
  const GrayImage coverage = seven_drawing(300, 260, 60, 40, 200, 14);
  const auto dark_on_light = ctnn::prepare_digit(page(coverage, 1.0f, 0.0f));
  const auto light_on_dark = ctnn::prepare_digit(page(coverage, 0.0f, 1.0f));
  CHECK(dark_on_light.inverted);
  CHECK_FALSE(light_on_dark.inverted);
  CHECK(mean_difference(dark_on_light, light_on_dark) < 1e-3);
  // Gray paper at 0.45 with ink at 0.15 and noise: the median is paper, the mean leans to the ink.
  GrayImage photo = page(coverage, 0.45f, 0.15f);
  ctnn::Rng rng(3);
  for (float& value : photo.pixels) value += rng.normal(0, 0.02f);
  const auto from_photo = ctnn::prepare_digit(photo);
  CHECK(from_photo.inverted);
  check_mnist_layout(from_photo);
  CHECK(mean_difference(dark_on_light, from_photo) < 0.03);
}

TEST_CASE("prepare_digit: a page lit unevenly reads as one lit evenly") {
  // 25% darker from left to right, and a vignette: the 7's ink on the bright side is lighter than
  // the paper on the dark side, so no single threshold separates them.
  const GrayImage coverage = seven_drawing(600, 800, 300, 100, 400, 6);
  GrayImage lit = page(coverage, 0.95f, 0.35f);
  for (std::size_t r = 0; r < lit.height; ++r)
    for (std::size_t c = 0; c < lit.width; ++c) {
      const double x = static_cast<double>(c) / 800 - 0.5, y = static_cast<double>(r) / 600 - 0.5;
      lit(r, c) *= static_cast<float>((1 - 0.25 * (x + 0.5)) * (1 - 0.3 * (x * x + y * y)));
    }
  const auto even = ctnn::prepare_digit(page(coverage, 0.95f, 0.35f));
  const auto uneven = ctnn::prepare_digit(lit);
  check_mnist_layout(uneven);
  CHECK(mean_difference(even, uneven) < 0.02);
}

TEST_CASE("paper surface: a smooth page without ink is fitted exactly") {
  GrayImage shaded(90, 120);
  for (std::size_t r = 0; r < shaded.height; ++r)
    for (std::size_t c = 0; c < shaded.width; ++c) {
      const double x = static_cast<double>(c) / 120, y = static_cast<double>(r) / 90;
      shaded(r, c) = static_cast<float>(0.9 - 0.2 * x + 0.1 * y - 0.15 * x * x);
    }
  const ctnn::detail::PaperSurface surface(shaded, 0.5);
  for (std::size_t r = 0; r < shaded.height; r += 7)
    for (std::size_t c = 0; c < shaded.width; c += 7)
      CHECK(surface(r, c) == doctest::Approx(shaded(r, c)).epsilon(0.01));
}

TEST_CASE("prepare_digit: where and how large the digit is drawn does not matter") {
  const auto small = ctnn::prepare_digit(page(seven_drawing(120, 110, 20, 10, 100, 10)));
  const auto large_off_centre = ctnn::prepare_digit(page(seven_drawing(800, 1000, 600, 150, 600, 60)));
  CHECK(mean_difference(small, large_off_centre) < 0.03);
}

TEST_CASE("prepare_digit: the aspect ratio is kept") {
  // A flat bar 300x60 and an upright one 40x400, filled.
  GrayImage flat(200, 500), tall(600, 300);
  for (std::size_t r = 70; r < 130; ++r)
    for (std::size_t c = 100; c < 400; ++c) flat(r, c) = 1;
  for (std::size_t r = 100; r < 500; ++r)
    for (std::size_t c = 130; c < 170; ++c) tall(r, c) = 1;
  const Measures wide = measure(ctnn::prepare_digit(page(flat)));
  CHECK(wide.width() == 20);
  CHECK(wide.height() >= 4);  // 60 / 300 * 20, up to a partly covered row
  CHECK(wide.height() <= 5);
  const Measures upright = measure(ctnn::prepare_digit(page(tall)));
  CHECK(upright.height() == 20);
  CHECK(upright.width() >= 2);  // 40 / 400 * 20
  CHECK(upright.width() <= 3);
}

TEST_CASE("prepare_digit: strokes far thinner or thicker than MNIST's are brought to its width") {
  // Output stroke widths by the same estimate: a 2-pixel pen on a 600-pixel ring is 0.07.
  const auto thin = ctnn::prepare_digit(page(ring(800, 1000, 300, 100, 600, 2)));
  CHECK(thin.stroke_width < 0.1f);
  CHECK(thin.stroke_change > 0);
  const float thin_after = ctnn::detail::estimate_stroke_width(thin.image(), 0.5f);
  CHECK(thin_after > 1.8f);
  CHECK(thin_after < 3.5f);
  // 16 pixels on 200 is 1.6 after scaling: inside MNIST's range, left as drawn.
  const auto medium = ctnn::prepare_digit(page(ring(300, 300, 60, 40, 200, 16)));
  CHECK(medium.stroke_change == 0);
  CHECK(medium.stroke_width == doctest::Approx(1.6f).epsilon(0.1));
  // 130 pixels on 260 (a marker in a small box) is about 7: thinned, and still a ring with a hole.
  const auto bold = ctnn::prepare_digit(page(ring(600, 500, 100, 100, 260, 130)));
  CHECK(bold.stroke_width > 6);
  CHECK(bold.stroke_change < 0);
  check_mnist_layout(bold);
  CHECK(bold.pixels[14 * 28 + 14] < 0.5f);
}

TEST_CASE("prepare_digit: specks are erased") {
  const GrayImage clean = seven_drawing(400, 500, 150, 80, 240, 16);
  GrayImage specked = clean;
  for (const auto& [row, column] :
       {std::pair<std::size_t, std::size_t>{10, 10}, {390, 20}, {20, 480}, {380, 470}, {200, 40}})
    for (std::size_t r = row; r < row + 3; ++r)
      for (std::size_t c = column; c < column + 3; ++c) specked(r, c) = 1;
  const auto without = ctnn::prepare_digit(page(clean));
  const auto with = ctnn::prepare_digit(page(specked));
  CHECK(with.specks == 5);
  CHECK(without.specks == 0);
  CHECK(with.ink_box.top == without.ink_box.top);
  CHECK(with.ink_box.width == without.ink_box.width);
  CHECK(mean_difference(with, without) < 1e-6);
}

TEST_CASE("prepare_digit: an MNIST-style digit prepared again barely changes") {
  const auto once = ctnn::prepare_digit(page(ring(300, 300, 60, 40, 200, 22), 0.0f, 1.0f));
  const auto twice = ctnn::prepare_digit(once.image());
  CHECK_FALSE(twice.inverted);
  CHECK(mean_difference(once, twice) < 0.02);
}

TEST_CASE("prepare_digit: blank, faint and tiny images are refused with a reason") {
  CHECK_THROWS_AS(ctnn::prepare_digit(GrayImage(200, 300, 1.0f)), ctnn::NoInkError);
  CHECK_THROWS_AS(ctnn::prepare_digit(GrayImage(200, 300, 0.5f)), ctnn::NoInkError);
  CHECK_THROWS_AS(ctnn::prepare_digit(GrayImage(200, 300, 0.0f)), ctnn::NoInkError);
  GrayImage noise(200, 300);
  ctnn::Rng rng(5);
  for (float& value : noise.pixels) value = 0.9f + rng.normal(0, 0.01f);
  CHECK_THROWS_WITH_AS(ctnn::prepare_digit(noise), doctest::Contains("no ink"), ctnn::NoInkError);
  // A 7 at 5% contrast is too faint to tell from the paper.
  CHECK_THROWS_AS(ctnn::prepare_digit(page(seven_drawing(200, 200, 40, 20, 150, 10), 0.9f, 0.85f)), ctnn::NoInkError);
  CHECK_THROWS_WITH_AS(ctnn::prepare_digit(GrayImage(1, 1, 0.0f)), doctest::Contains("too small to hold a digit"),
                       ctnn::DataError);
  CHECK_THROWS_AS(ctnn::prepare_digit(GrayImage(7, 5, 0.0f)), ctnn::DataError);
  CHECK_THROWS_AS(ctnn::prepare_digit(GrayImage()), ctnn::DataError);
  CHECK_THROWS_AS(ctnn::prepare_ink(GrayImage(50, 50, 0.0f)), ctnn::NoInkError);
}

TEST_CASE("prepare_digit: NaN and out-of-range pixels are clamped, not trusted") {
  GrayImage image = page(seven_drawing(100, 100, 20, 10, 80, 8));
  image(0, 0) = std::numeric_limits<float>::quiet_NaN();
  image(0, 1) = 7;
  image(1, 0) = -3;
  check_mnist_layout(ctnn::prepare_digit(image));
}

TEST_CASE("squared distance transform: exact on hand-computed cases") {
  // 5x6 with ink at (1, 1) and (3, 4): each pixel's squared distance to the nearer.
  std::vector<std::uint8_t> on(30, 0);
  on[1 * 6 + 1] = on[3 * 6 + 4] = 1;
  const auto distance = ctnn::detail::squared_distance_transform(on, 5, 6);
  for (std::size_t r = 0; r < 5; ++r)
    for (std::size_t c = 0; c < 6; ++c) {
      const auto square = [](std::ptrdiff_t v) { return static_cast<float>(v * v); };
      const auto rr = static_cast<std::ptrdiff_t>(r), cc = static_cast<std::ptrdiff_t>(c);
      const float expected = std::min(square(rr - 1) + square(cc - 1), square(rr - 3) + square(cc - 4));
      CHECK(distance[r * 6 + c] == expected);
    }
  const auto none = ctnn::detail::squared_distance_transform(std::vector<std::uint8_t>(6, 0), 2, 3);
  for (const float value : none) CHECK(value == std::numeric_limits<float>::infinity());
}

TEST_CASE("stroke width estimate: twice the ink over the corrected perimeter") {
  // A long straight stroke of width w reads about w, at any angle.
  for (const double pen : {3.0, 8.0, 20.0})
    for (const double angle : {0.0, 30.0, 45.0}) {
      CAPTURE(pen);
      CAPTURE(angle);
      GrayImage coverage(600, 600);
      const double a = angle * std::numbers::pi / 180;
      draw_polyline(
          coverage,
          {{300 - 250 * std::cos(a), 300 - 250 * std::sin(a)}, {300 + 250 * std::cos(a), 300 + 250 * std::sin(a)}},
          pen);
      CHECK(ctnn::detail::estimate_stroke_width(coverage, 0.5f) == doctest::Approx(pen).epsilon(0.2));
    }
}

TEST_CASE("resampling: a constant stays constant and area is conserved") {
  const GrayImage flat(30, 50, 0.75f);
  for (const double scale : {0.4, 0.37, 1.0, 1.6}) {
    CAPTURE(scale);
    const auto height = static_cast<std::size_t>(std::floor(30 * scale)),
               width = static_cast<std::size_t>(std::floor(50 * scale));
    const GrayImage resized = ctnn::detail::resample(flat, height, width, scale);
    for (std::size_t r = 1; r + 1 < height; ++r)
      for (std::size_t c = 1; c + 1 < width; ++c) CHECK(resized(r, c) == doctest::Approx(0.75f));
  }
  // Shrinking by exactly 3: every output pixel is the mean of its 3x3 block.
  GrayImage ramp(6, 6);
  for (std::size_t i = 0; i < 36; ++i) ramp.pixels[i] = static_cast<float>(i);
  const GrayImage small = ctnn::detail::resample(ramp, 2, 2, 1.0 / 3);
  CHECK(small(0, 0) == doctest::Approx((0 + 1 + 2 + 6 + 7 + 8 + 12 + 13 + 14) / 9.0f));
  CHECK(small(1, 1) == doctest::Approx((21 + 22 + 23 + 27 + 28 + 29 + 33 + 34 + 35) / 9.0f));
}

TEST_CASE("ink components: 8-connected, with their boxes and areas") {
  GrayImage ink(5, 6);
  // A diagonal pair (one component), an L of three, and a lone pixel below the threshold.
  ink(0, 0) = ink(1, 1) = 1;
  ink(3, 3) = ink(4, 3) = ink(4, 4) = 0.8f;
  ink(0, 5) = 0.4f;
  const auto components = ctnn::label_ink_components(ink, 0.5f);
  REQUIRE(components.components.size() == 2);
  CHECK(components.components[0].area == 2);
  CHECK(components.components[0].box.height == 2);
  CHECK(components.components[0].box.width == 2);
  CHECK(components.components[1].area == 3);
  CHECK(components.components[1].box.top == 3);
  CHECK(components.components[1].box.left == 3);
  CHECK(components.label(1, 1) == 1);
  CHECK(components.label(4, 4) == 2);
  CHECK(components.label(0, 5) == 0);
}

TEST_CASE("Otsu's threshold lies between two clusters; one cluster has none") {
  ctnn::detail::Histogram histogram{};
  histogram[20] = 900;
  histogram[21] = 100;
  histogram[400] = 50;
  histogram[410] = 50;
  const std::size_t threshold = ctnn::detail::otsu_threshold(histogram);
  CHECK(threshold >= 21);
  CHECK(threshold < 400);
  ctnn::detail::Histogram single{};
  single[128] = 10;
  CHECK(ctnn::detail::otsu_threshold(single) == ctnn::detail::histogram_bins);
}
