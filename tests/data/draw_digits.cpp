// Draws the digit images of tests/data/digit_drawings/: ten digits in four hands, as a person
// would draw them in a paint program or on paper, with dark ink on light paper. The stroke
// shapes are ours (polylines and elliptic arcs), not MNIST images, so the set tests how well a
// net trained on MNIST reads handwriting it has never seen. Each image is named
// <digit>_<hand>.png, so the expected label is the file name's first character.
//   thin     upright print shapes, a 4-pixel pen on a 600x450 canvas (strokes far thinner than MNIST's
//            once the digit is scaled to 20 pixels)
//   thick    other common shapes (serif 1, open 4, crossed 7, flat-topped 3, curled 9), a 16-pixel
//            pen on a 160x160 canvas
//   slanted  print shapes slanted like italics, a 26-pixel pen, off-centre on a 900x500 canvas of
//            cream paper lit unevenly (15% darker on the right), in blue ink (an RGB image)
//   hurried  the other shapes, wobbling, narrowed or widened and leaning at random per digit, a
//            12-pixel pencil (gray on gray paper, 10% darker on the right) near the top-left corner
//            of a 420x320 canvas
// Built by tests/programs/predict.cmake as the target draw_digits. Re-run after changing a shape:
//   build/<dir>/tests/programs/draw_digits --output tests/data/digit_drawings
// and the test programs.draw_digits_reproducible (draw_digits --check) keeps the committed files
// equal, pixel for pixel, to what this program draws.
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <numbers>
#include <set>
#include <string>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/image.hpp>

