// The MNIST preparation of a digit image, so that a net trained on MNIST reads a person's own
// handwriting. LeCun et al. (1998, section III-A) and the MNIST page describe it: the digit is
// "size normalized to fit in a 20x20 pixel box while preserving [its] aspect ratio", anti-aliased,
// then "centered in a 28x28 image by computing the center of mass of the pixels, and translating
// the image so as to position this point at the center of the 28x28 field".
// Two stages, so that a number is cleaned once and each of its digits is prepared alone
// (segmentation.hpp):
//  1. extract_ink: luminance -> ink coverage in [0, 1], MNIST's polarity (0 background, 1 ink).
//     Polarity rule: the background is the median pixel (a digit covers less than half of its
//     image), and the ink lies on the side of the median where the mean lies, since the few
//     pixels that differ from the background pull the mean toward them (measured on a histogram
//     as the summed distances above and below the median's bin). No lean (a uniform page) reads as
//     dark ink on light paper, the common case.
//     Paper: a smooth surface fitted to the paper side of a grid of cells (PaperSurface) is taken
//     away, so a page lit unevenly, as photographed pages are, reads as evenly lit.
//     Contrast: Otsu's threshold (1979) splits ink from background; the background's noise floor
//     (median + 3 median absolute deviations) maps to 0 and the ink class's 90th percentile to 1.
//     Ink less than min_contrast above the background is no ink: a blank page is a NoInkError.
//  2. prepare_ink: components of the ink above ink_threshold (8-connected) smaller than
//     speck_fraction of the largest are specks and are erased; the rest's bounding box, widened by
//     its anti-aliased edge, is cropped; strokes far thinner or thicker than MNIST's (an estimate
//     from ink mass and perimeter) are grown or shrunk toward MNIST's width with a Euclidean
//     distance transform, since a fine pen on a large page would otherwise shrink to a faint
//     hairline (our addition to LeCun's recipe, which started from NIST's uniform pens); the crop
//     is scaled by area averaging (bilinear when enlarging) so its longer side is 20 pixels; an
//     integer shift puts its centre of mass at pixel (14, 14) of the 28x28 image, as MNIST's
//     training digits have it on average (measured: 14.01, 14.00 in row/column index
//     coordinates); and the brightest pixel is scaled to 1, as in every MNIST image.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include <ctnn/io/dataset.hpp>
#include <ctnn/io/image.hpp>

namespace ctnn {

inline constexpr std::size_t mnist_side = 28;  // an MNIST image is 28x28
inline constexpr std::size_t mnist_box = 20;   // its digit is scaled to fit 20x20
inline constexpr float mnist_centre = 14;      // where its centre of mass lies, row and column

// An image without a digit: blank, or ink too faint to tell from the paper.
class NoInkError : public DataError {
 public:
  using DataError::DataError;
};

struct DigitPreparationOptions {
  float min_contrast = 0.15f;      // ink this little above the paper (on the 0..1 scale) is no ink
  float ink_threshold = 0.5f;      // coverage at which a pixel counts as ink for boxes and components
  float speck_fraction = 0.04f;    // components below this fraction of the largest one's area are specks
  std::size_t min_ink_pixels = 6;  // less ink than this, after specks, is no digit
  // Stroke width in output pixels, by the estimate below: MNIST's median is 2.5 and 80% of its
  // training digits lie within 1.8..3.4. Strokes outside [min_stroke_width, max_stroke_width] are
  // brought to target_stroke_width; 0 for a bound leaves that side alone. The bounds are wide,
  // for pens unlike any in MNIST (a fine pen on a large page): adjusting MNIST's own thin or bold
  // digits toward the median costs accuracy (LeNet-5 on MNIST's test set, re-prepared: 99.39% as
  // set here, 99.14% with bounds 1.8..3.8; 99.41% unprepared).
  float target_stroke_width = 2.5f;
  float min_stroke_width = 1.0f;
  float max_stroke_width = 6.0f;
};

// Rows top..top+height-1 and columns left..left+width-1 of an image.
struct InkBox {
  std::size_t top = 0, left = 0, height = 0, width = 0;

