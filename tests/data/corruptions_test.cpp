// The seventeen corruptions: determinism, range, size checks, and for each kind a property of
// what it is documented to do.
#include "ctnn/data/corruptions.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/digit_drawing.hpp"

namespace {

using ctnn::Corruption;

constexpr std::size_t side = 28;

using Image = std::vector<float>;

// A 7 and a 0 side by side would not fit: a 7 with a crossbar, bright ink on black, in the
// 20x20 centre like MNIST's digits.
Image digit() {
  ctnn::GrayImage coverage(side, side);
  ctnn::test::draw_polyline(coverage, ctnn::test::seven(8, 5, 12, 18), 2.5);
  ctnn::test::draw_polyline(coverage, {{10, 14}, {17, 14}}, 2.0);
  return coverage.pixels;
}

Image corrupted(Corruption kind, const Image& image, std::uint64_t seed, std::size_t height = side,
                std::size_t width = side) {
  Image out(image.size());
  ctnn::corrupt(kind, image, height, width, out, seed);
  return out;
}

bool same_bytes(const Image& a, const Image& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

double mean(const Image& image) {
  double sum = 0;
  for (const float value : image) sum += value;
  return sum / static_cast<double>(image.size());
}

double standard_deviation(const Image& image) {
  const double average = mean(image);
  double squares = 0;
  for (const float value : image) squares += (value - average) * (value - average);
  return std::sqrt(squares / static_cast<double>(image.size()));
}

// Sum of absolute differences between horizontal and vertical neighbours.
double total_variation(const Image& image, std::size_t width = side) {
  const std::size_t height = image.size() / width;
  double sum = 0;
  for (std::size_t row = 0; row < height; ++row)
    for (std::size_t column = 0; column < width; ++column) {
      const float value = image[row * width + column];
      if (column + 1 < width) sum += std::abs(image[row * width + column + 1] - value);
      if (row + 1 < height) sum += std::abs(image[(row + 1) * width + column] - value);
    }
  return sum;
}

struct Point {
  double x, y;
};

Point centre_of_mass(const Image& image, std::size_t width = side) {
  double x = 0, y = 0, mass = 0;
  for (std::size_t i = 0; i < image.size(); ++i) {
    x += image[i] * static_cast<double>(i % width);
    y += image[i] * static_cast<double>(i / width);
    mass += image[i];
  }
  return {x / mass, y / mass};
}

Image gaussian_blob(double centre_x, double centre_y, double sigma) {
  Image image(side * side);
  for (std::size_t i = 0; i < image.size(); ++i) {
    const double x = static_cast<double>(i % side) - centre_x, y = static_cast<double>(i / side) - centre_y;
    image[i] = static_cast<float>(std::exp(-(x * x + y * y) / (2 * sigma * sigma)));
  }
  return image;
}

// Where the blob centred at (x, y) lands under the affine map p -> M (p - c) + c, M = {a, b; c, d}.
Point mapped(Point p, double a, double b, double c, double d) {
  const double centre = (side - 1) / 2.0, x = p.x - centre, y = p.y - centre;
  return {a * x + b * y + centre, c * x + d * y + centre};
}

double distance(Point a, Point b) { return std::hypot(a.x - b.x, a.y - b.y); }

}  // namespace

TEST_CASE("corruptions: every kind is deterministic, in range and changes a digit") {
  const Image image = digit();
  for (const ctnn::CorruptionInfo& info : ctnn::all_corruptions) {
    CAPTURE(info.name);
    const Image first = corrupted(info.kind, image, 7), again = corrupted(info.kind, image, 7);
    CHECK(same_bytes(first, again));
    CHECK(std::all_of(first.begin(), first.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
    CHECK_FALSE(same_bytes(first, image));
    // In place gives the same bits.
    Image in_place = image;
    ctnn::corrupt(info.kind, in_place, side, side, in_place, 7);
    CHECK(same_bytes(in_place, first));
    // The random kinds differ between seeds (a random sign may repeat: one of eight seeds differs);
    // the others ignore the seed.
    std::set<std::vector<unsigned char>> distinct;
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
      const Image out = corrupted(info.kind, image, seed);
      const auto* bytes = reinterpret_cast<const unsigned char*>(out.data());
      distinct.emplace(bytes, bytes + out.size() * sizeof(float));
    }
    if (info.random)
      CHECK(distinct.size() > 1);
    else
      CHECK(distinct.size() == 1);
  }
}

TEST_CASE("corruptions: every kind stays in [0, 1] on extreme and tiny images") {
  ctnn::Rng rng(3);
  Image noise(side * side);
  for (float& value : noise) value = rng.uniform();
  const std::vector<std::pair<std::size_t, std::size_t>> sizes{{1, 1}, {2, 3}, {5, 4}, {9, 31}};
  for (const ctnn::CorruptionInfo& info : ctnn::all_corruptions) {
    CAPTURE(info.name);
    for (const Image& image : {Image(side * side, 0.0f), Image(side * side, 1.0f), noise}) {
      const Image out = corrupted(info.kind, image, 11);
      CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
    }
    for (const auto& size : sizes) {
      const std::size_t height = size.first, width = size.second;
      CAPTURE(height);
      CAPTURE(width);
      const Image out =
          corrupted(info.kind, Image(noise.begin(), noise.begin() + static_cast<std::ptrdiff_t>(height * width)), 5,
                    height, width);
      CHECK(std::all_of(out.begin(), out.end(), [](float v) { return v >= 0.0f && v <= 1.0f; }));
    }
  }
}

TEST_CASE("corruptions: bad sizes and pixels are refused") {
  const Image image = digit();
  Image out(side * side);
  CHECK_THROWS_AS(ctnn::corrupt(Corruption::fog, image, side, side + 1, out, 1), std::invalid_argument);
  Image short_out(side * side - 1);
  CHECK_THROWS_WITH_AS(ctnn::corrupt(Corruption::fog, image, side, side, short_out, 1),
                       doctest::Contains("room for 783"), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::corrupt(Corruption::fog, {}, 0, 0, {}, 1), std::invalid_argument);
  Image bright = image;
  bright[100] = 1.5f;
  CHECK_THROWS_WITH_AS(ctnn::corrupt(Corruption::brightness, bright, side, side, out, 1),
                       doctest::Contains("pixel 100"), std::invalid_argument);
  bright[100] = std::nanf("");
  CHECK_THROWS_AS(ctnn::corrupt(Corruption::brightness, bright, side, side, out, 1), std::invalid_argument);
}

TEST_CASE("corruptions: parse_corruption reads every name and refuses others") {
  for (const ctnn::CorruptionInfo& info : ctnn::all_corruptions) {
    CHECK(ctnn::parse_corruption(info.name) == info.kind);
    CHECK(ctnn::to_string(info.kind) == info.name);
    CHECK(&ctnn::corruption_info(info.kind) == &info);
  }
  CHECK_THROWS_WITH_AS(ctnn::parse_corruption("snow"),
                       doctest::Contains("unknown corruption \"snow\"; the corruptions are shot_noise, "),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::parse_corruption("Shot_Noise"), doctest::Contains("occlusion"), std::invalid_argument);
}

TEST_CASE("corruptions: shot noise draws Poisson counts, impulse noise sets 17% of the pixels to 0 or 1") {
  const std::size_t height = 100, width = 100;
  const Image gray(height * width, 0.5f);
  const Image shot = corrupted(Corruption::shot_noise, gray, 1, height, width);
  // Poisson(1.5) / 3 clipped at 1: mean 0.4701; the levels are multiples of 1/3.
  CHECK(mean(shot) == doctest::Approx(0.4701).epsilon(0.04));
  CHECK(std::all_of(shot.begin(), shot.end(), [](float v) { return std::abs(v * 3 - std::round(v * 3)) < 1e-5f; }));
  const Image dark = corrupted(Corruption::shot_noise, Image(side * side, 0.0f), 1);
  CHECK(std::all_of(dark.begin(), dark.end(), [](float v) { return v == 0.0f; }));

  const Image impulse = corrupted(Corruption::impulse_noise, gray, 1, height, width);
  std::size_t zeros = 0, ones = 0, kept = 0;
  for (const float value : impulse) {
    zeros += value == 0.0f;
    ones += value == 1.0f;
    kept += value == 0.5f;
  }
  CHECK(zeros + ones + kept == gray.size());
  CHECK(static_cast<double>(zeros + ones) / static_cast<double>(gray.size()) == doctest::Approx(0.17).epsilon(0.1));
  CHECK(static_cast<double>(zeros) / static_cast<double>(zeros + ones) == doctest::Approx(0.5).epsilon(0.15));
}

TEST_CASE("corruptions: blurs keep the ink and smooth it") {
  const Image image = digit();
  const Image blurred = corrupted(Corruption::gaussian_blur, image, 1);
  CHECK(mean(blurred) == doctest::Approx(mean(image)).epsilon(0.01));  // the 7 comes within 4 sigma of the top
  const Image centred = gaussian_blob(13.5, 13.5, 2);
  CHECK(mean(corrupted(Corruption::gaussian_blur, centred, 1)) == doctest::Approx(mean(centred)).epsilon(1e-5));
  CHECK(total_variation(blurred) < 0.6 * total_variation(image));
  const Image glass = corrupted(Corruption::glass_blur, image, 1);
  CHECK(mean(glass) == doctest::Approx(mean(image)).epsilon(1e-3));
  CHECK(total_variation(glass) < total_variation(image));

  // A blob away from the borders keeps its mass under motion blur and moves against the trail's
  // direction (within 45 degrees of horizontal) by the mean of the trail's weights exp(-i^2 / 18).
  double weights = 0, moments = 0;
  for (int i = 0; i <= 12; ++i) {
    weights += std::exp(-i * i / 18.0);
    moments += i * std::exp(-i * i / 18.0);
  }
  const Image blob = gaussian_blob(16, 13.5, 1.5);
  const Point before = centre_of_mass(blob);
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const Image moved = corrupted(Corruption::motion_blur, blob, seed);
    CHECK(mean(moved) == doctest::Approx(mean(blob)).epsilon(1e-3));
    CHECK(total_variation(moved) < total_variation(blob));
    const Point after = centre_of_mass(moved);
    CHECK(distance(before, after) == doctest::Approx(moments / weights).epsilon(0.01));
    CHECK(after.x < before.x);
    CHECK(std::abs(after.y - before.y) <= before.x - after.x + 1e-6);
  }
}

TEST_CASE("corruptions: geometry moves a blob where the documented transform puts it") {
  const Point start{18, 9};
  const Image blob = gaussian_blob(start.x, start.y, 1.2);
  const double angle = 0.4, c = std::cos(angle), s = std::sin(angle);

  // Rotation by 0.4 rad either way: counter-clockwise on screen (y down) is {c, s; -s, c}.
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    const Point after = centre_of_mass(corrupted(Corruption::rotation, blob, seed));
    CHECK(std::min(distance(after, mapped(start, c, s, -s, c)), distance(after, mapped(start, c, -s, s, c))) < 0.1);
    // Shear: x + tan(0.4) y either way, y unchanged.
    const Point sheared = centre_of_mass(corrupted(Corruption::shear, blob, seed));
    const double t = std::tan(angle);
    CHECK(std::min(distance(sheared, mapped(start, 1, t, 0, 1)), distance(sheared, mapped(start, 1, -t, 0, 1))) < 0.1);
  }
  const Point shrunk = centre_of_mass(corrupted(Corruption::scale, blob, 1));
  CHECK(distance(shrunk, mapped(start, 0.7, 0, 0, 0.7)) < 0.1);

