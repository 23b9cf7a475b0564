// On-the-fly augmentation of single-channel images: affine, elastic, random erasing, noise.
// Images are row-major float spans of height * width values in [0, 1], 0 being background.
// Geometry is inverse mapping: each output pixel asks where it comes from in the input and reads
// it with bilinear interpolation, zero outside. Pixel (row, column) sits at (x, y) = (column, row)
// and transforms act about the centre ((width - 1) / 2, (height - 1) / 2), so identity maps land
// exactly on pixel centres and reproduce the input bit for bit. `augment` fuses affine and elastic
// into one resampling, so the image is interpolated (and blurred) once, not twice.
// All randomness comes from the `Rng&` passed in, never from std distributions: the same seed
// gives the same bytes with g++ and clang and with any number of OpenMP threads. On FMA hardware
// (-march=native) both compilers fuse multiply-adds by default, differently at each call site, so
// the last bits then depend on compiler and caller; add -ffp-contract=off to keep them identical.
// The exact identities above hold either way.
#pragma once

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <span>
#include <vector>

#include <ctnn/core/random.hpp>

namespace ctnn {

// Ranges to draw an `Affine` from; each parameter is uniform in [-max, max] (scale in
// [1 - max_scale_change, 1 + max_scale_change]). All zero means "no affine transform".
struct AffineRange {
  float max_rotation_degrees = 0;
  float max_scale_change = 0;  // 0.1 means scale in [0.9, 1.1]
  float max_translation_pixels = 0;
  float max_shear_degrees = 0;
};

// One affine transform, applied about the image centre as
//   p_out = R(rotation) * Shear(shear) * scale * (p_in - centre) + centre + translation.
// Positive rotation turns the content counter-clockwise on screen (rows grow downwards, as in
// OpenCV); positive translation moves it right (x) and down (y); shear slides rows sideways,
// x' = x + tan(shear) * y.
struct Affine {
  float rotation_degrees = 0;
  float scale = 1;
  float translation_x = 0;
  float translation_y = 0;
  float shear_degrees = 0;
};

// Elastic distortion after Simard, Steinkraus & Platt, "Best practices for convolutional neural
// networks applied to visual document analysis" (ICDAR 2003), section 2: per-pixel displacements
// uniform in [-1, 1], smoothed by a Gaussian of standard deviation `sigma` pixels, scaled by
// `alpha` pixels. The paper's values for 28x28 MNIST are sigma = 4 and alpha = 34 (the defaults).
// Like the widely used implementations we do not renormalize the smoothed field, so its rms is
// about 0.163 * alpha / sigma pixels per axis (sqrt(1/3 / (4 pi sigma^2)) before alpha): 1.4 here.
struct ElasticOptions {
  float alpha = 34;
  float sigma = 4;
};

// Random erasing after Zhong et al., "Random Erasing Data Augmentation" (2017), algorithm 1:
// a rectangle whose area is a fraction in [area_min, area_max] of the image and whose aspect
// ratio (height / width) is in [aspect_min, aspect_max] is filled with `value`, or with uniform
// noise in [0, 1) per pixel (the paper's RE-R) when `random_value` is set. The paper uses
// s_l = 0.02, s_h = 0.4 and r_1 = 0.3; we keep the ratio range symmetric, [1/3, 3].
struct ErasingOptions {
  float area_min = 0.02f;
  float area_max = 0.4f;
  float aspect_min = 1.0f / 3.0f;
  float aspect_max = 3.0f;
  float value = 0;
  bool random_value = false;
  // The paper redraws until the rectangle fits; we give up (and erase nothing) after this many.
  std::size_t attempts = 10;
};

// Everything `augment` does to one image, in this order:
//   1. affine (drawn from `affine`) and elastic, fused into one resampling of the input;
//   2. random erasing with probability `erase_probability` (an occluder is part of the scene);
//   3. Gaussian noise of `noise_stddev`, clipped to [0, 1] (sensor noise covers the occluder too).
// A default-constructed `Augmentation` is the identity and draws no random numbers.
struct Augmentation {
  AffineRange affine;
  bool elastic = false;
  ElasticOptions elastic_options;
  float erase_probability = 0;
  ErasingOptions erasing;
  float noise_stddev = 0;
};

inline bool is_identity(const Augmentation& augmentation) noexcept {
  const AffineRange& a = augmentation.affine;
  return a.max_rotation_degrees == 0 && a.max_scale_change == 0 && a.max_translation_pixels == 0 &&
         a.max_shear_degrees == 0 && !augmentation.elastic && augmentation.erase_probability == 0 &&
         augmentation.noise_stddev == 0;
}

namespace detail {

// The inverse of an `Affine` as p_in = linear * p_out + offset, in double so that integer
// translations and the identity give exact pixel-centre coordinates.
struct InverseAffine {
  double xx = 1, xy = 0, yx = 0, yy = 1;
  double offset_x = 0, offset_y = 0;
};

inline bool is_identity(const Affine& affine) noexcept {
  return affine.rotation_degrees == 0 && affine.scale == 1 && affine.translation_x == 0 && affine.translation_y == 0 &&
         affine.shear_degrees == 0;
}

inline bool is_zero(const AffineRange& range) noexcept {
  return range.max_rotation_degrees == 0 && range.max_scale_change == 0 && range.max_translation_pixels == 0 &&
         range.max_shear_degrees == 0;
}

// M = R * Shear * s with R = [[c, n], [-n, c]], Shear = [[1, t], [0, 1]], so
// M^-1 = (1 / s) * Shear^-1 * R^-1 = (1 / s) * [[c - t n, -n - t c], [n, c]], and
// p_in = M^-1 (p_out - centre - translation) + centre.
inline InverseAffine affine_inverse(const Affine& affine, std::size_t height, std::size_t width) noexcept {
  constexpr double radians_per_degree = std::numbers::pi / 180.0;
  const double angle = affine.rotation_degrees * radians_per_degree;
  const double c = std::cos(angle), n = std::sin(angle);
  const double t = std::tan(affine.shear_degrees * radians_per_degree);
  const double inverse_scale = 1.0 / affine.scale;
  InverseAffine map;
  map.xx = inverse_scale * (c - t * n);
  map.xy = inverse_scale * (-n - t * c);
  map.yx = inverse_scale * n;
  map.yy = inverse_scale * c;
  const double centre_x = (static_cast<double>(width) - 1) / 2;
  const double centre_y = (static_cast<double>(height) - 1) / 2;
  const double shifted_x = centre_x + affine.translation_x, shifted_y = centre_y + affine.translation_y;
  map.offset_x = centre_x - (map.xx * shifted_x + map.xy * shifted_y);
  map.offset_y = centre_y - (map.yx * shifted_x + map.yy * shifted_y);
  return map;
}

// Bilinear read at (x, y), zero outside the image. Written as v0 + a * (v1 - v0) so that a zero
// fraction returns the pixel exactly.
inline float sample_bilinear(std::span<const float> image, std::size_t height, std::size_t width, double x,
                             double y) noexcept {
  const double floor_x = std::floor(x), floor_y = std::floor(y);
  const auto rows = static_cast<double>(height), columns = static_cast<double>(width);
  // Also rejects NaN, and keeps the integer conversion below in range.
  if (!(floor_x >= -1 && floor_y >= -1 && floor_x < columns && floor_y < rows)) return 0.0f;
  const auto column = static_cast<std::ptrdiff_t>(floor_x);
  const auto row = static_cast<std::ptrdiff_t>(floor_y);
  const auto at = [&](std::ptrdiff_t r, std::ptrdiff_t c) noexcept -> float {
    if (r < 0 || c < 0 || r >= static_cast<std::ptrdiff_t>(height) || c >= static_cast<std::ptrdiff_t>(width))
      return 0.0f;
    return image[static_cast<std::size_t>(r) * width + static_cast<std::size_t>(c)];
  };
  const auto along_x = static_cast<float>(x - floor_x);
  const auto along_y = static_cast<float>(y - floor_y);
  const float top_left = at(row, column), bottom_left = at(row + 1, column);
  const float top = top_left + along_x * (at(row, column + 1) - top_left);
  const float bottom = bottom_left + along_x * (at(row + 1, column + 1) - bottom_left);
  return top + along_y * (bottom - top);
}

// out(p) = in(map(p + d(p))): elastic displacement d first, then the inverse affine, which is
// elastic(affine(in)) with a single interpolation. Empty dx, dy mean d = 0.
inline void resample_bilinear(const InverseAffine& map, std::span<const float> dx, std::span<const float> dy,
                              std::span<const float> in, std::span<float> out, std::size_t height,
                              std::size_t width) noexcept {
  const bool displaced = !dx.empty();
  for (std::size_t row = 0; row < height; ++row) {
    for (std::size_t column = 0; column < width; ++column) {
      const std::size_t index = row * width + column;
      double x = static_cast<double>(column), y = static_cast<double>(row);
      if (displaced) {
        x += dx[index];
        y += dy[index];
      }
      const double source_x = map.xx * x + map.xy * y + map.offset_x;
      const double source_y = map.yx * x + map.yy * y + map.offset_y;
      out[index] = sample_bilinear(in, height, width, source_x, source_y);
    }
  }
}

inline bool spans_overlap(std::span<const float> a, std::span<const float> b) noexcept {
  return a.data() < b.data() + b.size() && b.data() < a.data() + a.size();
}

}  // namespace detail

// Draws rotation, scale, translation x, translation y and shear, in that order, each uniform in
// its range. Always draws five numbers, so the stream does not depend on which ranges are zero.
inline Affine sample_affine(const AffineRange& range, Rng& rng) noexcept {
  Affine affine;
  affine.rotation_degrees = rng.uniform(-range.max_rotation_degrees, range.max_rotation_degrees);
  affine.scale = rng.uniform(1 - range.max_scale_change, 1 + range.max_scale_change);
  affine.translation_x = rng.uniform(-range.max_translation_pixels, range.max_translation_pixels);
  affine.translation_y = rng.uniform(-range.max_translation_pixels, range.max_translation_pixels);
  affine.shear_degrees = rng.uniform(-range.max_shear_degrees, range.max_shear_degrees);
  return affine;
}

// out = affine(in), both height * width, not overlapping. Requires scale > 0.
// The identity copies; integer translations move the content exactly (sources land on pixel
// centres); content moved in from outside the image is zero.
inline void apply_affine(const Affine& affine, std::span<const float> in, std::span<float> out, std::size_t height,
                         std::size_t width) noexcept {
  assert(in.size() == height * width && out.size() == height * width);
  assert(!detail::spans_overlap(in, out));
  assert(affine.scale > 0);
  if (detail::is_identity(affine)) {
    std::copy(in.begin(), in.end(), out.begin());
    return;
  }
  detail::resample_bilinear(detail::affine_inverse(affine, height, width), {}, {}, in, out, height, width);
}

// Working memory for elastic distortion: the displacement field and the Gaussian kernel, sized on
// first use and reused, so that warmed-up calls do not allocate. Give each thread its own.
class ElasticScratch {
 public:
  // Draws a new displacement field for a height * width image: dx for every pixel, then dy
  // (uniform in [-1, 1], row-major), each smoothed by a separable Gaussian with zero padding
  // (the noise has mean zero, so zero is its best guess outside), then scaled by alpha.
  void generate(const ElasticOptions& options, std::size_t height, std::size_t width, Rng& rng) {
    const std::size_t size = height * width;
    dx_.resize(size);
    dy_.resize(size);
    blurred_.resize(size);
    if (!(options.sigma == kernel_sigma_)) build_kernel(options.sigma);
    for (float& value : dx_) value = rng.uniform(-1.0f, 1.0f);
    for (float& value : dy_) value = rng.uniform(-1.0f, 1.0f);
    smooth(dx_, height, width, options.alpha);
    smooth(dy_, height, width, options.alpha);
  }

