// Common corruptions of single-channel images, after MNIST-C (Mu & Gilmer, "MNIST-C: A Robustness
// Benchmark for Computer Vision", 2019, and its corruptions.py): seventeen kinds, each at one fixed
// severity, for measuring how a classifier trained on clean digits copes with shifted data.
// Images are row-major floats in [0, 1], 0 the background and ink bright, of any height x width.
// The parameters are MNIST-C's (the severity its code uses by default) in pixels of a 28x28 image;
// on other sizes every length is scaled by min(height, width) / 28. Geometry goes through
// data/augment.hpp's affine warps and bilinear sampling (zero outside the image); blurs replicate
// the border pixels, so a constant image stays constant. Randomness comes from one ctnn::Rng seeded
// with the caller's seed: the same seed gives the same bits (on one build; see augment.hpp about
// FMA contraction across compilers), and the kinds marked not random ignore it.
//
//   shot_noise     Poisson photon noise: x <- Poisson(3 x) / 3 (MNIST-C severity 5); zero stays zero
//   impulse_noise  salt and pepper: each pixel with probability 0.17 becomes 0 or 1, even odds (severity 4)
//   gaussian_blur  Gaussian of sigma 2 px, truncated at 4 sigma (severity 2)
//   motion_blur    a one-sided trail: sum over i >= 0 of w_i x(p + i d), w_i ~ exp(-i^2 / 2 3^2), d a unit
//                  vector at an angle uniform in [-45, 45] degrees (ImageMagick's -motion-blur 10x3, severity 1)
//   glass_blur     blur (sigma 0.7 px), 2 passes of swapping each inner pixel, with probability 1/2, with a
//                  neighbour up to 1 px away, blur again (severity 1)
//   rotation       turn by 0.4 rad (22.9 degrees) about the centre, direction at random (severity 2)
//   shear          x <- x + tan(0.4 rad) y about the centre (22.9 degrees), direction at random (severity 2)
//   scale          shrink by 0.7 about the centre (severity 3)
//   translation    shift by 3 px along each axis, each direction at random (severity 3)
//   brightness     x <- min(x + 0.5, 1): the HSV value + 0.5 of a gray image (severity 5)
//   contrast       x <- m + 0.1 (x - m), m the image's mean (severity 4)
//   fog            a plasma fractal f (diamond-square, wibble decay 1.4) laid over: x <- (x + 3 f) M / (M + 3),
//                  M the image's maximum (severity 5)
//   stripe         the left and right quarters of the columns inverted: x <- 1 - x
//   dotted_line    a line from the left edge to the right edge at random heights, ink log(1 - d / 2.3) + 1 at
//                  vertical distance d (about 1.45 px either side), in dashes of 2 px (gaps first), added
//   zigzag         lines like dotted_line's through corners 2 px either side of a line, 4 px apart along it, from
//                  column 2 to column 25 at a random height, sloping up to 5 px (its end kept inside), added
//   canny_edges    the image replaced by its Canny edges (sigma 1 px, thresholds 0.1 and 0.2 on the Sobel
//                  magnitude: skimage.feature.canny's defaults): 1 on an edge, 0 elsewhere
//   occlusion      a square of side 0.3 min(height, width) (8 px) set to 0, centred on an ink pixel drawn with
//                  probability proportional to its value (not in MNIST-C)
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/data/augment.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

enum class Corruption {
  shot_noise,
  impulse_noise,
  gaussian_blur,
  motion_blur,
  glass_blur,
  rotation,
  shear,
  scale,
  translation,
  brightness,
  contrast,
  fog,
  stripe,
  dotted_line,
  zigzag,
  canny_edges,
  occlusion,
};

struct CorruptionInfo {
  Corruption kind;
  std::string_view name;      // snake_case, as parse_corruption reads it
  std::string_view severity;  // what it does, with its parameters, in one line
  bool random;                // whether it uses the seed
};

