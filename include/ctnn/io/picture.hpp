// Picture: a small RGB raster for report figures, with filled rectangles, lines, grayscale images
// and text, saved as PNG. Charts built on it are in io/plots.hpp.
// Layout: width x height pixels, row-major from the top-left corner, 3 bytes (red, green, blue)
// per pixel. Coordinates are signed and may fall outside the picture: every drawing call clips,
// so callers place things freely. Text is stb_easy_font's bitmap font (ASCII, about 5x7 units
// per glyph, 12 units per line), whose quads are axis-aligned rectangles scaled by an integer
// factor, so it stays crisp. PNG encoding is stb_image_write's, into memory, then written with
// write_file_atomically.
#pragma once

#include <stb/stb_easy_font.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ctnn/io/atomic_file.hpp>

namespace ctnn {

struct Color {
  std::uint8_t red = 0, green = 0, blue = 0;
  friend bool operator==(Color, Color) = default;
};

namespace colors {
inline constexpr Color white{255, 255, 255};
inline constexpr Color black{0, 0, 0};
}  // namespace colors

// a + (b - a) * t per channel, with t clamped to [0, 1] and NaN taken as 0.
inline Color mix(Color a, Color b, double t) noexcept {
  t = t > 0 ? std::min(t, 1.0) : 0.0;
  const auto channel = [t](std::uint8_t from, std::uint8_t to) {
    return static_cast<std::uint8_t>(std::lround(from + (to - from) * t));
  };
  return {channel(a.red, b.red), channel(a.green, b.green), channel(a.blue, b.blue)};
}

// A grayscale image to draw, viewed where it is stored: row-major values in [0, 1] with 0 the
// background, as Dataset stores images (one channel).
struct ImageView {
  std::span<const float> pixels;
  std::size_t width = 0, height = 0;
};

enum class TextDirection { horizontal, upward };  // upward: rotated a quarter turn, read bottom to top

struct TextSize {
  int width = 0, height = 0;  // of the ink box, in pixels, before any rotation
};

class Picture {
 public:
  // Pictures are for reports: each side is 1 to 16384 pixels.
  static constexpr int max_side = 16384;

  Picture(int width, int height, Color background = colors::white) : width_(width), height_(height) {
    if (width < 1 || height < 1 || width > max_side || height > max_side)
      throw std::invalid_argument("Picture: " + std::to_string(width) + "x" + std::to_string(height) +
                                  " pixels; each side must be 1 to " + std::to_string(max_side));
    pixels_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
    fill_rect(0, 0, width, height, background);
  }

  int width() const noexcept { return width_; }
  int height() const noexcept { return height_; }
  // width() * height() * 3 bytes: R, G, B per pixel, rows from the top.
  std::span<const std::uint8_t> bytes() const noexcept { return pixels_; }

  bool contains(int x, int y) const noexcept { return x >= 0 && y >= 0 && x < width_ && y < height_; }

  // Requires contains(x, y).
  Color pixel(int x, int y) const noexcept {
    const std::uint8_t* p = &pixels_[offset(x, y)];
    return {p[0], p[1], p[2]};
  }

  void set_pixel(int x, int y, Color color) noexcept {
    if (!contains(x, y)) return;
    std::uint8_t* p = &pixels_[offset(x, y)];
    p[0] = color.red;
    p[1] = color.green;
    p[2] = color.blue;
  }

  void fill_rect(int x, int y, int width, int height, Color color) noexcept {
    const int x0 = std::max(x, 0), x1 = std::min(x + width, width_);
    const int y0 = std::max(y, 0), y1 = std::min(y + height, height_);
    for (int row = y0; row < y1; ++row)
      for (int column = x0; column < x1; ++column) set_pixel(column, row, color);
  }

  // The outline of a rectangle, `thickness` pixels inside its bounds.
  void draw_rect(int x, int y, int width, int height, Color color, int thickness = 1) noexcept {
    fill_rect(x, y, width, thickness, color);
    fill_rect(x, y + height - thickness, width, thickness, color);
    fill_rect(x, y, thickness, height, color);
    fill_rect(x + width - thickness, y, thickness, height, color);
  }

  // A line from (x0, y0) to (x1, y1) inclusive (Bresenham), `thickness` pixels wide (a square
  // pen). A positive `dash` draws dash pixels on, dash off.
  void draw_line(int x0, int y0, int x1, int y1, Color color, int thickness = 1, int dash = 0) noexcept {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    const int step_x = x0 < x1 ? 1 : -1, step_y = y0 < y1 ? 1 : -1;
    const int pen_offset = (thickness - 1) / 2;
    int error = dx + dy;
    for (int step = 0;; ++step) {
      if (dash <= 0 || (step / dash) % 2 == 0) fill_rect(x0 - pen_offset, y0 - pen_offset, thickness, thickness, color);
      if (x0 == x1 && y0 == y1) break;
      const int doubled = 2 * error;
      if (doubled >= dy) {
        error += dy;
        x0 += step_x;
      }
      if (doubled <= dx) {
        error += dx;
        y0 += step_y;
      }
    }
  }

