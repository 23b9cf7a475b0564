// Image reading: every format decodes to the luminance it holds, alpha lands on white paper, a
// JPEG's EXIF orientation is applied, and every bad byte string (empty, corrupt, truncated,
// oversized header) is an ImageError, refused before decoding where the header says too much.
#include <doctest/doctest.h>
#include <stb/stb_image_write.h>
#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/io/image.hpp>

#include "io_test_support.hpp"

namespace {

using ctnn::test::Bytes;

std::vector<std::byte> as_bytes(const Bytes& bytes) {
  std::vector<std::byte> result(bytes.size());
  std::transform(bytes.begin(), bytes.end(), result.begin(), [](std::uint8_t value) { return std::byte{value}; });
  return result;
}

std::vector<std::byte> as_bytes(const std::string& text) { return as_bytes(Bytes(text.begin(), text.end())); }

void append(void* context, void* data, int size) {
  auto* out = static_cast<Bytes*>(context);
  out->insert(out->end(), static_cast<const std::uint8_t*>(data), static_cast<const std::uint8_t*>(data) + size);
}

// Encoded by stb_image_write: `channels` 8-bit samples per pixel, row-major.
Bytes png(int width, int height, int channels, const Bytes& pixels) {
  Bytes out;
  REQUIRE(stbi_write_png_to_func(append, &out, width, height, channels, pixels.data(), width * channels));
  return out;
}
Bytes bmp(int width, int height, int channels, const Bytes& pixels) {
  Bytes out;
  REQUIRE(stbi_write_bmp_to_func(append, &out, width, height, channels, pixels.data()));
  return out;
}
Bytes jpeg(int width, int height, int channels, const Bytes& pixels) {
  Bytes out;
  REQUIRE(stbi_write_jpg_to_func(append, &out, width, height, channels, pixels.data(), 95));
  return out;
}

Bytes pgm_header(const std::string& size, const std::string& max = "255") {
  const std::string header = "P5\n" + size + "\n" + max + "\n";
  return Bytes(header.begin(), header.end());
}

// A grayscale test pattern: pixel i is (i * 37) mod 256.
Bytes pattern(std::size_t count) {
  Bytes pixels(count);
  for (std::size_t i = 0; i < count; ++i) pixels[i] = static_cast<std::uint8_t>(i * 37);
  return pixels;
}

ctnn::GrayImage decode(const Bytes& bytes) { return ctnn::decode_image(as_bytes(bytes), "test image"); }

std::string decode_error(const Bytes& bytes) {
  try {
    decode(bytes);
  } catch (const ctnn::ImageError& error) {
    return error.what();
  }
  return "no error";
}

void append_be32(Bytes& bytes, std::uint32_t value) { ctnn::test::append_be32(bytes, value); }

// A PNG chunk with its CRC (PNG spec 5.3: over the type and the data).
void append_chunk(Bytes& out, const std::string& type, const Bytes& data) {
  append_be32(out, static_cast<std::uint32_t>(data.size()));
  Bytes typed(type.begin(), type.end());
  typed.insert(typed.end(), data.begin(), data.end());
  out.insert(out.end(), typed.begin(), typed.end());
  append_be32(out, static_cast<std::uint32_t>(crc32(0, typed.data(), static_cast<unsigned>(typed.size()))));
}

// A PNG that is only a signature and a header for a width x height 8-bit gray image.
Bytes png_header_only(std::uint32_t width, std::uint32_t height) {
  Bytes out{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  Bytes header;
  append_be32(header, width);
  append_be32(header, height);
  header.insert(header.end(), {8, 0, 0, 0, 0});  // bit depth, gray, deflate, adaptive filter, no interlace
  append_chunk(out, "IHDR", header);
  return out;
}

// `jpeg_bytes` with an APP1 Exif segment holding IFD0's orientation tag, right after the SOI.
Bytes with_exif_orientation(const Bytes& jpeg_bytes, std::uint16_t orientation, bool little_endian) {
  Bytes tiff = little_endian ? Bytes{'I', 'I', 42, 0, 8, 0, 0, 0} : Bytes{'M', 'M', 0, 42, 0, 0, 0, 8};
  const auto put16 = [&](std::uint16_t value) {
    if (little_endian) {
      tiff.push_back(static_cast<std::uint8_t>(value));
      tiff.push_back(static_cast<std::uint8_t>(value >> 8));
    } else {
      tiff.push_back(static_cast<std::uint8_t>(value >> 8));
      tiff.push_back(static_cast<std::uint8_t>(value));
    }
  };
  put16(1);       // one entry
  put16(0x0112);  // orientation
  put16(3);       // SHORT
  put16(little_endian ? 1 : 0);
  put16(little_endian ? 0 : 1);  // count 1
  put16(orientation);
  put16(0);
  tiff.insert(tiff.end(), {0, 0, 0, 0});  // no next IFD
  Bytes segment{'E', 'x', 'i', 'f', 0, 0};
  segment.insert(segment.end(), tiff.begin(), tiff.end());
  Bytes out(jpeg_bytes.begin(), jpeg_bytes.begin() + 2);
  out.insert(out.end(), {0xFF, 0xE1, static_cast<std::uint8_t>((segment.size() + 2) >> 8),
                         static_cast<std::uint8_t>(segment.size() + 2)});
  out.insert(out.end(), segment.begin(), segment.end());
  out.insert(out.end(), jpeg_bytes.begin() + 2, jpeg_bytes.end());
  return out;
}

float mean_of_rows(const ctnn::GrayImage& image, std::size_t first, std::size_t last) {
  double sum = 0;
  for (std::size_t r = first; r < last; ++r)
    for (std::size_t c = 0; c < image.width; ++c) sum += image(r, c);
  return static_cast<float>(sum / static_cast<double>((last - first) * image.width));
}

}  // namespace

TEST_CASE("image: the format is recognized by its signature") {
  CHECK(ctnn::detect_image_format(as_bytes(png(1, 1, 1, {0}))) == ctnn::ImageFormat::png);
  CHECK(ctnn::detect_image_format(as_bytes(jpeg(8, 8, 1, Bytes(64, 0)))) == ctnn::ImageFormat::jpeg);
  CHECK(ctnn::detect_image_format(as_bytes(bmp(1, 1, 1, {0}))) == ctnn::ImageFormat::bmp);
  CHECK(ctnn::detect_image_format(as_bytes(std::string("P5\n1 1\n255\n!"))) == ctnn::ImageFormat::pnm);
  CHECK(ctnn::detect_image_format(as_bytes(std::string("P6\n1 1\n255\n!!!"))) == ctnn::ImageFormat::pnm);
  CHECK(ctnn::detect_image_format(as_bytes(std::string("GIF89a"))) == ctnn::ImageFormat::unknown);
  CHECK(ctnn::detect_image_format({}) == ctnn::ImageFormat::unknown);
}

TEST_CASE("image: an 8-bit gray PNG decodes to its exact values over 255") {
  const Bytes pixels = pattern(5 * 3);
  const auto image = decode(png(5, 3, 1, pixels));
  REQUIRE(image.width == 5);
  REQUIRE(image.height == 3);
  for (std::size_t i = 0; i < pixels.size(); ++i) CHECK(image.pixels[i] == doctest::Approx(pixels[i] / 255.0f));
}

TEST_CASE("image: colour becomes luminance with stb's BT.601 weights (77, 150, 29 of 256)") {
  const Bytes rgb{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  const auto image = decode(png(4, 1, 3, rgb));
  REQUIRE(image.size() == 4);
  CHECK(image.pixels[0] == doctest::Approx((77 * 255 >> 8) / 255.0f));
  CHECK(image.pixels[1] == doctest::Approx((150 * 255 >> 8) / 255.0f));
  CHECK(image.pixels[2] == doctest::Approx((29 * 255 >> 8) / 255.0f));
  CHECK(image.pixels[3] == doctest::Approx(1.0f));
}

TEST_CASE("image: alpha is composited on white paper") {
  // Gray + alpha: black opaque, black transparent, black half-transparent, white opaque.
  const Bytes gray_alpha{0, 255, 0, 0, 0, 128, 255, 255};
  const auto image = decode(png(4, 1, 2, gray_alpha));
  REQUIRE(image.size() == 4);
  CHECK(image.pixels[0] == doctest::Approx(0.0f));
  CHECK(image.pixels[1] == doctest::Approx(1.0f));
  CHECK(image.pixels[2] == doctest::Approx(1 - 128 / 255.0f));
  CHECK(image.pixels[3] == doctest::Approx(1.0f));
  const Bytes rgba{0, 0, 0, 0, 0, 0, 0, 255};
  const auto colour = decode(png(2, 1, 4, rgba));
  CHECK(colour.pixels[0] == doctest::Approx(1.0f));
  CHECK(colour.pixels[1] == doctest::Approx(0.0f));
}

TEST_CASE("image: BMP, JPEG and a hand-written PGM decode") {
  const Bytes pixels = pattern(7 * 4);
  const auto from_bmp = decode(bmp(7, 4, 1, pixels));
  REQUIRE(from_bmp.size() == pixels.size());
  for (std::size_t i = 0; i < pixels.size(); ++i) CHECK(from_bmp.pixels[i] == doctest::Approx(pixels[i] / 255.0f));

  Bytes pgm = pgm_header("7 4");
  pgm.insert(pgm.end(), pixels.begin(), pixels.end());
  const auto from_pgm = decode(pgm);
  REQUIRE(from_pgm.size() == pixels.size());
  for (std::size_t i = 0; i < pixels.size(); ++i) CHECK(from_pgm.pixels[i] == doctest::Approx(pixels[i] / 255.0f));

  // 16-bit PGM, big-endian samples: 65535 is white, 0 black.
  Bytes deep = pgm_header("2 1", "65535");
  deep.insert(deep.end(), {0xFF, 0xFF, 0x00, 0x00});
  const auto from_deep = decode(deep);
  REQUIRE(from_deep.size() == 2);
  CHECK(from_deep.pixels[0] == doctest::Approx(1.0f));
  CHECK(from_deep.pixels[1] == doctest::Approx(0.0f));

  // JPEG is lossy: a flat gray stays within a few levels.
  const auto from_jpeg = decode(jpeg(16, 8, 1, Bytes(16 * 8, 100)));
  REQUIRE(from_jpeg.width == 16);
  REQUIRE(from_jpeg.height == 8);
  for (const float value : from_jpeg.pixels) CHECK(value == doctest::Approx(100 / 255.0f).epsilon(0.03));
}

TEST_CASE("image: a 1x1 image is an image") {
  const auto image = decode(png(1, 1, 1, {77}));
  CHECK(image.width == 1);
  CHECK(image.height == 1);
  CHECK(image.pixels[0] == doctest::Approx(77 / 255.0f));
}

TEST_CASE("image: a JPEG's EXIF orientation turns it the way its viewer shows it") {
  // 32x16: left half black, right half white.
  Bytes pixels(32 * 16);
  for (std::size_t r = 0; r < 16; ++r)
    for (std::size_t c = 0; c < 32; ++c) pixels[r * 32 + c] = c < 16 ? 0 : 255;
  const Bytes plain = jpeg(32, 16, 1, pixels);
  for (const bool little_endian : {true, false}) {
    CAPTURE(little_endian);
    const auto upright = decode(with_exif_orientation(plain, 1, little_endian));
    CHECK(upright.width == 32);
    const auto clockwise = decode(with_exif_orientation(plain, 6, little_endian));  // turned 90 degrees clockwise
    REQUIRE(clockwise.width == 16);
    REQUIRE(clockwise.height == 32);
    CHECK(mean_of_rows(clockwise, 0, 12) < 0.1f);  // the left half is now on top
    CHECK(mean_of_rows(clockwise, 20, 32) > 0.9f);
    const auto counter = decode(with_exif_orientation(plain, 8, little_endian));
    REQUIRE(counter.height == 32);
    CHECK(mean_of_rows(counter, 0, 12) > 0.9f);  // the left half is now at the bottom
    CHECK(mean_of_rows(counter, 20, 32) < 0.1f);
    const auto mirrored = decode(with_exif_orientation(plain, 2, little_endian));
    REQUIRE(mirrored.width == 32);
    CHECK(mirrored(8, 2) > 0.9f);
    CHECK(mirrored(8, 29) < 0.1f);
    // An orientation outside 1..8 is ignored.
    CHECK(decode(with_exif_orientation(plain, 9, little_endian)).width == 32);
  }
}

TEST_CASE("image: empty, unknown and corrupt bytes are ImageErrors that name the source") {
  CHECK(decode_error({}).find("test image: empty file") == 0);
  CHECK(decode_error(Bytes{'h', 'e', 'l', 'l', 'o'}).find("not a PNG, JPEG, BMP or binary PGM/PPM image") !=
        std::string::npos);
  CHECK(decode_error(Bytes{'h', 'e', 'l', 'l', 'o'}).find("68 65 6c 6c") != std::string::npos);
  CHECK(decode_error(Bytes{'P', '2', '\n', '1', ' ', '1'}).find("ASCII PGM/PPM") != std::string::npos);
  // A signature and nothing after it.
  CHECK(decode_error(Bytes{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'}).find("unreadable image header") !=
        std::string::npos);
  CHECK(decode_error(Bytes{0xFF, 0xD8, 0xFF, 0xE0, 0, 2}).find("test image:") == 0);
  // A whole header, pixel data cut short.
  const Bytes whole = png(40, 40, 1, pattern(1600));
  CHECK(decode_error(Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2)))
            .find("cannot decode the image data") != std::string::npos);
  Bytes short_pgm = pgm_header("10 10");
  short_pgm.insert(short_pgm.end(), 20, 7);
  CHECK(decode_error(short_pgm).find("cannot decode") != std::string::npos);
  CHECK(decode_error(pgm_header("0 5")).find("test image:") == 0);
}

TEST_CASE("image: a JPEG Huffman table of more than 256 codes is refused before stb overruns it") {
  const Bytes plain = jpeg(16, 8, 1, Bytes(16 * 8, 90));
  CHECK(decode(plain).width == 16);  // stb's own tables pass
  // A DHT segment right after the SOI: one DC table whose 16 code counts add up to 304. (Sized
  // up front: g++ 12 warns falsely about inserting into small vectors.)
  Bytes table(5 + 16 + 304, 0);
  const std::uint8_t header[] = {0xFF, 0xC4, 0x01, 0x43, 0x00};  // length 2 + 17 + 304 = 323
  std::copy(std::begin(header), std::end(header), table.begin());
  std::fill(table.begin() + 5, table.begin() + 21, std::uint8_t{19});
  const auto after_soi = [&](std::size_t table_bytes, bool rest) {
    Bytes out(2 + table_bytes + (rest ? plain.size() - 2 : 0));
    std::copy(plain.begin(), plain.begin() + 2, out.begin());
    std::copy(table.begin(), table.begin() + static_cast<std::ptrdiff_t>(table_bytes), out.begin() + 2);
    if (rest) std::copy(plain.begin() + 2, plain.end(), out.begin() + 2 + static_cast<std::ptrdiff_t>(table_bytes));
    return out;
  };
  CHECK(decode_error(after_soi(table.size(), true)).find("Huffman table with more than 256 codes") !=
        std::string::npos);
  // The same table cut off by the end of the file is read as stb reads it: missing bytes are 0.
  CHECK_FALSE(ctnn::detail::jpeg_has_oversized_huffman_table(as_bytes(after_soi(9, false))));  // 4 x 19 codes
  CHECK(ctnn::detail::jpeg_has_oversized_huffman_table(as_bytes(after_soi(21, false))));       // 16 x 19
}

TEST_CASE("image: a header claiming too many pixels is refused before decoding") {
  // No pixel data follows these headers: a decode would fail with stb's reason instead.
  CHECK(decode_error(pgm_header("20000 20000")).find("20000x20000 pixels is too large") != std::string::npos);
  CHECK(decode_error(png_header_only(20000, 20000)).find("20000x20000 pixels is too large") != std::string::npos);
  CHECK(decode_error(pgm_header("16385 1")).find("too large") != std::string::npos);
  CHECK(decode_error(pgm_header("8000 8001")).find("too large") != std::string::npos);  // 64,008,000 pixels
  // At the limits the header passes, and the missing data is the error.
  CHECK(decode_error(pgm_header("16384 1")).find("cannot decode") != std::string::npos);
  CHECK(decode_error(pgm_header("8000 8000")).find("cannot decode") != std::string::npos);
}

TEST_CASE("image: files are read whole; missing files and folders are ImageErrors") {
  ctnn::test::TempDir folder;
  const Bytes pixels = pattern(6);
  ctnn::test::write_file(folder / "three_by_two.png", png(3, 2, 1, pixels));
  const auto image = ctnn::read_image(folder / "three_by_two.png");
  CHECK(image.width == 3);
  CHECK(image.height == 2);
  ctnn::test::write_file(folder / "empty.png", Bytes{});
  CHECK_THROWS_WITH_AS(ctnn::read_image(folder / "empty.png"), doctest::Contains("empty.png: empty file"),
                       ctnn::ImageError);
  CHECK_THROWS_WITH_AS(ctnn::read_image(folder / "missing.png"), doctest::Contains("missing.png: cannot open"),
                       ctnn::ImageError);
  CHECK_THROWS_WITH_AS(ctnn::read_image(folder.path()), doctest::Contains("is a folder"), ctnn::ImageError);
}

TEST_CASE("image: encode_png and write_png round-trip a gray image, clamped to [0, 1]") {
  ctnn::GrayImage image(2, 3);
  image.pixels = {0.0f, 0.5f, 1.0f, -3.0f, 7.0f, 0.25f};
  const auto decoded = ctnn::decode_image(ctnn::encode_png(image), "round trip");
  REQUIRE(decoded.size() == 6);
  const float expected[] = {0.0f, 128 / 255.0f, 1.0f, 0.0f, 1.0f, 64 / 255.0f};
  for (std::size_t i = 0; i < 6; ++i) CHECK(decoded.pixels[i] == doctest::Approx(expected[i]));
  ctnn::test::TempDir folder;
  ctnn::write_png(folder / "out.png", image);
  CHECK(ctnn::read_image(folder / "out.png").pixels == decoded.pixels);
  CHECK_THROWS_AS(ctnn::encode_png(ctnn::GrayImage()), ctnn::ImageError);
}

TEST_CASE("image: random and damaged bytes never crash the reader") {
  // Each signature followed by random bytes, and valid images with random bytes changed: every
  // outcome is an image or an ImageError (the sanitizer build checks the memory accesses).
  ctnn::Rng rng(7);
  const Bytes valid[] = {png(9, 7, 1, pattern(63)), png(5, 4, 4, pattern(80)), bmp(9, 7, 3, pattern(189)),
                         jpeg(24, 16, 3, pattern(24 * 16 * 3)), [] {
                           Bytes pgm = pgm_header("9 7");
                           const Bytes pixels = pattern(63);
                           pgm.insert(pgm.end(), pixels.begin(), pixels.end());
                           return pgm;
                         }()};
  std::size_t decoded = 0, refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Bytes bytes = valid[rng.below(std::size(valid))];
    if (trial % 3 == 0) {
      bytes.resize(std::min<std::size_t>(bytes.size(), 3 + rng.below(bytes.size())));
    } else {
      const std::size_t changes = 1 + rng.below(8);
      for (std::size_t k = 0; k < changes; ++k)
        bytes[rng.below(bytes.size())] = static_cast<std::uint8_t>(rng.below(256));
    }
    if (trial % 5 == 0) {  // a signature, then noise
      const std::size_t keep = std::min<std::size_t>(bytes.size(), 8);
      for (std::size_t i = keep; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(rng.below(256));
    }
    try {
      const auto image = decode(bytes);
      CHECK(image.size() == image.width * image.height);
      CHECK(image.width <= ctnn::max_image_side);
      ++decoded;
    } catch (const ctnn::ImageError&) {
      ++refused;
    }
  }
  CHECK(decoded + refused == 3000);
  CHECK(refused > 0);
  CHECK(decoded > 0);
}