// Every kind, in the order of the enum.
inline constexpr std::array<CorruptionInfo, 17> all_corruptions{{
    {Corruption::shot_noise, "shot_noise", "Poisson noise, x <- Poisson(3x)/3", true},
    {Corruption::impulse_noise, "impulse_noise", "17% of the pixels set to 0 or 1", true},
    {Corruption::gaussian_blur, "gaussian_blur", "Gaussian blur, sigma 2 px", false},
    {Corruption::motion_blur, "motion_blur", "half-Gaussian trail, sigma 3 px, angle in [-45, 45] deg", true},
    {Corruption::glass_blur, "glass_blur", "blur 0.7 px, 2 passes of 1 px pixel swaps, blur", true},
    {Corruption::rotation, "rotation", "rotated by +-0.4 rad (22.9 deg)", true},
    {Corruption::shear, "shear", "sheared by +-0.4 rad (22.9 deg)", true},
    {Corruption::scale, "scale", "shrunk to 0.7 about the centre", false},
    {Corruption::translation, "translation", "shifted by +-3 px along each axis", true},
    {Corruption::brightness, "brightness", "x <- min(x + 0.5, 1)", false},
    {Corruption::contrast, "contrast", "contrast x0.1 about the image mean", false},
    {Corruption::fog, "fog", "plasma fractal fog, x <- (x + 3f) M / (M + 3)", true},
    {Corruption::stripe, "stripe", "left and right quarters inverted", false},
    {Corruption::dotted_line, "dotted_line", "a dashed line across the image", true},
    {Corruption::zigzag, "zigzag", "a zigzag line across the image", true},
    {Corruption::canny_edges, "canny_edges", "Canny edges, sigma 1 px, thresholds 0.1 / 0.2", false},
    {Corruption::occlusion, "occlusion", "an 8x8 px block (0.3 of the side) set to 0 on the ink", true},
}};

constexpr const CorruptionInfo& corruption_info(Corruption kind) noexcept {
  return all_corruptions[static_cast<std::size_t>(kind)];
}

constexpr std::string_view to_string(Corruption kind) noexcept { return corruption_info(kind).name; }

// The kind named `name` (e.g. "shot_noise"); throws std::invalid_argument naming the valid ones.
inline Corruption parse_corruption(std::string_view name) {
  for (const CorruptionInfo& info : all_corruptions)
    if (info.name == name) return info.kind;
  std::string valid;
  for (const CorruptionInfo& info : all_corruptions) valid += (valid.empty() ? "" : ", ") + std::string(info.name);
  throw std::invalid_argument("unknown corruption \"" + std::string(name) + "\"; the corruptions are " + valid);
}

namespace detail {

// One image being corrupted: its size, the length of a 28x28 image's pixel in its pixels, and
// signed sizes for neighbourhood loops.
struct CorruptionPlane {
  std::size_t height, width;
  double unit;
  std::ptrdiff_t rows, columns;

  CorruptionPlane(std::size_t h, std::size_t w)
      : height(h),
        width(w),
        unit(static_cast<double>(std::min(h, w)) / 28.0),
        rows(static_cast<std::ptrdiff_t>(h)),
        columns(static_cast<std::ptrdiff_t>(w)) {}

  std::size_t size() const noexcept { return height * width; }
  std::size_t index(std::ptrdiff_t row, std::ptrdiff_t column) const noexcept {
    return static_cast<std::size_t>(row * columns + column);
  }
};

// Normalized Gaussian weights for taps -radius..radius, radius = ceil(4 sigma) (scipy's truncate).
inline std::vector<float> gaussian_weights(double sigma) {
  const auto radius = static_cast<std::size_t>(std::ceil(4.0 * sigma));
  std::vector<double> weights(2 * radius + 1);
  double total = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const double distance = static_cast<double>(i) - static_cast<double>(radius);
    weights[i] = std::exp(-distance * distance / (2.0 * sigma * sigma));
    total += weights[i];
  }
  std::vector<float> kernel(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) kernel[i] = static_cast<float>(weights[i] / total);
  return kernel;
}