  std::size_t bottom() const noexcept { return top + height; }  // one past the last row
  std::size_t right() const noexcept { return left + width; }   // one past the last column
  bool empty() const noexcept { return height == 0 || width == 0; }
};

// The smallest box holding both; an empty box is the identity.
inline InkBox box_union(const InkBox& a, const InkBox& b) noexcept {
  if (a.empty()) return b;
  if (b.empty()) return a;
  const std::size_t top = std::min(a.top, b.top), left = std::min(a.left, b.left);
  return {top, left, std::max(a.bottom(), b.bottom()) - top, std::max(a.right(), b.right()) - left};
}

// The ink of an image, MNIST's polarity, and the source levels that became 0 and 1.
struct InkImage {
  GrayImage ink;          // coverage in [0, 1]: 0 paper, 1 full ink
  bool inverted = false;  // the source had dark ink on a light background
  float paper_level = 0;  // source luminance mapped to 0 (the paper's noise floor)
  float ink_level = 1;    // source luminance mapped to 1
};

namespace detail {

inline float clamp_unit(float value) noexcept { return value >= 0 ? std::min(value, 1.0f) : 0.0f; }  // NaN -> 0

// Histograms of ink-ness, which lies in [-1, 1] once the paper is subtracted: 512 bins of width
// 1/256, bin b holding [b/256 - 1, (b+1)/256 - 1).
inline constexpr std::size_t histogram_bins = 512;
using Histogram = std::array<std::size_t, histogram_bins>;

inline std::size_t histogram_bin(float value) noexcept {
  const float clamped = value >= -1 ? std::min(value, 1.0f) : -1.0f;  // NaN -> -1
  return std::min(histogram_bins - 1, static_cast<std::size_t>((clamped + 1) * 256));
}
inline float bin_centre(std::size_t bin) noexcept { return (static_cast<float>(bin) + 0.5f) / 256 - 1; }

// The bin holding the q-quantile of the counts in bins [first, last).
inline std::size_t histogram_quantile(const Histogram& histogram, std::size_t first, std::size_t last, double q) {
  std::size_t total = 0;
  for (std::size_t b = first; b < last; ++b) total += histogram[b];
  if (!total) return first;
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(total - 1));
  std::size_t seen = 0;
  for (std::size_t b = first; b < last; ++b) {
    seen += histogram[b];
    if (seen > rank) return b;
  }
  return last - 1;
}

// Otsu's threshold (1979): the bin t maximizing the between-class variance of bins [0, t] and
// (t, last]; histogram_bins when every count lies in one bin and nothing can be split.
inline std::size_t otsu_threshold(const Histogram& histogram) {
  double total = 0, weighted = 0;
  for (std::size_t b = 0; b < histogram_bins; ++b) {
    total += static_cast<double>(histogram[b]);
    weighted += static_cast<double>(b) * static_cast<double>(histogram[b]);
  }
  double below = 0, below_weighted = 0, best = -1;
  std::size_t threshold = histogram_bins;
  for (std::size_t t = 0; t + 1 < histogram_bins; ++t) {
    below += static_cast<double>(histogram[t]);
    below_weighted += static_cast<double>(t) * static_cast<double>(histogram[t]);
    const double above = total - below;
    if (below == 0 || above == 0) continue;
    const double difference = below_weighted / below - (weighted - below_weighted) / above;
    const double between = below * above * difference * difference;
    if (between > best) {
      best = between;
      threshold = t;
    }
  }
  return threshold;
}

// The paper's luminance across the image, a smooth surface: lighting across a photographed page
// varies slowly, ink does not. The image is cut into a grid of up to 8x8 cells, each summed up by
// the `quantile` of its pixels on the paper's side (0.9 under dark ink, 0.1 under light ink: right
// unless the ink covers 90% of the cell); a quadratic in x and y (a plane or a constant when there
// are few cells) is fitted to these by least squares, cells more than 3 robust deviations off the
// fit (inside a thick stroke) are dropped, and the fit is repeated.
class PaperSurface {
 public:
  PaperSurface(const GrayImage& image, double quantile) : height_(image.height), width_(image.width) {
    const std::size_t rows = std::clamp<std::size_t>(image.height / 4, 1, 8);
    const std::size_t columns = std::clamp<std::size_t>(image.width / 4, 1, 8);
    std::vector<std::array<double, 3>> cells;  // x, y, median
    std::vector<float> values;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t j = 0; j < columns; ++j) {
        const std::size_t top = i * image.height / rows, bottom = (i + 1) * image.height / rows;
        const std::size_t left = j * image.width / columns, right = (j + 1) * image.width / columns;
        values.clear();
        for (std::size_t r = top; r < bottom; ++r)
          for (std::size_t c = left; c < right; ++c) values.push_back(clamp_unit(image(r, c)));
        if (values.empty()) continue;
        const auto rank =
            values.begin() + static_cast<std::ptrdiff_t>(quantile * static_cast<double>(values.size() - 1));
        std::nth_element(values.begin(), rank, values.end());
        cells.push_back({x_at(static_cast<double>(left + right) / 2 - 0.5),
                         y_at(static_cast<double>(top + bottom) / 2 - 0.5), static_cast<double>(*rank)});
      }
    std::vector<std::uint8_t> kept(cells.size(), 1);
    for (int round = 0; round < 3; ++round) {
      fit(cells, kept);
      std::vector<double> deviations;
      for (std::size_t k = 0; k < cells.size(); ++k)
        if (kept[k]) deviations.push_back(std::abs(cells[k][2] - at(cells[k][0], cells[k][1])));
      if (deviations.empty()) break;
      std::nth_element(deviations.begin(), deviations.begin() + static_cast<std::ptrdiff_t>(deviations.size() / 2),
                       deviations.end());
      const double limit = std::max(3 * 1.4826 * deviations[deviations.size() / 2], 0.02);
      for (std::size_t k = 0; k < cells.size(); ++k)
        kept[k] = std::abs(cells[k][2] - at(cells[k][0], cells[k][1])) <= limit;
    }
    fit(cells, kept);
  }