  // Translation by whole pixels moves the centre of mass by exactly (+-3, +-3).
  const Image image = digit();
  const Point centre = centre_of_mass(image);
  std::set<std::pair<int, int>> shifts;
  for (std::uint64_t seed = 1; seed <= 16; ++seed) {
    const Point moved = centre_of_mass(corrupted(Corruption::translation, image, seed));
    const double dx = moved.x - centre.x, dy = moved.y - centre.y;
    CHECK(std::abs(std::abs(dx) - 3) < 1e-6);
    CHECK(std::abs(std::abs(dy) - 3) < 1e-6);
    shifts.emplace(static_cast<int>(std::lround(dx)), static_cast<int>(std::lround(dy)));
  }
  CHECK(shifts.size() == 4);
}

TEST_CASE("corruptions: brightness, contrast, stripe and fog change the intensities as documented") {
  const Image image = digit();
  const Image bright = corrupted(Corruption::brightness, image, 1);
  for (std::size_t i = 0; i < image.size(); ++i) CHECK(bright[i] == std::min(image[i] + 0.5f, 1.0f));
  CHECK(mean(bright) > mean(image) + 0.4);

  const Image flat = corrupted(Corruption::contrast, image, 1);
  CHECK(mean(flat) == doctest::Approx(mean(image)).epsilon(1e-5));
  CHECK(standard_deviation(flat) == doctest::Approx(0.1 * standard_deviation(image)).epsilon(1e-4));

  const Image striped = corrupted(Corruption::stripe, image, 1);
  for (std::size_t i = 0; i < image.size(); ++i) {
    const std::size_t column = i % side;
    CHECK(striped[i] == (column < 7 || column >= 21 ? 1.0f - image[i] : image[i]));
  }

  // Fog: (x + 3 f) / 4 for an image whose brightest pixel is 1, f in [0, 1] and not constant.
  const Image foggy = corrupted(Corruption::fog, image, 1);
  Image fractal(image.size());
  for (std::size_t i = 0; i < image.size(); ++i) {
    fractal[i] = (4 * foggy[i] - image[i]) / 3;
    CHECK(fractal[i] >= -1e-5f);
    CHECK(fractal[i] <= 1 + 1e-5f);
  }
  CHECK(standard_deviation(fractal) > 0.02);
  // A plasma fractal is smooth: neighbours differ much less than pixels far apart.
  CHECK(total_variation(fractal) / (2.0 * side * (side - 1)) < 0.5 * standard_deviation(fractal));
}