  // The last field generated, in pixels: out(x, y) reads in(x + dx, y + dy).
  std::span<const float> dx() const noexcept { return dx_; }
  std::span<const float> dy() const noexcept { return dy_; }

 private:
  // Normalized Gaussian truncated at 4 sigma (scipy.ndimage's default); sigma <= 0 means no
  // smoothing at all.
  void build_kernel(float sigma) {
    kernel_sigma_ = sigma;
    if (!(sigma > 0)) {
      kernel_.assign(1, 1.0f);
      return;
    }
    const auto radius = static_cast<std::size_t>(std::ceil(4.0 * sigma));
    kernel_.resize(2 * radius + 1);
    std::vector<double> weights(kernel_.size());
    double total = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      const double distance = static_cast<double>(i) - static_cast<double>(radius);
      weights[i] = std::exp(-distance * distance / (2.0 * sigma * sigma));
      total += weights[i];
    }
    for (std::size_t i = 0; i < weights.size(); ++i) kernel_[i] = static_cast<float>(weights[i] / total);
  }

  // field = scale * G_y * (G_x * field), taps outside the image count as zero.
  void smooth(std::vector<float>& field, std::size_t height, std::size_t width, float scale) noexcept {
    const auto radius = static_cast<std::ptrdiff_t>(kernel_.size() / 2);
    const auto rows = static_cast<std::ptrdiff_t>(height), columns = static_cast<std::ptrdiff_t>(width);
    const float* kernel = kernel_.data() + radius;  // kernel[tap] for tap in [-radius, radius]
    for (std::ptrdiff_t row = 0; row < rows; ++row) {
      const float* line = field.data() + row * columns;
      float* blurred = blurred_.data() + row * columns;
      for (std::ptrdiff_t column = 0; column < columns; ++column) {
        const std::ptrdiff_t first = std::max(-radius, -column), last = std::min(radius, columns - 1 - column);
        float sum = 0;
        for (std::ptrdiff_t tap = first; tap <= last; ++tap) sum += kernel[tap] * line[column + tap];
        blurred[column] = sum;
      }
    }
    for (std::ptrdiff_t row = 0; row < rows; ++row) {
      const std::ptrdiff_t first = std::max(-radius, -row), last = std::min(radius, rows - 1 - row);
      const float* blurred = blurred_.data() + row * columns;
      float* line = field.data() + row * columns;
      for (std::ptrdiff_t column = 0; column < columns; ++column) {
        float sum = 0;
        for (std::ptrdiff_t tap = first; tap <= last; ++tap) sum += kernel[tap] * blurred[tap * columns + column];
        line[column] = scale * sum;
      }
    }
  }