  // The paper's luminance at a pixel.
  float operator()(std::size_t row, std::size_t column) const noexcept {
    return static_cast<float>(at(x_at(static_cast<double>(column)), y_at(static_cast<double>(row))));
  }

 private:
  double x_at(double column) const noexcept { return (2 * column + 1) / static_cast<double>(width_) - 1; }
  double y_at(double row) const noexcept { return (2 * row + 1) / static_cast<double>(height_) - 1; }
  double at(double x, double y) const noexcept {
    const double basis[6] = {1, x, y, x * x, x * y, y * y};
    double value = 0;
    for (std::size_t p = 0; p < terms_; ++p) value += coefficients_[p] * basis[p];
    return value;
  }

  // Least squares over the kept cells with as many terms as they support: 6 (quadratic) from 16
  // cells, 3 (plane) from 4, else the median. Gaussian elimination with partial pivoting on the
  // normal equations; a singular system falls back to fewer terms.
  void fit(const std::vector<std::array<double, 3>>& cells, const std::vector<std::uint8_t>& kept) {
    std::vector<double> medians;
    for (std::size_t k = 0; k < cells.size(); ++k)
      if (kept[k]) medians.push_back(cells[k][2]);
    coefficients_ = {};
    terms_ = 1;
    if (medians.empty()) return;
    std::nth_element(medians.begin(), medians.begin() + static_cast<std::ptrdiff_t>(medians.size() / 2), medians.end());
    coefficients_[0] = medians[medians.size() / 2];
    for (const std::size_t terms : {std::size_t{6}, std::size_t{3}}) {
      if (medians.size() < (terms == 6 ? 16u : 4u)) continue;
      double a[6][7] = {};
      for (std::size_t k = 0; k < cells.size(); ++k) {
        if (!kept[k]) continue;
        const double x = cells[k][0], y = cells[k][1];
        const double basis[6] = {1, x, y, x * x, x * y, y * y};
        for (std::size_t i = 0; i < terms; ++i) {
          for (std::size_t j = 0; j < terms; ++j) a[i][j] += basis[i] * basis[j];
          a[i][terms] += basis[i] * cells[k][2];
        }
      }
      bool singular = false;
      for (std::size_t column = 0; column < terms && !singular; ++column) {
        std::size_t pivot = column;
        for (std::size_t r = column + 1; r < terms; ++r)
          if (std::abs(a[r][column]) > std::abs(a[pivot][column])) pivot = r;
        if (std::abs(a[pivot][column]) < 1e-9) {
          singular = true;
          break;
        }
        for (std::size_t j = 0; j <= terms; ++j) std::swap(a[column][j], a[pivot][j]);
        for (std::size_t r = 0; r < terms; ++r) {
          if (r == column) continue;
          const double factor = a[r][column] / a[column][column];
          for (std::size_t j = column; j <= terms; ++j) a[r][j] -= factor * a[column][j];
        }
      }
      if (singular) continue;
      for (std::size_t i = 0; i < terms; ++i) coefficients_[i] = a[i][terms] / a[i][i];
      terms_ = terms;
      return;
    }
  }

  std::size_t height_, width_;
  std::array<double, 6> coefficients_{};
  std::size_t terms_ = 1;
};

}  // namespace detail