TEST_CASE("corruptions: dotted lines dash every other 2 columns, zigzags between columns 2 and 25") {
  const Image blank(side * side, 0.0f);
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    CAPTURE(seed);
    const Image dotted = corrupted(Corruption::dotted_line, blank, seed);
    std::size_t lit_columns = 0;
    for (std::size_t column = 0; column < side; ++column) {
      std::size_t lit = 0, first = side, last = 0;
      for (std::size_t row = 0; row < side; ++row)
        if (dotted[row * side + column] > 0) {
          ++lit;
          first = std::min(first, row);
          last = std::max(last, row);
        }
      if ((column / 2) % 2 == 0 || column == side - 1) CHECK(lit == 0);
      if (lit == 0) continue;
      ++lit_columns;
      CHECK(last - first + 1 == lit);  // one run of rows
      CHECK(lit <= 3);
    }
    CHECK(lit_columns >= 10);

    // The zigzag runs from column 2 to about 25 (its last tooth may lean a little past), lit in
    // the columns between (but where a tooth leaves the image), and its ink's height goes up and
    // down with the teeth, 4 columns apart.
    const Image zig = corrupted(Corruption::zigzag, blank, seed);
    std::size_t first_column = side, last_column = 0;
    for (std::size_t i = 0; i < zig.size(); ++i)
      if (zig[i] > 0) {
        first_column = std::min(first_column, i % side);
        last_column = std::max(last_column, i % side);
      }
    CHECK(first_column == 2);
    CHECK(last_column >= 22);
    CHECK(last_column <= 25);
    std::vector<double> heights;
    for (std::size_t column = 2; column <= 23; ++column) {
      double ink = 0, moment = 0;
      for (std::size_t row = 0; row < side; ++row) {
        ink += zig[row * side + column];
        moment += zig[row * side + column] * static_cast<double>(row);
      }
      if (ink > 0) heights.push_back(moment / ink);
    }
    CHECK(heights.size() >= 18);
    int turns = 0, previous = 0;
    for (std::size_t i = 1; i < heights.size(); ++i) {
      const double change = heights[i] - heights[i - 1];
      const int direction = change > 0.2 ? 1 : change < -0.2 ? -1 : 0;
      if (direction != 0 && previous != 0 && direction != previous) ++turns;
      if (direction != 0) previous = direction;
    }
    CHECK(turns >= 3);
  }
}

