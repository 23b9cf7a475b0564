// Picture: clipped drawing, grayscale images, text ink, and PNG files that stb_image reads back
// pixel for pixel.
#include <doctest/doctest.h>
#include <stb/stb_image.h>

#include <cmath>
#include <cstddef>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ctnn/io/picture.hpp>

#include "support/temp_dir.hpp"

using ctnn::Color;
using ctnn::Picture;

namespace {

constexpr Color red{200, 30, 30};

int count_pixels(const Picture& picture, Color color) {
  int count = 0;
  for (int y = 0; y < picture.height(); ++y)
    for (int x = 0; x < picture.width(); ++x) count += picture.pixel(x, y) == color;
  return count;
}

// The bounding box of every pixel that is not white: {left, top, right, bottom}, inclusive.
std::vector<int> ink_box(const Picture& picture) {
  std::vector<int> box{picture.width(), picture.height(), -1, -1};
  for (int y = 0; y < picture.height(); ++y)
    for (int x = 0; x < picture.width(); ++x)
      if (picture.pixel(x, y) != ctnn::colors::white) {
        box[0] = std::min(box[0], x);
        box[1] = std::min(box[1], y);
        box[2] = std::max(box[2], x);
        box[3] = std::max(box[3], y);
      }
  return box;
}

// Decodes PNG bytes with stb_image; checks the size and returns the RGB values.
std::vector<unsigned char> decode(const std::vector<std::byte>& png, int width, int height) {
  int decoded_width = 0, decoded_height = 0, channels = 0;
  unsigned char* pixels =
      stbi_load_from_memory(reinterpret_cast<const unsigned char*>(png.data()), static_cast<int>(png.size()),
                            &decoded_width, &decoded_height, &channels, 3);
  REQUIRE(pixels != nullptr);
  CHECK(decoded_width == width);
  CHECK(decoded_height == height);
  CHECK(channels == 3);
  std::vector<unsigned char> values(pixels, pixels + static_cast<std::size_t>(width) * height * 3);
  stbi_image_free(pixels);
  return values;
}

}  // namespace

TEST_CASE("picture: a size outside 1..max_side is refused") {
  CHECK_THROWS_AS(Picture(0, 10), std::invalid_argument);
  CHECK_THROWS_AS(Picture(10, -1), std::invalid_argument);
  CHECK_THROWS_AS(Picture(Picture::max_side + 1, 1), std::invalid_argument);
  const Picture picture(3, 2, red);
  CHECK(picture.bytes().size() == 18);
  CHECK(count_pixels(picture, red) == 6);
}

TEST_CASE("picture: rectangles are clipped to the picture") {
  Picture picture(10, 8);
  picture.fill_rect(-5, -5, 8, 7, red);  // covers x 0..2, y 0..1
  CHECK(count_pixels(picture, red) == 6);
  CHECK(picture.pixel(2, 1) == red);
  CHECK(picture.pixel(3, 1) == ctnn::colors::white);
  picture.fill_rect(8, 6, 100, 100, ctnn::colors::black);  // x 8..9, y 6..7
  CHECK(count_pixels(picture, ctnn::colors::black) == 4);
  picture.set_pixel(-1, 3, ctnn::colors::black);
  picture.set_pixel(10, 3, ctnn::colors::black);
  CHECK(count_pixels(picture, ctnn::colors::black) == 4);
  Picture framed(10, 8);
  framed.draw_rect(0, 0, 10, 8, ctnn::colors::black, 2);
  CHECK(count_pixels(framed, ctnn::colors::black) == 10 * 8 - 6 * 4);
}

TEST_CASE("picture: lines include both ends, are thick and dashed on request") {
  Picture picture(20, 20);
  picture.draw_line(2, 3, 12, 3, red);
  CHECK(count_pixels(picture, red) == 11);
  picture.draw_line(0, 0, 19, 19, ctnn::colors::black);
  for (int i = 0; i < 20; ++i) CHECK(picture.pixel(i, i) == ctnn::colors::black);

  Picture thick(20, 20);
  thick.draw_line(5, 10, 14, 10, red, 3);
  CHECK(count_pixels(thick, red) == (10 + 2) * 3);  // the square pen reaches one pixel past each end
  CHECK(thick.pixel(5, 9) == red);
  CHECK(thick.pixel(5, 11) == red);

  Picture dashed(20, 5);
  dashed.draw_line(0, 2, 19, 2, red, 1, 4);  // on 0-3, off 4-7, on 8-11, off 12-15, on 16-19
  CHECK(count_pixels(dashed, red) == 12);
  CHECK(dashed.pixel(3, 2) == red);
  CHECK(dashed.pixel(4, 2) == ctnn::colors::white);
  CHECK(dashed.pixel(8, 2) == red);

  Picture outside(10, 10);
  outside.draw_line(-100, 5, 100, 5, red);
  CHECK(count_pixels(outside, red) == 10);
}