// Step 1: the ink of a grayscale image (luminance in [0, 1], as read_image gives it).
// Throws DataError for an image under 8 pixels on its longer side and NoInkError for a blank one.
inline InkImage extract_ink(const GrayImage& image, const DigitPreparationOptions& options = {}) {
  if (image.empty() || image.size() != image.height * image.width)
    throw DataError("the image is empty (" + std::to_string(image.width) + "x" + std::to_string(image.height) + ")");
  if (std::max(image.height, image.width) < 8)
    throw DataError("a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                    " image is too small to hold a digit (at least 8 pixels on its longer side)");
  // The mean leans to the side of the median whose pixels lie farther from it in total; summing
  // the two sides apart, at bin centres, keeps the median bin's width out of the comparison.
  detail::Histogram luminance{};
  for (const float value : image.pixels) ++luminance[detail::histogram_bin(detail::clamp_unit(value))];
  const std::size_t median = detail::histogram_quantile(luminance, 0, detail::histogram_bins, 0.5);
  double above = 0, below = 0;
  for (std::size_t b = 0; b < detail::histogram_bins; ++b) {
    const double distance = static_cast<double>(b) - static_cast<double>(median);
    (b > median ? above : below) += static_cast<double>(luminance[b]) * std::abs(distance);
  }
  InkImage result;
  result.inverted = !(above > below);
  // Ink-ness: how far each pixel lies from the paper toward the ink.
  const detail::PaperSurface paper(image, result.inverted ? 0.9 : 0.1);
  result.ink = GrayImage(image.height, image.width);
  detail::Histogram ink{};
  double paper_sum = 0;
  for (std::size_t r = 0; r < image.height; ++r)
    for (std::size_t c = 0; c < image.width; ++c) {
      const float level = paper(r, c), value = detail::clamp_unit(image(r, c));
      paper_sum += level;
      result.ink(r, c) = result.inverted ? level - value : value - level;
      ++ink[detail::histogram_bin(result.ink(r, c))];
    }
  const std::size_t threshold = detail::otsu_threshold(ink);
  if (threshold >= detail::histogram_bins) throw NoInkError("no ink: the image is one uniform shade");
  const std::size_t background_bin = detail::histogram_quantile(ink, 0, threshold + 1, 0.5);
  detail::Histogram deviation{};
  for (std::size_t b = 0; b <= threshold; ++b)
    deviation[b > background_bin ? b - background_bin : background_bin - b] += ink[b];
  const std::size_t spread = detail::histogram_quantile(deviation, 0, detail::histogram_bins, 0.5);
  const float background = detail::bin_centre(background_bin);
  const float floor = background + 3 * static_cast<float>(spread) / 256;
  const float full = detail::bin_centre(detail::histogram_quantile(ink, threshold + 1, detail::histogram_bins, 0.9));
  if (!(full - background >= options.min_contrast) || !(full > floor))
    throw NoInkError("no ink: the image is blank or its marks are fainter than " +
                     std::to_string(static_cast<int>(std::lround(100 * options.min_contrast))) + "% contrast");
  const auto mean_paper = static_cast<float>(paper_sum / static_cast<double>(image.size()));
  result.paper_level = mean_paper + (result.inverted ? -floor : floor);
  result.ink_level = mean_paper + (result.inverted ? -full : full);
  const float scale = 1 / (full - floor);
  for (float& value : result.ink.pixels) value = detail::clamp_unit((value - floor) * scale);
  return result;
}

// Connected regions of ink, 8-connected: pixels touching by an edge or a corner belong together.
struct InkComponent {
  InkBox box;
  std::size_t area = 0;  // pixels at or above the threshold
};

struct InkComponents {
  std::size_t height = 0, width = 0;
  std::vector<std::uint32_t> labels;  // per pixel: 0 below the threshold, k for components[k - 1]
  std::vector<InkComponent> components;

  std::uint32_t label(std::size_t row, std::size_t column) const noexcept { return labels[row * width + column]; }
};

// Labels the pixels of `ink` at or above `threshold`, in raster order of each component's first
// pixel (an iterative flood fill: no recursion, whatever the image).
inline InkComponents label_ink_components(const GrayImage& ink, float threshold) {
  InkComponents result;
  result.height = ink.height;
  result.width = ink.width;
  result.labels.assign(ink.size(), 0);
  std::vector<std::size_t> stack;
  for (std::size_t start = 0; start < ink.size(); ++start) {
    if (result.labels[start] || !(ink.pixels[start] >= threshold)) continue;
    const auto label = static_cast<std::uint32_t>(result.components.size() + 1);
    std::size_t top = start / ink.width, bottom = top, left = start % ink.width, right = left, area = 0;
    result.labels[start] = label;
    stack.assign(1, start);
    while (!stack.empty()) {
      const std::size_t index = stack.back();
      stack.pop_back();
      ++area;
      const std::size_t row = index / ink.width, column = index % ink.width;
      top = std::min(top, row);
      bottom = std::max(bottom, row);
      left = std::min(left, column);
      right = std::max(right, column);
      for (std::size_t r = row ? row - 1 : 0; r <= std::min(row + 1, ink.height - 1); ++r)
        for (std::size_t c = column ? column - 1 : 0; c <= std::min(column + 1, ink.width - 1); ++c) {
          const std::size_t neighbour = r * ink.width + c;
          if (!result.labels[neighbour] && ink.pixels[neighbour] >= threshold) {
            result.labels[neighbour] = label;
            stack.push_back(neighbour);
          }
        }
    }
    result.components.push_back({{top, left, bottom - top + 1, right - left + 1}, area});
  }
  return result;
}

// What prepare_ink made and how, for reports and for --save-prepared style previews.
struct PreparedDigit {
  std::array<float, mnist_side * mnist_side> pixels{};  // 28x28 row-major, 0 background, 1 ink
  bool inverted = false;                                // the source was dark ink on light paper (set by prepare_digit)
  InkBox ink_box;                                       // the ink that was kept, in the input's pixels
  std::size_t specks = 0;                               // components erased as specks
  float scale = 0;                                      // output pixels per input pixel
  float stroke_width = 0;                               // the input's estimated stroke width, in output pixels
  float stroke_change = 0;  // input pixels grown (+) or shrunk (-) on each side of every stroke

  GrayImage image() const {
    GrayImage result(mnist_side, mnist_side);
    std::copy(pixels.begin(), pixels.end(), result.pixels.begin());
    return result;
  }
};

namespace detail {

// Squared Euclidean distance from every pixel centre to the nearest pixel with on[i] set, by
// Felzenszwalb & Huttenlocher's lower envelope of parabolas (2012), once along columns and once
// along rows: linear time. Pixels with no such pixel get +infinity.
inline std::vector<float> squared_distance_transform(const std::vector<std::uint8_t>& on, std::size_t height,
                                                     std::size_t width) {
  constexpr float infinity = std::numeric_limits<float>::infinity();
  std::vector<float> distance(on.size());
  for (std::size_t i = 0; i < on.size(); ++i) distance[i] = on[i] ? 0.0f : infinity;
  const std::size_t longest = std::max(height, width);
  std::vector<float> f(longest), d(longest);
  std::vector<double> z(longest + 1);
  std::vector<std::size_t> v(longest);
  // One line: v holds the parabolas of the lower envelope, z[k]..z[k+1] where v[k] is lowest.
  const auto transform_line = [&](std::size_t n) {
    std::size_t k = 0;
    bool any = false;
    for (std::size_t q = 0; q < n; ++q) {
      if (f[q] == infinity) continue;  // no parabola at a sample with no ink in its column
      const double q_value = static_cast<double>(f[q]) + static_cast<double>(q) * static_cast<double>(q);
      if (!any) {
        any = true;
        v[0] = q;
        z[0] = -static_cast<double>(infinity);
        z[1] = static_cast<double>(infinity);
        continue;
      }
      double s = 0;
      while (true) {  // z[0] is -infinity, so k never drops below 0
        const auto p = static_cast<double>(v[k]);
        s = (q_value - (static_cast<double>(f[v[k]]) + p * p)) / (2 * (static_cast<double>(q) - p));
        if (s > z[k]) break;
        --k;
      }
      ++k;
      v[k] = q;
      z[k] = s;
      z[k + 1] = static_cast<double>(infinity);
    }
    if (!any) {
      std::fill(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(n), infinity);
      return;
    }
    k = 0;
    for (std::size_t q = 0; q < n; ++q) {
      while (z[k + 1] < static_cast<double>(q)) ++k;
      const double offset = static_cast<double>(q) - static_cast<double>(v[k]);
      d[q] = static_cast<float>(offset * offset + static_cast<double>(f[v[k]]));
    }
  };
  for (std::size_t c = 0; c < width; ++c) {
    for (std::size_t r = 0; r < height; ++r) f[r] = distance[r * width + c];
    transform_line(height);
    for (std::size_t r = 0; r < height; ++r) distance[r * width + c] = d[r];
  }
  for (std::size_t r = 0; r < height; ++r) {
    for (std::size_t c = 0; c < width; ++c) f[c] = distance[r * width + c];
    transform_line(width);
    for (std::size_t c = 0; c < width; ++c) distance[r * width + c] = d[c];
  }
  return distance;
}

// Stroke width of the ink, in its own pixels: a stroke of length L and width w has ink mass
// L*w and perimeter about 2L, so w ~ 2 * mass / perimeter. The perimeter is the count of pixel
// edges between ink and paper, times pi/4, the mean excess of such staircase edges over a
// straight line of random direction.
inline float estimate_stroke_width(const GrayImage& ink, float threshold) {
  double mass = 0;
  std::size_t edges = 0;
  const auto is_ink = [&](std::size_t r, std::size_t c) { return ink(r, c) >= threshold; };
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c) {
      mass += ink(r, c);
      if (!is_ink(r, c)) continue;
      edges += (r == 0 || !is_ink(r - 1, c)) + (r + 1 == ink.height || !is_ink(r + 1, c)) +
               (c == 0 || !is_ink(r, c - 1)) + (c + 1 == ink.width || !is_ink(r, c + 1));
    }
  if (!edges) return 0;
  return static_cast<float>(2 * mass / (static_cast<double>(edges) * std::numbers::pi / 4));
}

// Grows (change > 0) or shrinks (change < 0) every stroke by |change| pixels on each side, with
// anti-aliased edges; growing pads the image by the growth. The shape is the ink above
// `threshold`, widened or narrowed along the Euclidean distance to it.
inline GrayImage change_stroke_width(const GrayImage& ink, float threshold, float change) {
  if (change > 0) {
    const auto pad = static_cast<std::size_t>(std::ceil(change)) + 1;
    GrayImage padded(ink.height + 2 * pad, ink.width + 2 * pad);
    std::vector<std::uint8_t> on(padded.size(), 0);
    for (std::size_t r = 0; r < ink.height; ++r)
      for (std::size_t c = 0; c < ink.width; ++c) {
        padded(r + pad, c + pad) = ink(r, c);
        on[(r + pad) * padded.width + c + pad] = ink(r, c) >= threshold;
      }
    const auto distance = squared_distance_transform(on, padded.height, padded.width);
    // A pixel whose centre lies change + 1/2 from the nearest ink pixel's centre is half
    // covered: that ink pixel reaches 1/2 beyond its centre.
    for (std::size_t i = 0; i < padded.size(); ++i)
      padded.pixels[i] = std::max(padded.pixels[i], clamp_unit(change + 1 - std::sqrt(distance[i])));
    return padded;
  }
  std::vector<std::uint8_t> paper(ink.size());
  for (std::size_t i = 0; i < ink.size(); ++i) paper[i] = !(ink.pixels[i] >= threshold);
  // Paper beyond the border: pad by one so the border's ink has paper next to it.
  GrayImage padded_ink(ink.height + 2, ink.width + 2);
  std::vector<std::uint8_t> padded_paper(padded_ink.size(), 1);
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c)
      padded_paper[(r + 1) * padded_ink.width + c + 1] = paper[r * ink.width + c];
  const auto distance = squared_distance_transform(padded_paper, padded_ink.height, padded_ink.width);
  GrayImage result(ink.height, ink.width);
  for (std::size_t r = 0; r < ink.height; ++r)
    for (std::size_t c = 0; c < ink.width; ++c) {
      const float to_paper = std::sqrt(distance[(r + 1) * padded_ink.width + c + 1]);
      result(r, c) = std::min(ink(r, c), clamp_unit(to_paper + change));
    }
  return result;
}