TEST_CASE("corruptions: canny edges of a filled square lie on its border") {
  Image square(side * side, 0.0f);
  for (std::size_t row = 9; row <= 18; ++row)
    for (std::size_t column = 9; column <= 18; ++column) square[row * side + column] = 1.0f;
  const Image edges = corrupted(Corruption::canny_edges, square, 1);
  std::size_t count = 0;
  for (std::size_t i = 0; i < edges.size(); ++i) {
    CHECK((edges[i] == 0.0f || edges[i] == 1.0f));
    if (edges[i] == 0.0f) continue;
    ++count;
    const std::size_t row = i / side, column = i % side;
    CAPTURE(row);
    CAPTURE(column);
    // The boundary runs between pixels 8 and 9 and between 18 and 19: edges are one of each pair.
    CHECK((row >= 8 && row <= 19 && column >= 8 && column <= 19));
    CHECK_FALSE((row >= 10 && row <= 17 && column >= 10 && column <= 17));
  }
  CHECK(count >= 30);
  CHECK(count <= 48);
  // A blank image has no edges.
  const Image none = corrupted(Corruption::canny_edges, Image(side * side, 0.3f), 1);
  CHECK(std::all_of(none.begin(), none.end(), [](float v) { return v == 0.0f; }));
}

TEST_CASE("corruptions: occlusion zeroes one 8x8 block, on the ink") {
  const Image white(side * side, 1.0f);
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const Image out = corrupted(Corruption::occlusion, white, seed);
    std::size_t zeros = 0, top = side, left = side, bottom = 0, right = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      if (out[i] == 1.0f) continue;
      CHECK(out[i] == 0.0f);
      ++zeros;
      top = std::min(top, i / side);
      bottom = std::max(bottom, i / side);
      left = std::min(left, i % side);
      right = std::max(right, i % side);
    }
    CHECK(zeros == 64);
    CHECK(bottom - top == 7);
    CHECK(right - left == 7);
  }
  const Image image = digit();
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    const Image out = corrupted(Corruption::occlusion, image, seed);
    double removed = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
      CHECK((out[i] == image[i] || out[i] == 0.0f));
      removed += image[i] - out[i];
    }
    CHECK(removed > 2);  // centred on ink, the block always hides some
  }
}