TEST_CASE("picture: grayscale images are ink on paper, scaled in blocks") {
  const std::vector<float> pixels{0.0f, 1.0f, 0.5f, std::numeric_limits<float>::quiet_NaN()};
  Picture picture(10, 10);
  picture.draw_image({pixels, 2, 2}, 1, 1, 3);
  CHECK(picture.pixel(1, 1) == ctnn::colors::white);
  CHECK(picture.pixel(4, 1) == ctnn::colors::black);
  CHECK(picture.pixel(6, 3) == ctnn::colors::black);
  CHECK(picture.pixel(3, 4) == Color{128, 128, 128});
  CHECK(picture.pixel(4, 4) == Color{220, 0, 0});
  CHECK(count_pixels(picture, ctnn::colors::black) == 9);
  CHECK_THROWS_AS(picture.draw_image({pixels, 3, 2}, 0, 0), std::invalid_argument);
}

TEST_CASE("picture: text puts ink inside its measured box") {
  Picture picture(200, 60);
  const ctnn::TextSize size = Picture::text_size("Hello 42", 2);
  CHECK(size.height == Picture::cap_height * 2);
  CHECK(size.width > 8 * 2 * 3);
  picture.draw_text(10, 20, "Hello 42", ctnn::colors::black, 2);
  const std::vector<int> box = ink_box(picture);
  CHECK(box[0] == 10);
  CHECK(box[1] == 20);
  CHECK(box[2] == 10 + size.width - 1);
  CHECK(box[3] == 20 + size.height - 1);
  CHECK(count_pixels(picture, ctnn::colors::black) > 100);

  CHECK(Picture::text_size("").width == 0);
  CHECK(Picture::text_size("a\nb").height == Picture::line_pitch + Picture::cap_height);
  // Bytes outside printable ASCII are drawn as '?', never read past stb_easy_font's tables.
  Picture other(100, 30);
  other.draw_text(5, 5, "\xff\x01\x7f", ctnn::colors::black);
  Picture question(100, 30);
  question.draw_text(5, 5, "???", ctnn::colors::black);
  CHECK(count_pixels(other, ctnn::colors::black) == count_pixels(question, ctnn::colors::black));
  CHECK(count_pixels(question, ctnn::colors::black) > 0);
}

TEST_CASE("picture: upward text is the horizontal text turned a quarter") {
  const ctnn::TextSize size = Picture::text_size("UP 7", 1);
  Picture picture(40, 60);
  picture.draw_text(10, 50, "UP 7", ctnn::colors::black, 1, ctnn::TextDirection::upward);
  const std::vector<int> box = ink_box(picture);
  CHECK(box[0] == 10);
  CHECK(box[2] == 10 + size.height - 1);
  CHECK(box[1] == 50 - size.width);
  CHECK(box[3] == 49);
  Picture flat(40, 20);
  flat.draw_text(0, 0, "UP 7", ctnn::colors::black);
  CHECK(count_pixels(picture, ctnn::colors::black) == count_pixels(flat, ctnn::colors::black));
}

TEST_CASE("picture: PNG bytes decode to the same pixels") {
  Picture picture(7, 5, Color{10, 20, 30});
  picture.set_pixel(0, 0, red);
  picture.set_pixel(6, 4, Color{1, 2, 3});
  picture.fill_rect(2, 1, 2, 2, ctnn::colors::white);
  const std::vector<unsigned char> values = decode(ctnn::encode_png(picture), 7, 5);
  REQUIRE(values.size() == picture.bytes().size());
  CHECK(std::equal(values.begin(), values.end(), picture.bytes().begin()));
  CHECK(values[0] == 200);
  CHECK(values[(4 * 7 + 6) * 3 + 2] == 3);
}

TEST_CASE("picture: save_png writes a PNG file and reports a folder that does not exist") {
  ctnn::test::TempDir folder;
  Picture picture(4, 3);
  picture.set_pixel(1, 2, red);
  ctnn::save_png(picture, folder / "small.png");
  std::ifstream file(folder / "small.png", std::ios::binary);
  std::vector<std::byte> bytes;
  for (std::istreambuf_iterator<char> it(file), end; it != end; ++it) bytes.push_back(static_cast<std::byte>(*it));
  const std::vector<unsigned char> values = decode(bytes, 4, 3);
  CHECK(values[(2 * 4 + 1) * 3] == 200);
  CHECK_THROWS_AS(ctnn::save_png(picture, folder / "missing" / "small.png"), ctnn::FileError);
}