// For one axis: output pixel o reads input pixels taps[offsets[o]..offsets[o+1]), weights
// summing to at most 1 (less where the output pixel runs past the input's end).
struct ResampleTaps {
  std::vector<std::size_t> offsets, indices;
  std::vector<float> weights;
};

// `scale` output pixels per input pixel. Shrinking: output pixel o averages the input over
// [o / scale, (o + 1) / scale) (area averaging, anti-aliased). Enlarging: linear interpolation
// at its centre, with paper (0) beyond the input.
inline ResampleTaps resample_taps(std::size_t in_size, std::size_t out_size, double scale) {
  ResampleTaps taps;
  taps.offsets.push_back(0);
  const auto add = [&](std::ptrdiff_t index, double weight) {
    if (index < 0 || index >= static_cast<std::ptrdiff_t>(in_size) || weight <= 0) return;
    taps.indices.push_back(static_cast<std::size_t>(index));
    taps.weights.push_back(static_cast<float>(weight));
  };
  for (std::size_t o = 0; o < out_size; ++o) {
    if (scale <= 1) {
      const double begin = static_cast<double>(o) / scale, end = static_cast<double>(o + 1) / scale;
      for (auto i = static_cast<std::ptrdiff_t>(std::floor(begin)); static_cast<double>(i) < end; ++i)
        add(i, (std::min(end, static_cast<double>(i + 1)) - std::max(begin, static_cast<double>(i))) * scale);
    } else {
      const double source = (static_cast<double>(o) + 0.5) / scale - 0.5;
      const auto first = static_cast<std::ptrdiff_t>(std::floor(source));
      const double fraction = source - static_cast<double>(first);
      add(first, 1 - fraction);
      add(first + 1, fraction);
    }
    taps.offsets.push_back(taps.indices.size());
  }
  return taps;
}