TEST_CASE("corruptions: corrupt_dataset corrupts image i with derive_seed(seed, i)") {
  ctnn::Dataset dataset{
      .name = "digits", .channels = 1, .height = side, .width = side, .images = {}, .labels = {3, 1, 4}};
  const Image image = digit();
  for (int copy = 0; copy < 3; ++copy) dataset.images.insert(dataset.images.end(), image.begin(), image.end());
  const ctnn::Dataset noisy = ctnn::corrupt_dataset(dataset, Corruption::impulse_noise, 9);
  CHECK(noisy.labels == dataset.labels);
  CHECK(noisy.name == "digits (impulse_noise)");
  for (std::size_t i = 0; i < 3; ++i) {
    const auto view = noisy.image(i);
    CHECK(same_bytes(Image(view.begin(), view.end()),
                     corrupted(Corruption::impulse_noise, image, ctnn::derive_seed(9, i))));
  }
  dataset.images[2 * side * side + 5] = -0.5f;
  CHECK_THROWS_WITH_AS(ctnn::corrupt_dataset(dataset, Corruption::fog, 1), doctest::Contains("digits: image 2: "),
                       std::invalid_argument);
  dataset.channels = 3;
  CHECK_THROWS_AS(ctnn::corrupt_dataset(dataset, Corruption::fog, 1), std::invalid_argument);
}