  std::vector<float> dx_, dy_, blurred_, kernel_;
  float kernel_sigma_ = std::numeric_limits<float>::quiet_NaN();
};

// out = elastic(in), both height * width, not overlapping. alpha = 0 gives the input exactly
// (the field is drawn all the same, so the random stream does not depend on alpha).
inline void elastic_distort(const ElasticOptions& options, std::span<const float> in, std::span<float> out,
                            std::size_t height, std::size_t width, Rng& rng, ElasticScratch& scratch) {
  assert(in.size() == height * width && out.size() == height * width);
  assert(!detail::spans_overlap(in, out));
  scratch.generate(options, height, width, rng);
  detail::resample_bilinear(detail::InverseAffine{}, scratch.dx(), scratch.dy(), in, out, height, width);
}

// In place: x <- clamp(x + stddev * N(0, 1), 0, 1). stddev <= 0 does nothing and draws nothing.
inline void add_gaussian_noise(std::span<float> image, float stddev, Rng& rng) noexcept {
  if (!(stddev > 0)) return;
  for (float& value : image) value = std::clamp(value + stddev * rng.normal(), 0.0f, 1.0f);
}

// In place: with `probability`, erases one rectangle as described at `ErasingOptions`. The
// rectangle's actual area (after rounding to whole pixels) is checked against the range, and an
// attempt whose rectangle does not fit or misses the range is redrawn. Returns whether it erased.
inline bool random_erase(std::span<float> image, std::size_t height, std::size_t width, float probability,
                         const ErasingOptions& options, Rng& rng) noexcept {
  assert(image.size() == height * width);
  if (!(rng.uniform() < probability)) return false;
  const double image_area = static_cast<double>(height) * static_cast<double>(width);
  // Log-uniform aspect ratio, so that tall and wide rectangles are equally likely.
  const double log_aspect_min = std::log(static_cast<double>(options.aspect_min));
  const double log_aspect_max = std::log(static_cast<double>(options.aspect_max));
  for (std::size_t attempt = 0; attempt < options.attempts; ++attempt) {
    const double area = image_area * rng.uniform(options.area_min, options.area_max);
    const double aspect = std::exp(log_aspect_min + (log_aspect_max - log_aspect_min) * rng.uniform());
    const double erase_height = std::round(std::sqrt(area * aspect));
    const double erase_width = std::round(std::sqrt(area / aspect));
    if (!(erase_height >= 1 && erase_width >= 1 && erase_height <= static_cast<double>(height) &&
          erase_width <= static_cast<double>(width)))
      continue;
    const double fraction = erase_height * erase_width / image_area;
    if (fraction < options.area_min || fraction > options.area_max) continue;
    const auto rows = static_cast<std::size_t>(erase_height), columns = static_cast<std::size_t>(erase_width);
    const auto top = static_cast<std::size_t>(rng.below(height - rows + 1));
    const auto left = static_cast<std::size_t>(rng.below(width - columns + 1));
    for (std::size_t row = top; row < top + rows; ++row)
      for (std::size_t column = left; column < left + columns; ++column)
        image[row * width + column] = options.random_value ? rng.uniform() : options.value;
    return true;
  }
  return false;
}