inline GrayImage resample(const GrayImage& image, std::size_t out_height, std::size_t out_width, double scale) {
  const ResampleTaps rows = resample_taps(image.height, out_height, scale);
  const ResampleTaps columns = resample_taps(image.width, out_width, scale);
  GrayImage across(image.height, out_width);
  for (std::size_t r = 0; r < image.height; ++r)
    for (std::size_t o = 0; o < out_width; ++o) {
      float value = 0;
      for (std::size_t t = columns.offsets[o]; t < columns.offsets[o + 1]; ++t)
        value += columns.weights[t] * image(r, columns.indices[t]);
      across(r, o) = value;
    }
  GrayImage result(out_height, out_width);
  for (std::size_t o = 0; o < out_height; ++o)
    for (std::size_t t = rows.offsets[o]; t < rows.offsets[o + 1]; ++t)
      for (std::size_t c = 0; c < out_width; ++c) result(o, c) += rows.weights[t] * across(rows.indices[t], c);
  return result;
}

// The box of pixels at or above `level`; empty when there are none.
inline InkBox box_above(const GrayImage& image, float level) {
  std::size_t top = image.height, bottom = 0, left = image.width, right = 0;
  for (std::size_t r = 0; r < image.height; ++r)
    for (std::size_t c = 0; c < image.width; ++c)
      if (image(r, c) >= level) {
        top = std::min(top, r);
        bottom = std::max(bottom, r + 1);
        left = std::min(left, c);
        right = std::max(right, c + 1);
      }
  if (top >= bottom) return {};
  return {top, left, bottom - top, right - left};
}