namespace {

struct Point {
  double x, y;  // design units: a digit is 1 high and about 0.6 wide, y points down
};
using Stroke = std::vector<Point>;
using Glyph = std::vector<Stroke>;

// Points of the elliptic arc around (cx, cy) from angle `from` to `to` degrees; 0 points right,
// 90 down (y points down), and `to` may be less than `from` to go the other way.
Stroke arc(double cx, double cy, double rx, double ry, double from, double to) {
  Stroke points;
  const int steps = std::max(8, static_cast<int>(std::abs(to - from) / 6));
  for (int i = 0; i <= steps; ++i) {
    const double angle = (from + (to - from) * i / steps) * std::numbers::pi / 180;
    points.push_back({cx + rx * std::cos(angle), cy + ry * std::sin(angle)});
  }
  return points;
}

Stroke join(Stroke first, const Stroke& second) {
  first.insert(first.end(), second.begin(), second.end());
  return first;
}

// Upright printed shapes.
Glyph print_glyph(int digit) {
  switch (digit) {
    case 0:
      return {arc(0.3, 0.5, 0.28, 0.48, 0, 360)};
    case 1:
      return {{{0.14, 0.16}, {0.32, 0.0}, {0.32, 1.0}}};
    case 2:
      return {join(arc(0.3, 0.27, 0.27, 0.25, 200, 390), {{0.02, 1.0}, {0.6, 1.0}})};
    case 3:
      return {join(arc(0.3, 0.25, 0.25, 0.24, 210, 450), arc(0.3, 0.73, 0.28, 0.26, 270, 510))};
    case 4:
      return {{{0.45, 1.0}, {0.45, 0.0}, {0.0, 0.68}, {0.62, 0.68}}};
    case 5:
      return {join({{0.56, 0.0}, {0.12, 0.0}, {0.085, 0.49}}, arc(0.3, 0.68, 0.28, 0.3, 220, 520))};
    case 6:
      return {join({{0.5, 0.0}, {0.24, 0.2}, {0.09, 0.45}}, arc(0.32, 0.72, 0.27, 0.27, 180, -180))};
    case 7:
      return {{{0.02, 0.02}, {0.6, 0.02}, {0.22, 1.0}}};
    case 8:
      return {arc(0.3, 0.26, 0.22, 0.24, 0, 360), arc(0.3, 0.73, 0.28, 0.27, 0, 360)};
    default:
      return {arc(0.3, 0.28, 0.27, 0.27, 0, 360), {{0.57, 0.28}, {0.5, 1.0}}};
  }
}

// Other shapes people use: a serif 1, an open 4, a crossed 7, a flat-topped 3, a curled 9, a
// figure-eight drawn in one stroke, a 5 whose bar was lifted off the page.
Glyph variant_glyph(int digit) {
  switch (digit) {
    case 0:
      return {arc(0.3, 0.5, 0.24, 0.48, 260, 640)};
    case 1:
      return {{{0.12, 0.2}, {0.32, 0.0}, {0.32, 1.0}}, {{0.12, 1.0}, {0.52, 1.0}}};
    case 2:
      return {join(arc(0.3, 0.26, 0.26, 0.24, 190, 400), {{0.06, 0.9}, {0.12, 0.84}, {0.22, 0.94}, {0.6, 0.98}})};
    case 3:
      return {join({{0.05, 0.0}, {0.55, 0.0}, {0.25, 0.4}}, arc(0.3, 0.69, 0.28, 0.29, 260, 510))};
    case 4:
      return {{{0.1, 0.0}, {0.05, 0.6}, {0.6, 0.6}}, {{0.45, 0.2}, {0.45, 1.0}}};
    case 5:
      return {{{0.58, 0.0}, {0.14, 0.0}}, join({{0.12, 0.06}, {0.085, 0.49}}, arc(0.3, 0.68, 0.28, 0.3, 220, 520))};
    case 6:
      return {join(arc(0.62, 0.62, 0.56, 0.6, 265, 180), arc(0.33, 0.72, 0.27, 0.27, 180, -180))};
    case 7:
      return {{{0.02, 0.05}, {0.6, 0.02}, {0.25, 1.0}}, {{0.16, 0.5}, {0.56, 0.5}}};
    case 8: {
      Stroke eight;
      for (int i = 0; i <= 120; ++i) {
        const double t = 2 * std::numbers::pi * i / 120;
        eight.push_back({0.3 + 0.28 * std::sin(2 * t), 0.5 - 0.48 * std::cos(t)});
      }
      return {eight};
    }
    default:
      return {arc(0.3, 0.28, 0.27, 0.27, 0, 360), {{0.57, 0.28}, {0.55, 0.7}, {0.42, 0.95}, {0.15, 0.98}}};
  }
}

// A hand: which shapes, how they are slanted, and the page they are drawn on.
struct Hand {
  const char* name;
  bool variants;
  double slant;                    // x grows by slant * (1 - y): italics lean right
  double wobble;                   // amplitude of a smooth random displacement, in digit heights
  int width, height;               // canvas
  double digit_height, left, top;  // in pixels: the design box's size and top-left corner
  double pen;                      // stroke width in pixels
  double paper[3], ink[3];         // RGB in [0, 1]
  bool colour;                     // written as RGB, else gray
  double shade;                    // the paper darkens by this fraction from left to right (uneven light)
};

constexpr Hand hands[] = {
    {"thin", false, 0.0, 0.0, 600, 450, 300, 200, 70, 4, {1, 1, 1}, {0.05, 0.05, 0.05}, false, 0},
    {"thick", true, 0.0, 0.0, 160, 160, 110, 45, 25, 16, {1, 1, 1}, {0, 0, 0}, false, 0},
    {"slanted", false, 0.25, 0.0, 900, 500, 260, 120, 150, 26, {0.95, 0.93, 0.87}, {0.1, 0.15, 0.5}, true, 0.15},
    {"hurried", true, 0.0, 0.04, 420, 320, 170, 40, 30, 12, {0.88, 0.88, 0.88}, {0.3, 0.3, 0.3}, false, 0.1},
};

// Coverage of each pixel by the pen (a disk of diameter `pen` swept along every segment),
// anti-aliased: a pixel whose centre lies d from the stroke's centre line is covered
// pen/2 + 1/2 - d, clamped to [0, 1].
// The hurried hand's wobble is a smooth displacement field, its phases drawn per digit; its
// width and lean vary per digit too.
std::vector<double> rasterize(const Glyph& glyph, const Hand& hand, int digit) {
  std::vector<double> coverage(static_cast<std::size_t>(hand.width) * hand.height, 0.0);
  const double radius = hand.pen / 2;
  ctnn::Rng rng(ctnn::derive_seed(1998, static_cast<std::uint64_t>(digit)));
  const double phase[4] = {rng.uniform(0, 6.3f), rng.uniform(0, 6.3f), rng.uniform(0, 6.3f), rng.uniform(0, 6.3f)};
  const double width = hand.wobble > 0 ? rng.uniform(0.8f, 1.15f) : 1.0;
  const double slant = hand.slant + (hand.wobble > 0 ? rng.uniform(-0.1f, 0.2f) : 0.0f);
  const auto place = [&](Point p) {
    const double dx = hand.wobble * (std::sin(5 * p.y + phase[0]) + 0.5 * std::sin(11 * p.x + phase[1]));
    const double dy = hand.wobble * (std::sin(4 * p.x + phase[2]) + 0.5 * std::sin(9 * p.y + phase[3]));
    return Point{hand.left + ((p.x + dx) * width + slant * (1 - p.y)) * hand.digit_height,
                 hand.top + (p.y + dy) * hand.digit_height};
  };
  for (const Stroke& stroke : glyph)
    for (std::size_t i = 0; i + 1 < stroke.size(); ++i) {
      const Point a = place(stroke[i]), b = place(stroke[i + 1]);
      const double dx = b.x - a.x, dy = b.y - a.y, length2 = dx * dx + dy * dy;
      const int x0 = std::max(0, static_cast<int>(std::floor(std::min(a.x, b.x) - radius - 1)));
      const int x1 = std::min(hand.width - 1, static_cast<int>(std::ceil(std::max(a.x, b.x) + radius + 1)));
      const int y0 = std::max(0, static_cast<int>(std::floor(std::min(a.y, b.y) - radius - 1)));
      const int y1 = std::min(hand.height - 1, static_cast<int>(std::ceil(std::max(a.y, b.y) + radius + 1)));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
          const double px = x + 0.5 - a.x, py = y + 0.5 - a.y;
          const double t = length2 > 0 ? std::clamp((px * dx + py * dy) / length2, 0.0, 1.0) : 0.0;
          const double distance = std::hypot(px - t * dx, py - t * dy);
          double& pixel = coverage[static_cast<std::size_t>(y) * hand.width + x];
          pixel = std::max(pixel, std::clamp(radius + 0.5 - distance, 0.0, 1.0));
        }
    }
  return coverage;
}