// out = augmentation(in), both height * width, not overlapping; the steps and their order are
// listed at `Augmentation`. Steps that are switched off draw no random numbers.
inline void augment(const Augmentation& augmentation, std::span<const float> in, std::span<float> out,
                    std::size_t height, std::size_t width, Rng& rng, ElasticScratch& scratch) {
  assert(in.size() == height * width && out.size() == height * width);
  assert(!detail::spans_overlap(in, out));
  const bool affine = !detail::is_zero(augmentation.affine);
  if (!affine && !augmentation.elastic) {
    std::copy(in.begin(), in.end(), out.begin());
  } else {
    const Affine transform = affine ? sample_affine(augmentation.affine, rng) : Affine{};
    const detail::InverseAffine map = detail::affine_inverse(transform, height, width);
    if (augmentation.elastic) {
      scratch.generate(augmentation.elastic_options, height, width, rng);
      detail::resample_bilinear(map, scratch.dx(), scratch.dy(), in, out, height, width);
    } else {
      detail::resample_bilinear(map, {}, {}, in, out, height, width);
    }
  }
  if (augmentation.erase_probability > 0)
    random_erase(out, height, width, augmentation.erase_probability, augmentation.erasing, rng);
  add_gaussian_noise(out, augmentation.noise_stddev, rng);
}