// out = G_sigma * in, separable, border pixels replicated (scipy's mode "nearest"). out may be in.
inline void blur_gaussian(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, double sigma) {
  const std::vector<float> kernel = gaussian_weights(sigma);
  const auto radius = static_cast<std::ptrdiff_t>(kernel.size() / 2);
  std::vector<float> along_rows(plane.size());
  for (std::ptrdiff_t row = 0; row < plane.rows; ++row)
    for (std::ptrdiff_t column = 0; column < plane.columns; ++column) {
      float sum = 0;
      for (std::ptrdiff_t tap = -radius; tap <= radius; ++tap)
        sum += kernel[static_cast<std::size_t>(tap + radius)] *
               in[plane.index(row, std::clamp<std::ptrdiff_t>(column + tap, 0, plane.columns - 1))];
      along_rows[plane.index(row, column)] = sum;
    }
  for (std::ptrdiff_t row = 0; row < plane.rows; ++row)
    for (std::ptrdiff_t column = 0; column < plane.columns; ++column) {
      float sum = 0;
      for (std::ptrdiff_t tap = -radius; tap <= radius; ++tap)
        sum += kernel[static_cast<std::size_t>(tap + radius)] *
               along_rows[plane.index(std::clamp<std::ptrdiff_t>(row + tap, 0, plane.rows - 1), column)];
      out[plane.index(row, column)] = sum;
    }
}

// Knuth's multiplication method (TAOCP vol. 2, 3.4.1): fine for the small means used here.
inline unsigned poisson(double mean, Rng& rng) noexcept {
  const double limit = std::exp(-mean);
  unsigned count = 0;
  for (double product = rng.uniform(); product > limit; product *= rng.uniform()) ++count;
  return count;
}

inline void shot_noise(std::span<const float> in, std::span<float> out, Rng& rng) noexcept {
  constexpr double photons = 3;
  for (std::size_t i = 0; i < in.size(); ++i)
    out[i] = in[i] > 0 ? static_cast<float>(poisson(photons * in[i], rng) / photons) : 0.0f;
}

inline void impulse_noise(std::span<const float> in, std::span<float> out, Rng& rng) noexcept {
  constexpr float amount = 0.17f;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const float draw = rng.uniform();
    out[i] = draw < amount / 2 ? 0.0f : draw < amount ? 1.0f : in[i];
  }
}

inline void motion_blur(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  const double angle = rng.uniform(-45.0f, 45.0f) * std::numbers::pi / 180.0;
  const double sigma = 3 * plane.unit;
  const auto taps = static_cast<std::size_t>(std::ceil(4 * sigma)) + 1;
  std::vector<double> weights(taps);
  double total = 0;
  for (std::size_t i = 0; i < taps; ++i)
    total += weights[i] = std::exp(-static_cast<double>(i * i) / (2 * sigma * sigma));
  const double step_x = std::cos(angle), step_y = std::sin(angle);
  for (std::size_t row = 0; row < plane.height; ++row)
    for (std::size_t column = 0; column < plane.width; ++column) {
      double sum = 0;
      for (std::size_t i = 0; i < taps; ++i) {
        const double along = static_cast<double>(i);
        sum += weights[i] * sample_bilinear(in, plane.height, plane.width, static_cast<double>(column) + along * step_x,
                                            static_cast<double>(row) + along * step_y);
      }
      out[row * plane.width + column] = static_cast<float>(sum / total);
    }
}