// The drawing as 8-bit gray or RGB pixels: paper and ink mixed by coverage.
std::vector<unsigned char> render(int digit, const Hand& hand) {
  const auto coverage = rasterize(hand.variants ? variant_glyph(digit) : print_glyph(digit), hand, digit);
  const int channels = hand.colour ? 3 : 1;
  std::vector<unsigned char> pixels(coverage.size() * channels);
  for (std::size_t i = 0; i < coverage.size(); ++i) {
    const double light = 1 - hand.shade * static_cast<double>(i % hand.width) / hand.width;
    for (int c = 0; c < channels; ++c) {
      const double paper =
          light * (hand.colour ? hand.paper[c] : 0.299 * hand.paper[0] + 0.587 * hand.paper[1] + 0.114 * hand.paper[2]);
      const double ink = hand.colour ? hand.ink[c] : 0.299 * hand.ink[0] + 0.587 * hand.ink[1] + 0.114 * hand.ink[2];
      const double value = std::clamp(paper + (ink - paper) * coverage[i], 0.0, 1.0);
      pixels[i * channels + c] = static_cast<unsigned char>(std::lround(value * 255));
    }
  }
  return pixels;
}

std::vector<std::byte> encode(const std::vector<unsigned char>& pixels, const Hand& hand) {
  std::vector<std::byte> png;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::byte>*>(context);
    out->insert(out->end(), static_cast<const std::byte*>(data), static_cast<const std::byte*>(data) + size);
  };
  const int channels = hand.colour ? 3 : 1;
  if (!stbi_write_png_to_func(append, &png, hand.width, hand.height, channels, pixels.data(), hand.width * channels))
    throw std::runtime_error("stb could not encode a PNG");
  return png;
}

// The committed file against a fresh drawing, compared as luminance (PNG bytes may differ
// between stb versions; the pixels may not).
bool matches(const std::filesystem::path& path, const std::vector<unsigned char>& pixels, const Hand& hand) {
  const ctnn::GrayImage stored = ctnn::read_image(path);
  const ctnn::GrayImage drawn = ctnn::decode_image(encode(pixels, hand), "drawing");
  if (stored.height != drawn.height || stored.width != drawn.width) return false;
  for (std::size_t i = 0; i < stored.size(); ++i)
    if (std::abs(stored.pixels[i] - drawn.pixels[i]) > 0.5f / 255) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) try {
  const bool usage = argc != 3 || (std::strcmp(argv[1], "--output") != 0 && std::strcmp(argv[1], "--check") != 0);
  if (usage) {
    std::fprintf(argc == 2 && std::strcmp(argv[1], "--help") == 0 ? stdout : stderr,
                 "usage: draw_digits --output DIR   draw the 40 digit images into DIR\n"
                 "       draw_digits --check DIR    exit 0 if DIR holds exactly these drawings, pixel for pixel\n");
    return argc == 2 && std::strcmp(argv[1], "--help") == 0 ? 0 : 2;
  }
  const bool check = std::strcmp(argv[1], "--check") == 0;
  const std::filesystem::path folder(argv[2]);
  if (!check) std::filesystem::create_directories(folder);
  int differing = 0;
  std::set<std::string> drawn;
  for (const Hand& hand : hands)
    for (int digit = 0; digit < 10; ++digit) {
      const auto path = folder / (std::to_string(digit) + "_" + hand.name + ".png");
      drawn.insert(path.filename().string());
      const auto pixels = render(digit, hand);
      if (!check) {
        ctnn::write_file_atomically(path, encode(pixels, hand));
      } else if (!std::filesystem::exists(path) || !matches(path, pixels, hand)) {
        std::fprintf(stderr, "draw_digits: %s differs from the drawing (re-run draw_digits --output)\n", path.c_str());
        ++differing;
      }
    }
  if (check) {
    // A drawing no hand draws any more is stale.
    for (const auto& entry : std::filesystem::directory_iterator(folder))
      if (entry.path().extension() == ".png" && !drawn.contains(entry.path().filename().string())) {
        std::fprintf(stderr, "draw_digits: %s is not one of the drawings (remove it)\n", entry.path().c_str());
        ++differing;
      }
    std::printf("draw_digits: %d differences in %s\n", differing, folder.c_str());
  }
  return differing ? 1 : 0;
} catch (const std::exception& error) {
  std::fprintf(stderr, "draw_digits: %s\n", error.what());
  return 1;
}