// The seed of the image at `position` of a batch that holds dataset image `index`. Keying on the
// image keeps batches that share one seed from repeating the same transforms position by
// position; keying on the position keeps a repeated image within a batch from getting the same
// transform twice. Neither depends on threads, so results are the same for any thread count.
constexpr std::uint64_t augmentation_seed(std::uint64_t seed, std::size_t index, std::size_t position) noexcept {
  return derive_seed(derive_seed(seed, index), position);
}

// out[k] = augment(images[indices[k]]) for every k, with Rng(augmentation_seed(seed, indices[k], k)),
// in parallel over k with OpenMP when enabled. `images` holds whole images of height * width
// floats; `out` holds indices.size() of them. Pass a new seed each epoch (for example
// derive_seed(run_seed, epoch)) so that an image is augmented differently each time it is seen.
inline void augment_batch(const Augmentation& augmentation, const float* images, std::span<const std::size_t> indices,
                          float* out, std::size_t height, std::size_t width, std::uint64_t seed) {
  const std::size_t size = height * width;
  const auto count = static_cast<std::ptrdiff_t>(indices.size());
#ifdef _OPENMP
#pragma omp parallel
#endif
  {
    ElasticScratch scratch;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
    for (std::ptrdiff_t position = 0; position < count; ++position) {
      const std::size_t index = indices[static_cast<std::size_t>(position)];
      Rng rng(augmentation_seed(seed, index, static_cast<std::size_t>(position)));
      augment(augmentation, {images + index * size, size}, {out + static_cast<std::size_t>(position) * size, size},
              height, width, rng, scratch);
    }
  }
}

}  // namespace ctnn