inline void glass_blur(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  const double sigma = 0.7 * plane.unit;
  const auto reach = std::max<std::ptrdiff_t>(1, std::lround(plane.unit));
  constexpr int passes = 2;
  std::vector<float> glass(plane.size());
  blur_gaussian(plane, in, glass, sigma);
  const auto span = static_cast<std::uint64_t>(2 * reach + 1);
  for (int pass = 0; pass < passes; ++pass)
    for (std::ptrdiff_t row = plane.rows - 1 - reach; row >= reach; --row)
      for (std::ptrdiff_t column = plane.columns - 1 - reach; column >= reach; --column) {
        if (rng.below(2) == 0) continue;
        const std::ptrdiff_t dx = static_cast<std::ptrdiff_t>(rng.below(span)) - reach;
        const std::ptrdiff_t dy = static_cast<std::ptrdiff_t>(rng.below(span)) - reach;
        std::swap(glass[plane.index(row, column)], glass[plane.index(row + dy, column + dx)]);
      }
  blur_gaussian(plane, glass, out, sigma);
}

// +1 or -1, evenly.
inline float random_sign(Rng& rng) noexcept { return rng.below(2) ? 1.0f : -1.0f; }

// MNIST-C's 0.4 rad, for rotation and shear.
inline constexpr float corruption_angle_degrees = static_cast<float>(0.4 * 180.0 / std::numbers::pi);

// Diamond-square on a torus of side `size` (a power of two), as MNIST-C's plasma_fractal (after
// FLHerne/mapgen): each level's new points are the mean of their four neighbours plus
// wibble * uniform(-wibble, wibble), wibble starting at 100 and divided by `decay` per level;
// the map is then scaled to [0, 1]. Row-major.
inline std::vector<double> plasma_fractal(std::size_t size, double decay, Rng& rng) {
  std::vector<double> map(size * size, 0.0);
  const auto at = [&](std::size_t row, std::size_t column) -> double& {
    return map[(row % size) * size + (column % size)];
  };
  double wibble = 100;
  const auto noisy_mean = [&](double sum) {
    return sum / 4 + wibble * rng.uniform(static_cast<float>(-wibble), static_cast<float>(wibble));
  };
  for (std::size_t step = size; step >= 2; step /= 2) {
    const std::size_t half = step / 2;
    // Squares: centres from their four corners.
    for (std::size_t row = 0; row < size; row += step)
      for (std::size_t column = 0; column < size; column += step)
        at(row + half, column + half) = noisy_mean(at(row, column) + at(row + step, column) + at(row, column + step) +
                                                   at(row + step, column + step));
    // Diamonds: edge midpoints from the two corners and the two centres beside them.
    for (std::size_t row = 0; row < size; row += step)
      for (std::size_t column = 0; column < size; column += step)
        at(row, column + half) = noisy_mean(at(row, column) + at(row, column + step) + at(row + half, column + half) +
                                            at(row + size - half, column + half));
    for (std::size_t row = 0; row < size; row += step)
      for (std::size_t column = 0; column < size; column += step)
        at(row + half, column) = noisy_mean(at(row, column) + at(row + step, column) + at(row + half, column + half) +
                                            at(row + half, column + size - half));
    wibble /= decay;
  }
  const auto [low, high] = std::minmax_element(map.begin(), map.end());
  const double lowest = *low, range = *high - *low;
  for (double& value : map) value = range > 0 ? (value - lowest) / range : 0.0;
  return map;
}

inline void fog(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  constexpr double thickness = 3, decay = 1.4;
  // MNIST-C draws a 256x256 map and lays its top-left 28x28 corner over the image; an image too
  // large for that gets a map of its own size.
  const std::size_t side = std::bit_ceil(std::max(plane.height, plane.width));
  const std::size_t size = std::max<std::size_t>(side, std::min<std::size_t>(side * 8, 256));
  const std::vector<double> fractal = plasma_fractal(size, decay, rng);
  const double brightest = *std::max_element(in.begin(), in.end());
  for (std::size_t row = 0; row < plane.height; ++row)
    for (std::size_t column = 0; column < plane.width; ++column) {
      const std::size_t i = row * plane.width + column;
      out[i] =
          static_cast<float>((in[i] + thickness * fractal[row * size + column]) * brightest / (brightest + thickness));
    }
}