inline GrayImage crop(const GrayImage& image, const InkBox& box) {
  GrayImage result(box.height, box.width);
  for (std::size_t r = 0; r < box.height; ++r)
    for (std::size_t c = 0; c < box.width; ++c) result(r, c) = image(box.top + r, box.left + c);
  return result;
}

// Faint anti-aliased edge pixels count toward the box; fainter ones are noise.
inline constexpr float edge_level = 0.05f;

}  // namespace detail

// Step 2: a 28x28 MNIST-style digit from an ink image (coverage, MNIST's polarity, as
// extract_ink gives it). Throws NoInkError when no ink is left once specks are erased.
inline PreparedDigit prepare_ink(const GrayImage& ink, const DigitPreparationOptions& options = {}) {
  if (ink.empty() || ink.size() != ink.height * ink.width) throw NoInkError("no ink: the image is empty");
  const InkComponents components = label_ink_components(ink, options.ink_threshold);
  std::size_t largest = 0;
  for (const auto& component : components.components) largest = std::max(largest, component.area);
  std::vector<std::uint8_t> kept(components.components.size() + 1, 0);
  PreparedDigit result;
  std::size_t kept_area = 0;
  for (std::size_t k = 0; k < components.components.size(); ++k) {
    const auto& component = components.components[k];
    if (static_cast<float>(component.area) >= options.speck_fraction * static_cast<float>(largest)) {
      kept[k + 1] = 1;
      kept_area += component.area;
      result.ink_box = box_union(result.ink_box, component.box);
    } else {
      ++result.specks;
    }
  }
  if (kept_area < std::max<std::size_t>(options.min_ink_pixels, 1))
    throw NoInkError("no ink: " + std::to_string(kept_area) + " ink pixels, fewer than the " +
                     std::to_string(options.min_ink_pixels) + " a digit needs");

  // The kept ink alone: specks and the faint edge around them become paper.
  const auto near_speck = [&](std::size_t row, std::size_t column) {
    bool speck = false;
    for (std::size_t r = row ? row - 1 : 0; r <= std::min(row + 1, ink.height - 1); ++r)
      for (std::size_t c = column ? column - 1 : 0; c <= std::min(column + 1, ink.width - 1); ++c) {
        const std::uint32_t label = components.label(r, c);
        if (label && kept[label]) return false;
        speck = speck || label;
      }
    return speck;
  };
  // Widen the box by one pixel on each side whose next row or column holds anti-aliased edge.
  InkBox box = result.ink_box;
  const auto has_edge = [&](std::size_t r0, std::size_t r1, std::size_t c0, std::size_t c1) {
    for (std::size_t r = r0; r < r1; ++r)
      for (std::size_t c = c0; c < c1; ++c)
        if (ink(r, c) >= detail::edge_level && !components.label(r, c) && !near_speck(r, c)) return true;
    return false;
  };
  if (box.top > 0 && has_edge(box.top - 1, box.top, box.left, box.right())) {
    --box.top;
    ++box.height;
  }
  if (box.bottom() < ink.height && has_edge(box.bottom(), box.bottom() + 1, box.left, box.right())) ++box.height;
  if (box.left > 0 && has_edge(box.top, box.bottom(), box.left - 1, box.left)) {
    --box.left;
    ++box.width;
  }
  if (box.right() < ink.width && has_edge(box.top, box.bottom(), box.right(), box.right() + 1)) ++box.width;
  GrayImage digit(box.height, box.width);
  for (std::size_t r = 0; r < box.height; ++r)
    for (std::size_t c = 0; c < box.width; ++c) {
      const std::size_t row = box.top + r, column = box.left + c;
      const std::uint32_t label = components.label(row, column);
      const bool keep = label ? kept[label] != 0 : !near_speck(row, column);
      digit(r, c) = keep ? detail::clamp_unit(ink(row, column)) : 0.0f;
    }

  // Stroke width toward MNIST's: the change r per side that gives target width after scaling,
  // (w + 2r) * box / (longest + 2r) = target, since the box grows with the strokes.
  const auto longest_side = [](const GrayImage& image) {
    return static_cast<float>(std::max(image.height, image.width));
  };
  const float width = detail::estimate_stroke_width(digit, options.ink_threshold);
  const float box_side = static_cast<float>(mnist_box);
  result.stroke_width = width * box_side / longest_side(digit);
  const bool too_thin = options.min_stroke_width > 0 && result.stroke_width < options.min_stroke_width;
  const bool too_thick = options.max_stroke_width > 0 && result.stroke_width > options.max_stroke_width;
  if ((too_thin || too_thick) && options.target_stroke_width > 0 && options.target_stroke_width < box_side) {
    const float change = (options.target_stroke_width * longest_side(digit) - box_side * width) /
                         (2 * (box_side - options.target_stroke_width));
    GrayImage changed = detail::change_stroke_width(digit, options.ink_threshold, change);
    const InkBox changed_box = detail::box_above(changed, detail::edge_level);
    // Shrinking never erases a digit: a stroke thinner than the change keeps its original width.
    if (!changed_box.empty() && detail::box_above(changed, options.ink_threshold).height) {
      digit = detail::crop(changed, changed_box);
      result.stroke_change = change;
    }
  }

  // Longer side to 20 pixels, aspect ratio kept.
  const double scale = static_cast<double>(mnist_box) / static_cast<double>(std::max(digit.height, digit.width));
  result.scale = static_cast<float>(scale);
  const auto output_size = [&](std::size_t size) {
    return std::clamp<std::size_t>(static_cast<std::size_t>(std::ceil(static_cast<double>(size) * scale - 1e-6)), 1,
                                   mnist_box);
  };
  const GrayImage scaled = detail::resample(digit, output_size(digit.height), output_size(digit.width), scale);

  // Centre of mass to (14, 14) by a whole-pixel shift, kept inside the 28x28 field.
  double mass = 0, row_moment = 0, column_moment = 0;
  float brightest = 0;
  for (std::size_t r = 0; r < scaled.height; ++r)
    for (std::size_t c = 0; c < scaled.width; ++c) {
      const double value = scaled(r, c);
      mass += value;
      row_moment += value * static_cast<double>(r);
      column_moment += value * static_cast<double>(c);
      brightest = std::max(brightest, scaled(r, c));
    }
  if (!(mass > 0)) throw NoInkError("no ink left after scaling");
  const auto offset = [&](double moment, std::size_t size) {
    const double shift = std::round(static_cast<double>(mnist_centre) - moment / mass);
    return static_cast<std::size_t>(std::clamp(shift, 0.0, static_cast<double>(mnist_side - size)));
  };
  const std::size_t top = offset(row_moment, scaled.height), left = offset(column_moment, scaled.width);
  const float gain = brightest > 0 ? 1 / brightest : 1;
  for (std::size_t r = 0; r < scaled.height; ++r)
    for (std::size_t c = 0; c < scaled.width; ++c)
      result.pixels[(top + r) * mnist_side + left + c] = detail::clamp_unit(scaled(r, c) * gain);
  return result;
}

// Both steps: a grayscale image of one digit (luminance in [0, 1], any polarity) to a 28x28
// MNIST-style digit. Throws DataError for a tiny image and NoInkError for a blank one.
inline PreparedDigit prepare_digit(const GrayImage& image, const DigitPreparationOptions& options = {}) {
  const InkImage ink = extract_ink(image, options);
  PreparedDigit result = prepare_ink(ink.ink, options);
  result.inverted = ink.inverted;
  return result;
}

}  // namespace ctnn