  // Draws `image` with its top-left corner at (x, y), each pixel as a scale x scale block, as ink
  // on paper: 0 (background) is white, 1 black. Values outside [0, 1] are clamped, NaN is red.
  void draw_image(const ImageView& image, int x, int y, int scale = 1) {
    if (image.pixels.size() != image.width * image.height)
      throw std::invalid_argument("Picture::draw_image: " + std::to_string(image.pixels.size()) + " values for a " +
                                  std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
    for (std::size_t row = 0; row < image.height; ++row)
      for (std::size_t column = 0; column < image.width; ++column) {
        const float value = image.pixels[row * image.width + column];
        const Color color = std::isnan(value) ? Color{220, 0, 0} : mix(colors::white, colors::black, value);
        fill_rect(x + static_cast<int>(column) * scale, y + static_cast<int>(row) * scale, scale, scale, color);
      }
  }

  // Copies `other` with its top-left corner at (x, y).
  void draw_picture(const Picture& other, int x, int y) noexcept {
    for (int row = 0; row < other.height(); ++row)
      for (int column = 0; column < other.width(); ++column) set_pixel(x + column, y + row, other.pixel(column, row));
  }

  // Text with the top-left corner of its ink box at (x, y), glyph units scaled by `scale`
  // pixels. '\n' starts a new line; characters outside printable ASCII are drawn as '?'.
  // Upward text turns about (x, y) so that its ink box spans x .. x + height, y - width .. y.
  void draw_text(int x, int y, std::string_view text, Color color, int scale = 1,
                 TextDirection direction = TextDirection::horizontal) {
    for (const GlyphQuad& quad : glyph_quads(text)) {
      const int left = quad.left * scale, top = quad.top * scale;
      const int right = quad.right * scale, bottom = quad.bottom * scale;
      if (direction == TextDirection::horizontal)
        fill_rect(x + left, y + top, right - left, bottom - top, color);
      else
        fill_rect(x + top, y - right, bottom - top, right - left, color);
    }
  }

  // The ink box of draw_text(text, scale): its widest line, and its lines' height from the top of
  // the first line's capitals to the baseline of the last (descenders reach 2 units below).
  static TextSize text_size(std::string_view text, int scale = 1) {
    if (text.empty()) return {};
    int right = 0;
    for (const GlyphQuad& quad : glyph_quads(text)) right = std::max(right, quad.right);
    const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n')) + 1;
    return {right * scale, ((lines - 1) * line_pitch + cap_height) * scale};
  }

  static constexpr int line_pitch = 12;  // stb_easy_font units from one line to the next
  static constexpr int cap_height = 7;   // units from the top of a capital to the baseline

 private:
  struct GlyphQuad {
    int left, top, right, bottom;  // font units, right and bottom exclusive
  };

  // The rectangles stb_easy_font draws `text` with, the first line's capitals starting at y = 0.
  static std::vector<GlyphQuad> glyph_quads(std::string_view text) {
    std::string printable(text);
    for (char& c : printable)
      if (c != '\n' && (c < 32 || c > 126)) c = '?';  // stb_easy_font indexes its tables by c - 32
    // 4 vertices of 4 floats (x, y, z, colour) per quad, and fewer than 16 quads a glyph.
    std::vector<float> vertices(printable.size() * 16 * 16 + 16);
    const int quads = stb_easy_font_print(0, 0, printable.data(), nullptr, vertices.data(),
                                          static_cast<int>(vertices.size() * sizeof(float)));
    std::vector<GlyphQuad> result;
    for (int q = 0; q < quads; ++q) {
      // Vertices 0 and 2 are opposite corners; coordinates are whole units.
      const float* quad = vertices.data() + static_cast<std::size_t>(q) * 16;
      result.push_back(
          {static_cast<int>(quad[0]), static_cast<int>(quad[1]), static_cast<int>(quad[8]), static_cast<int>(quad[9])});
    }
    return result;
  }

  std::size_t offset(int x, int y) const noexcept {
    return (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)) * 3;
  }

  int width_, height_;
  std::vector<std::uint8_t> pixels_;
};

// The picture as a PNG file's bytes (8-bit RGB, no alpha).
inline std::vector<std::byte> encode_png(const Picture& picture) {
  std::vector<std::byte> png;
  const auto append = [](void* context, void* data, int size) {
    const auto* bytes = static_cast<const std::byte*>(data);
    static_cast<std::vector<std::byte>*>(context)->insert(static_cast<std::vector<std::byte>*>(context)->end(), bytes,
                                                          bytes + size);
  };
  if (!stbi_write_png_to_func(append, &png, picture.width(), picture.height(), 3, picture.bytes().data(),
                              picture.width() * 3))
    throw std::runtime_error("encode_png: stb_image_write could not encode a " + std::to_string(picture.width()) + "x" +
                             std::to_string(picture.height()) + " picture");
  return png;
}

// Writes the picture to `path` as PNG, atomically; throws FileError if it cannot.
inline void save_png(const Picture& picture, const std::filesystem::path& path) {
  write_file_atomically(path, encode_png(picture));
}

}  // namespace ctnn