// Adds MNIST-C's line_from_points: between columns floor(c0) and ceil(c1) (excluded), a pixel
// at vertical distance d from the line through (c0, r0) and (c1, r1) gets log(1 - d / 2.3) + 1,
// clamped to [0, 1] (about 1.45 px either side). `keep(column)` masks out columns.
template <class Keep>
void add_line(const CorruptionPlane& plane, std::span<float> out, double c0, double r0, double c1, double r1,
              Keep keep) {
  if (c1 < c0) {
    std::swap(c0, c1);
    std::swap(r0, r1);
  }
  if (c1 == c0) return;
  const double reach = 2.3 * plane.unit;
  const double slope = (r1 - r0) / (c1 - c0);
  const auto first = std::max<std::ptrdiff_t>(0, static_cast<std::ptrdiff_t>(std::floor(c0)));
  const auto last = std::min<std::ptrdiff_t>(plane.columns, static_cast<std::ptrdiff_t>(std::ceil(c1)));
  for (std::ptrdiff_t column = first; column < last; ++column) {
    if (!keep(column)) continue;
    const double centre = slope * (static_cast<double>(column) - c0) + r0;
    for (std::ptrdiff_t row = 0; row < plane.rows; ++row) {
      const double distance = std::min(std::abs(static_cast<double>(row) - centre), reach * (1 - 1e-10));
      const double ink = std::clamp(std::log(1 - distance / reach) + 1, 0.0, 1.0);
      float& pixel = out[plane.index(row, column)];
      pixel = std::min(1.0f, pixel + static_cast<float>(ink));
    }
  }
}

inline void dotted_line(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  std::copy(in.begin(), in.end(), out.begin());
  const auto heights = std::max<std::uint64_t>(1, plane.height - 1);
  const auto r0 = static_cast<double>(rng.below(heights)), r1 = static_cast<double>(rng.below(heights));
  const auto dash = std::max<std::ptrdiff_t>(1, std::lround(2 * plane.unit));
  add_line(plane, out, 0, r0, static_cast<double>(plane.width) - 1, r1,
           [dash](std::ptrdiff_t column) { return (column / dash) % 2 == 1; });
}

inline void zigzag(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  std::copy(in.begin(), in.end(), out.begin());
  const double tooth = 2 * plane.unit;  // MNIST-C's a and b: half the period along, and the height across
  const double c0 = std::round(2 * plane.unit), c1 = static_cast<double>(plane.width) - 1 - c0;
  if (!(c1 > c0)) return;
  const auto heights = std::max<std::uint64_t>(1, plane.height - 1);
  const auto r0 = static_cast<double>(rng.below(heights));
  const double r1 = std::clamp(r0 + static_cast<double>(rng.uniform(-5.0f, 5.0f)) * plane.unit, 0.0,
                               static_cast<double>(plane.height) - 1);
  const double angle = std::atan((r1 - r0) / (c1 - c0));
  const double length = (c1 - c0) / std::cos(angle);
  // The teeth along the x axis, then turned by `angle` and moved to (c0, r0).
  std::vector<std::array<double, 2>> points{{0.0, 0.0}};
  for (std::size_t i = 0;; ++i) {
    const double along = static_cast<double>(2 * i + 1) * tooth;
    const double across = i % 2 == 0 ? tooth : -tooth;
    if (along >= length) {
      const auto [previous_along, previous_across] = points.back();
      const double t = (length - previous_along) / (along - previous_along);
      points.push_back({length, previous_across + t * (across - previous_across)});
      break;
    }
    points.push_back({along, across});
  }
  const double cosine = std::cos(angle), sine = std::sin(angle);
  for (auto& [along, across] : points) {
    const double column = c0 + cosine * along - sine * across, row = r0 + sine * along + cosine * across;
    along = column;
    across = row;
  }
  for (std::size_t i = 1; i < points.size(); ++i)
    add_line(plane, out, points[i - 1][0], points[i - 1][1], points[i][0], points[i][1],
             [](std::ptrdiff_t) { return true; });
}

// Canny (1986) as skimage.feature.canny: Gaussian smoothing, Sobel gradients, non-maximum
// suppression across the edge (directions rounded to 0, 45, 90 and 135 degrees; of two equal
// neighbours across a symmetric ridge the first wins), hysteresis (edges are pixels above `low`
// 8-connected to a pixel above `high`). The outermost pixels are never edges.
inline void canny_edges(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out) {
  constexpr float low = 0.1f, high = 0.2f;
  std::vector<float> smooth(plane.size()), magnitude(plane.size(), 0.0f);
  std::vector<unsigned char> direction(plane.size(), 0);
  blur_gaussian(plane, in, smooth, plane.unit);
  const auto value = [&](std::ptrdiff_t row, std::ptrdiff_t column) { return smooth[plane.index(row, column)]; };
  for (std::ptrdiff_t row = 1; row + 1 < plane.rows; ++row)
    for (std::ptrdiff_t column = 1; column + 1 < plane.columns; ++column) {
      const float gx = (value(row - 1, column + 1) + 2 * value(row, column + 1) + value(row + 1, column + 1)) -
                       (value(row - 1, column - 1) + 2 * value(row, column - 1) + value(row + 1, column - 1));
      const float gy = (value(row + 1, column - 1) + 2 * value(row + 1, column) + value(row + 1, column + 1)) -
                       (value(row - 1, column - 1) + 2 * value(row - 1, column) + value(row - 1, column + 1));
      const std::size_t i = plane.index(row, column);
      magnitude[i] = std::hypot(gx, gy);
      // The gradient's angle folded into [0, 180) and rounded to a multiple of 45 degrees.
      double degrees = std::atan2(static_cast<double>(gy), static_cast<double>(gx)) * 180.0 / std::numbers::pi;
      if (degrees < 0) degrees += 180;
      direction[i] = static_cast<unsigned char>(static_cast<int>(std::lround(degrees / 45)) % 4);
    }
  // Neighbour offsets (row, column) along the gradient for 0, 45, 90 and 135 degrees (y down).
  constexpr std::ptrdiff_t across[4][2] = {{0, 1}, {1, 1}, {1, 0}, {1, -1}};
  std::vector<unsigned char> strength(plane.size(), 0);  // 0 none, 1 weak, 2 strong
  std::vector<std::size_t> frontier;
  for (std::ptrdiff_t row = 1; row + 1 < plane.rows; ++row)
    for (std::ptrdiff_t column = 1; column + 1 < plane.columns; ++column) {
      const std::size_t i = plane.index(row, column);
      const float m = magnitude[i];
      if (!(m >= low)) continue;
      const auto [dy, dx] = across[direction[i]];
      const float before = magnitude[plane.index(row - dy, column - dx)];
      const float after = magnitude[plane.index(row + dy, column + dx)];
      if (!(m > before && m >= after)) continue;
      strength[i] = m >= high ? 2 : 1;
      if (strength[i] == 2) frontier.push_back(i);
    }
  std::fill(out.begin(), out.end(), 0.0f);
  for (const std::size_t i : frontier) out[i] = 1.0f;
  while (!frontier.empty()) {
    const std::size_t i = frontier.back();
    frontier.pop_back();
    const auto row = static_cast<std::ptrdiff_t>(i / plane.width),
               column = static_cast<std::ptrdiff_t>(i % plane.width);
    for (std::ptrdiff_t dy = -1; dy <= 1; ++dy)
      for (std::ptrdiff_t dx = -1; dx <= 1; ++dx) {
        const std::size_t j = plane.index(row + dy, column + dx);  // inside: edges are never on the border
        if (strength[j] == 1 && out[j] == 0.0f) {
          out[j] = 1.0f;
          frontier.push_back(j);
        }
      }
  }
}

inline void occlusion(const CorruptionPlane& plane, std::span<const float> in, std::span<float> out, Rng& rng) {
  std::copy(in.begin(), in.end(), out.begin());
  const auto side = std::clamp<std::size_t>(
      static_cast<std::size_t>(std::lround(0.3 * static_cast<double>(std::min(plane.height, plane.width)))), 1,
      std::min(plane.height, plane.width));
  double ink = 0;
  for (const float value : in) ink += value;
  std::size_t centre = static_cast<std::size_t>(rng.below(plane.size()));
  const double target = static_cast<double>(rng.uniform()) * ink;
  if (ink > 0) {
    double sum = 0;
    for (centre = 0; centre + 1 < in.size(); ++centre)
      if ((sum += in[centre]) > target) break;
  }
  const std::size_t row = centre / plane.width, column = centre % plane.width;
  const std::size_t top = std::min(row - std::min(row, side / 2), plane.height - side);
  const std::size_t left = std::min(column - std::min(column, side / 2), plane.width - side);
  for (std::size_t r = top; r < top + side; ++r)
    std::fill_n(out.begin() + static_cast<std::ptrdiff_t>(r * plane.width + left), side, 0.0f);
}

inline void check_corruption_input(std::span<const float> image, std::size_t height, std::size_t width,
                                   std::size_t out_size) {
  if (height == 0 || width == 0)
    throw std::invalid_argument("corrupt: the image is " + std::to_string(height) + "x" + std::to_string(width) +
                                " pixels; both sides must be at least 1");
  if (image.size() != height * width || out_size != height * width)
    throw std::invalid_argument("corrupt: a " + std::to_string(height) + "x" + std::to_string(width) + " image has " +
                                std::to_string(height * width) + " pixels, but the input has " +
                                std::to_string(image.size()) + " and the output room for " + std::to_string(out_size));
  for (std::size_t i = 0; i < image.size(); ++i)
    if (!(image[i] >= 0.0f && image[i] <= 1.0f))
      throw std::invalid_argument("corrupt: pixel " + std::to_string(i) + " is " + std::to_string(image[i]) +
                                  ", outside [0, 1]");
}

}  // namespace detail

// out = the `kind` corruption of `image` (height x width, row-major, pixels in [0, 1]) with
// Rng(seed), always in [0, 1]. `out` may be `image` itself. Throws std::invalid_argument when a
// side is zero, a span does not hold height * width pixels, or a pixel is outside [0, 1] or NaN.
inline void corrupt(Corruption kind, std::span<const float> image, std::size_t height, std::size_t width,
                    std::span<float> out, std::uint64_t seed) {
  detail::check_corruption_input(image, height, width, out.size());
  const detail::CorruptionPlane plane(height, width);
  const std::vector<float> in(image.begin(), image.end());
  Rng rng(seed);
  const auto warp = [&](const Affine& affine) { apply_affine(affine, in, out, height, width); };
  switch (kind) {
    case Corruption::shot_noise:
      detail::shot_noise(in, out, rng);
      break;
    case Corruption::impulse_noise:
      detail::impulse_noise(in, out, rng);
      break;
    case Corruption::gaussian_blur:
      detail::blur_gaussian(plane, in, out, 2 * plane.unit);
      break;
    case Corruption::motion_blur:
      detail::motion_blur(plane, in, out, rng);
      break;
    case Corruption::glass_blur:
      detail::glass_blur(plane, in, out, rng);
      break;
    case Corruption::rotation:
      warp({.rotation_degrees = detail::random_sign(rng) * detail::corruption_angle_degrees});
      break;
    case Corruption::shear:
      warp({.shear_degrees = detail::random_sign(rng) * detail::corruption_angle_degrees});
      break;
    case Corruption::scale:
      warp({.scale = 0.7f});
      break;
    case Corruption::translation: {
      const auto shift = static_cast<float>(std::max(1.0, std::round(3 * plane.unit)));
      const float x = detail::random_sign(rng) * shift, y = detail::random_sign(rng) * shift;
      warp({.translation_x = x, .translation_y = y});
      break;
    }
    case Corruption::brightness:
      for (std::size_t i = 0; i < in.size(); ++i) out[i] = std::min(in[i] + 0.5f, 1.0f);
      break;
    case Corruption::contrast: {
      double sum = 0;
      for (const float value : in) sum += value;
      const auto mean = static_cast<float>(sum / static_cast<double>(in.size()));
      for (std::size_t i = 0; i < in.size(); ++i) out[i] = mean + 0.1f * (in[i] - mean);
      break;
    }
    case Corruption::fog:
      detail::fog(plane, in, out, rng);
      break;
    case Corruption::stripe: {
      const std::size_t band = width / 4;
      for (std::size_t i = 0; i < in.size(); ++i) {
        const std::size_t column = i % width;
        out[i] = column < band || column >= width - band ? 1.0f - in[i] : in[i];
      }
      break;
    }
    case Corruption::dotted_line:
      detail::dotted_line(plane, in, out, rng);
      break;
    case Corruption::zigzag:
      detail::zigzag(plane, in, out, rng);
      break;
    case Corruption::canny_edges:
      detail::canny_edges(plane, in, out);
      break;
    case Corruption::occlusion:
      detail::occlusion(plane, in, out, rng);
      break;
    default:
      throw std::invalid_argument("corrupt: unknown corruption " + std::to_string(static_cast<int>(kind)));
  }
  for (float& value : out) value = std::clamp(value, 0.0f, 1.0f);
}

// Every image of a single-channel data set corrupted, image i with derive_seed(seed, i), in
// parallel over the images (OpenMP) with the same result for any number of threads. Labels are
// kept; the name gets the corruption's. Throws std::invalid_argument on a multi-channel data set
// and as `corrupt` does.
inline Dataset corrupt_dataset(const Dataset& dataset, Corruption kind, std::uint64_t seed) {
  if (dataset.channels != 1)
    throw std::invalid_argument(dataset.name + ": corruptions are defined for single-channel images, not " +
                                std::to_string(dataset.channels) + " channels");
  if (dataset.images.size() != dataset.size() * dataset.image_size())
    throw std::invalid_argument(dataset.name + ": " + std::to_string(dataset.images.size()) + " pixels for " +
                                std::to_string(dataset.size()) + " images of " + std::to_string(dataset.image_size()));
  Dataset result;
  result.name = dataset.name + " (" + std::string(to_string(kind)) + ")";
  result.channels = 1;
  result.height = dataset.height;
  result.width = dataset.width;
  result.labels = dataset.labels;
  result.images.resize(dataset.images.size());
  const auto count = static_cast<std::ptrdiff_t>(dataset.size());
  // The error of the first bad image, whichever thread met it, rethrown outside the parallel loop.
  std::size_t error_index = dataset.size();
  std::string error;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
  for (std::ptrdiff_t i = 0; i < count; ++i) {
    const auto index = static_cast<std::size_t>(i);
    try {
      corrupt(kind, dataset.image(index), dataset.height, dataset.width, result.image(index), derive_seed(seed, index));
    } catch (const std::exception& failure) {
#ifdef _OPENMP
#pragma omp critical(ctnn_corrupt_dataset)
#endif
      if (index < error_index) {
        error_index = index;
        error = failure.what();
      }
    }
  }
  if (error_index < dataset.size())
    throw std::invalid_argument(dataset.name + ": image " + std::to_string(error_index) + ": " + error);
  return result;
}

}  // namespace ctnn
