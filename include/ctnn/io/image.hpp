// Image files (PNG, JPEG, BMP, binary PGM/PPM) read into grayscale float images, and grayscale
// images written as PNG; stb_image decodes and encodes.
// Design: nothing reaches a decoder before these checks. The format is recognized by its
// signature bytes, so only the four formats a scanner, a phone or a paint program writes are
// decoded (stb's TGA reader accepts almost any bytes, and its rarer formats have had the most
// bugs). Then the dimensions are read from the header alone (stbi_info_from_memory), and an image
// above max_image_side pixels a side or max_image_pixels in all is refused before any pixel
// buffer is allocated. Where stb's own checks fall short on damaged files (PGM/PPM headers and
// truncation, JPEG Huffman tables), the bytes are checked here first: the random and damaged
// files of tests/io/image_test.cpp, and 100,000 more run against an instrumented stb, decode or
// fail cleanly. Colour becomes luminance with stb's ITU-R BT.601 weights (77, 150, 29 of 256); an
// alpha channel is composited on white paper, so a transparent background reads as paper; a JPEG's
// EXIF orientation is applied, so a phone photo is upright as its owner sees it.
#pragma once

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

// One channel of float pixels, row-major; the readers give luminance in [0, 1], 0 black, 1 white.
struct GrayImage {
  std::size_t height = 0, width = 0;
  std::vector<float> pixels;

  GrayImage() = default;
  GrayImage(std::size_t rows, std::size_t columns, float value = 0)
      : height(rows), width(columns), pixels(rows * columns, value) {}

  bool empty() const noexcept { return pixels.empty(); }
  std::size_t size() const noexcept { return pixels.size(); }
  // Requires row < height and column < width.
  float& operator()(std::size_t row, std::size_t column) noexcept { return pixels[row * width + column]; }
  float operator()(std::size_t row, std::size_t column) const noexcept { return pixels[row * width + column]; }
};

// A file or buffer that is not an image this reader accepts, or one too large to decode. The
// message starts with the file's name (or the buffer's label) and says what is wrong.
class ImageError : public DataError {
 public:
  using DataError::DataError;
};

// Limits checked on the header, before decoding: 16384 pixels a side, 64 megapixels in all (a
// 64-megapixel decode takes 64 MB of luminance bytes and 256 MB of floats), and 512 MiB of file
// (a 64-megapixel BMP with alpha is 256 MB).
inline constexpr std::size_t max_image_side = 16384;
inline constexpr std::size_t max_image_pixels = 64'000'000;
inline constexpr std::size_t max_image_file_bytes = std::size_t{512} << 20;

enum class ImageFormat { unknown, png, jpeg, bmp, pnm };

// The format by its signature: PNG's eight bytes, JPEG's FF D8 FF, BMP's "BM", and the binary
// Netpbm kinds stb reads, "P5" (PGM) and "P6" (PPM).
inline ImageFormat detect_image_format(std::span<const std::byte> bytes) noexcept {
  const auto starts_with = [&](std::initializer_list<unsigned> prefix) {
    if (bytes.size() < prefix.size()) return false;
    std::size_t i = 0;
    for (const unsigned value : prefix)
      if (std::to_integer<unsigned>(bytes[i++]) != value) return false;
    return true;
  };
  if (starts_with({0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'})) return ImageFormat::png;
  if (starts_with({0xFF, 0xD8, 0xFF})) return ImageFormat::jpeg;
  if (starts_with({'B', 'M'})) return ImageFormat::bmp;
  if (starts_with({'P', '5'}) || starts_with({'P', '6'})) return ImageFormat::pnm;
  return ImageFormat::unknown;
}

namespace detail {

inline std::string failure_reason() {
  const char* reason = stbi_failure_reason();
  return reason ? reason : "unknown reason";
}

inline std::string describe_first_bytes(std::span<const std::byte> bytes) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string text;
  for (std::size_t i = 0; i < std::min<std::size_t>(bytes.size(), 4); ++i) {
    const auto value = std::to_integer<unsigned>(bytes[i]);
    text += i ? " " : "";
    text += hex[value >> 4];
    text += hex[value & 15];
  }
  return text;
}

// The EXIF orientation (1..8, TIFF tag 0x0112) of a JPEG, or 1 when it has none. Walks the marker
// segments up to the first scan, then IFD0 of an APP1 "Exif" segment; every offset is checked.
inline int jpeg_exif_orientation(std::span<const std::byte> bytes) noexcept {
  const auto byte_at = [&](std::size_t i) { return std::to_integer<unsigned>(bytes[i]); };
  std::size_t position = 2;
  while (position + 4 <= bytes.size()) {
    if (byte_at(position) != 0xFF) return 1;
    const unsigned marker = byte_at(position + 1);
    if (marker == 0xFF) {  // fill byte
      ++position;
      continue;
    }
    if (marker == 0xDA || marker == 0xD9) return 1;  // start of scan, end of image: no more headers
    const std::size_t length = byte_at(position + 2) << 8 | byte_at(position + 3);
    if (length < 2 || position + 2 + length > bytes.size()) return 1;
    const std::span<const std::byte> segment = bytes.subspan(position + 4, length - 2);
    static constexpr char exif[] = {'E', 'x', 'i', 'f', 0, 0};
    if (marker == 0xE1 && segment.size() >= 14 &&
        std::equal(exif, exif + 6, segment.begin(), [](char a, std::byte b) { return std::byte(a) == b; })) {
      const std::span<const std::byte> tiff = segment.subspan(6);
      const auto at = [&](std::size_t i) { return std::to_integer<std::uint32_t>(tiff[i]); };
      const bool little = at(0) == 'I' && at(1) == 'I';
      if (!little && !(at(0) == 'M' && at(1) == 'M')) return 1;
      const auto read16 = [&](std::size_t i) -> std::uint32_t {
        return little ? at(i) | at(i + 1) << 8 : at(i) << 8 | at(i + 1);
      };
      const auto read32 = [&](std::size_t i) -> std::uint32_t {
        return little ? read16(i) | read16(i + 2) << 16 : read16(i) << 16 | read16(i + 2);
      };
      if (read16(2) != 42) return 1;
      const std::size_t ifd = read32(4);
      if (ifd > tiff.size() || tiff.size() - ifd < 2) return 1;
      const std::size_t entries = read16(ifd);
      for (std::size_t e = 0; e < entries; ++e) {
        const std::size_t entry = ifd + 2 + 12 * e;
        if (entry > tiff.size() || tiff.size() - entry < 12) return 1;
        if (read16(entry) == 0x0112 && read16(entry + 2) == 3) {
          const std::uint32_t orientation = read16(entry + 8);
          return orientation >= 1 && orientation <= 8 ? static_cast<int>(orientation) : 1;
        }
      }
      return 1;
    }
    position += 2 + length;
  }
  return 1;
}

// The image as a viewer shows it with EXIF orientation `orientation` (1: as stored; 2..8 the
// mirrorings and rotations of the TIFF 6.0 / EXIF 2.3 table).
inline GrayImage apply_orientation(GrayImage image, int orientation) {
  if (orientation <= 1 || orientation > 8) return image;
  const std::size_t h = image.height, w = image.width;
  const bool swaps = orientation >= 5;
  GrayImage out(swaps ? w : h, swaps ? h : w);
  for (std::size_t r = 0; r < out.height; ++r)
    for (std::size_t c = 0; c < out.width; ++c) {
      float value = 0;
      switch (orientation) {
        case 2:
          value = image(r, w - 1 - c);
          break;  // mirrored left-right
        case 3:
          value = image(h - 1 - r, w - 1 - c);
          break;  // rotated 180
        case 4:
          value = image(h - 1 - r, c);
          break;  // mirrored top-bottom
        case 5:
          value = image(c, r);
          break;  // transposed
        case 6:
          value = image(h - 1 - c, r);
          break;  // to be turned 90 degrees clockwise
        case 7:
          value = image(h - 1 - c, w - 1 - r);
          break;  // transversed
        default:
          value = image(c, w - 1 - r);
          break;  // 8: to be turned 90 counter-clockwise
      }
      out(r, c) = value;
    }
  return out;
}

// The size of a binary PGM/PPM image and where its pixel data starts and ends, read as stb reads
// the header (whitespace and # comments between fields, one whitespace after the maximum value);
// nothing when the header does not parse or a field has more than 9 digits. Checked before stb
// sees the file: stb 2.27 parses the fields into an int without an overflow check, and hands back
// uninitialized memory for a file whose pixel data is cut short.
struct PnmLayout {
  std::size_t width = 0, height = 0, data_offset = 0, data_bytes = 0;
};

inline std::optional<PnmLayout> pnm_layout(std::span<const std::byte> bytes) noexcept {
  std::size_t position = 2;
  const auto at = [&](std::size_t i) { return std::to_integer<char>(bytes[i]); };
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  const auto skip = [&] {
    while (position < bytes.size()) {
      if (is_space(at(position))) {
        ++position;
      } else if (at(position) == '#') {
        while (position < bytes.size() && at(position) != '\n' && at(position) != '\r') ++position;
      } else {
        break;
      }
    }
  };
  const auto number = [&]() -> std::optional<std::size_t> {
    skip();
    std::size_t value = 0, digits = 0;
    for (; position < bytes.size() && at(position) >= '0' && at(position) <= '9'; ++position, ++digits)
      value = value * 10 + static_cast<std::size_t>(at(position) - '0');
    if (!digits || digits > 9) return std::nullopt;
    return value;
  };
  if (bytes.size() < 2) return std::nullopt;
  const std::size_t channels = at(1) == '6' ? 3 : 1;
  const auto width = number(), height = number(), maximum = number();
  if (!width || !height || !maximum || position >= bytes.size()) return std::nullopt;
  const std::size_t sample_bytes = *maximum > 255 ? 2 : 1;
  return PnmLayout{*width, *height, position + 1, *width * *height * channels * sample_bytes};
}

// True when a JPEG defines a Huffman table of more than 256 codes. stb (2.27, Debian's 2022
// snapshot) builds such a table without checking and writes past its arrays. Every FF C4 pair is
// read the way stb reads a DHT segment (bytes past the end read as 0, as stb reads them), so no
// table stb could build escapes the check, wherever in the file it is.
inline bool jpeg_has_oversized_huffman_table(std::span<const std::byte> bytes) noexcept {
  const auto byte_at = [&](std::size_t i) { return i < bytes.size() ? std::to_integer<unsigned>(bytes[i]) : 0u; };
  for (std::size_t marker = 0; marker + 1 < bytes.size(); ++marker) {
    if (byte_at(marker) != 0xFF || byte_at(marker + 1) != 0xC4) continue;
    std::size_t position = marker + 2;
    long remaining = static_cast<long>(byte_at(position) << 8 | byte_at(position + 1)) - 2;
    position += 2;
    while (remaining > 0 && position < bytes.size()) {
      const unsigned table = byte_at(position++);
      if ((table >> 4) > 1 || (table & 15) > 3) break;  // stb stops at this header
      long codes = 0;
      for (int length = 0; length < 16; ++length) codes += byte_at(position++);
      if (codes > 256) return true;
      remaining -= 17 + codes;
      position += static_cast<std::size_t>(codes);
    }
  }
  return false;
}

struct StbPixels {
  void operator()(stbi_uc* pixels) const noexcept { stbi_image_free(pixels); }
};

}  // namespace detail

// Decodes an image held in memory; `source` names it in messages (a file name, "upload").
// Throws ImageError for an empty buffer, an unknown format, a header stb cannot read, an image
// above the limits, or pixel data stb cannot decode (truncated, corrupt), with stb's reason.
inline GrayImage decode_image(std::span<const std::byte> bytes, const std::string& source) {
  if (bytes.empty()) throw ImageError(source + ": empty file, not an image");
  if (bytes.size() > max_image_file_bytes || bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
    throw ImageError(source + ": " + std::to_string(bytes.size()) + " bytes is more than the " +
                     std::to_string(max_image_file_bytes >> 20) + " MiB an image file may have");
  const ImageFormat format = detect_image_format(bytes);
  if (format == ImageFormat::unknown) {
    const bool ascii_netpbm = bytes.size() >= 2 && std::to_integer<char>(bytes[0]) == 'P' &&
                              (std::to_integer<char>(bytes[1]) == '2' || std::to_integer<char>(bytes[1]) == '3');
    throw ImageError(source + (ascii_netpbm ? ": ASCII PGM/PPM (P2/P3) is not supported; save it as binary (P5/P6)"
                                            : ": not a PNG, JPEG, BMP or binary PGM/PPM image (it starts with bytes " +
                                                  detail::describe_first_bytes(bytes) + ")"));
  }
  const auto check_size = [&](std::size_t columns, std::size_t rows) {
    if (columns == 0 || rows == 0)
      throw ImageError(source + ": the header says " + std::to_string(columns) + "x" + std::to_string(rows) +
                       " pixels; an image needs at least one");
    if (columns > max_image_side || rows > max_image_side || columns * rows > max_image_pixels)
      throw ImageError(source + ": " + std::to_string(columns) + "x" + std::to_string(rows) +
                       " pixels is too large (at most " + std::to_string(max_image_side) + " a side and " +
                       std::to_string(max_image_pixels / 1'000'000) + " megapixels)");
  };
  if (format == ImageFormat::pnm) {
    const auto layout = detail::pnm_layout(bytes);
    if (!layout) throw ImageError(source + ": unreadable image header (not a PGM/PPM header stb can read)");
    check_size(layout->width, layout->height);
    if (layout->data_offset > bytes.size() || bytes.size() - layout->data_offset < layout->data_bytes)
      throw ImageError(source + ": cannot decode the image data (truncated PGM/PPM: the header promises " +
                       std::to_string(layout->data_bytes) + " bytes of pixels, " +
                       std::to_string(bytes.size() - std::min(bytes.size(), layout->data_offset)) + " follow it)");
  }
  if (format == ImageFormat::jpeg && detail::jpeg_has_oversized_huffman_table(bytes))
    throw ImageError(source + ": corrupt JPEG (a Huffman table with more than 256 codes)");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  const int length = static_cast<int>(bytes.size());
  int width = 0, height = 0, channels = 0;
  if (!stbi_info_from_memory(data, length, &width, &height, &channels))
    throw ImageError(source + ": unreadable image header (" + detail::failure_reason() + ")");
  check_size(static_cast<std::size_t>(std::max(width, 0)), static_cast<std::size_t>(std::max(height, 0)));
  const auto columns = static_cast<std::size_t>(width), rows = static_cast<std::size_t>(height);
  // Gray plus alpha where there is alpha; stb turns colour into luminance itself.
  const int wanted = channels == 2 || channels == 4 ? 2 : 1;
  int decoded_width = 0, decoded_height = 0, file_channels = 0;
  const std::unique_ptr<stbi_uc, detail::StbPixels> pixels(
      stbi_load_from_memory(data, length, &decoded_width, &decoded_height, &file_channels, wanted));
  if (!pixels) throw ImageError(source + ": cannot decode the image data (" + detail::failure_reason() + ")");
  if (decoded_width != width || decoded_height != height)
    throw ImageError(source + ": the decoded size differs from the header's");
  GrayImage image(rows, columns);
  for (std::size_t i = 0; i < image.size(); ++i) {
    if (wanted == 1) {
      image.pixels[i] = pixels.get()[i] / 255.0f;
    } else {
      const float gray = pixels.get()[2 * i] / 255.0f, alpha = pixels.get()[2 * i + 1] / 255.0f;
      image.pixels[i] = gray * alpha + (1 - alpha);
    }
  }
  if (format == ImageFormat::jpeg)
    image = detail::apply_orientation(std::move(image), detail::jpeg_exif_orientation(bytes));
  return image;
}

// Reads and decodes the image file at `path`; the same errors as decode_image, and an ImageError
// for a file that cannot be read.
inline GrayImage read_image(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) throw ImageError(source + ": is a folder, not an image file");
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw ImageError(source + ": cannot open the file");
  const std::streamoff size = file.tellg();
  if (size < 0) throw ImageError(source + ": cannot read the file's size");
  if (static_cast<std::uintmax_t>(size) > max_image_file_bytes)
    throw ImageError(source + ": " + std::to_string(size) + " bytes is more than the " +
                     std::to_string(max_image_file_bytes >> 20) + " MiB an image file may have");
  std::vector<std::byte> bytes(static_cast<std::size_t>(size));
  file.seekg(0);
  if (!file.read(reinterpret_cast<char*>(bytes.data()), size)) throw ImageError(source + ": cannot read the file");
  return decode_image(bytes, source);
}

// The image as 8-bit PNG bytes; values are clamped to [0, 1] and rounded, a NaN is black.
// Throws ImageError for an empty image or one above the limits.
inline std::vector<std::byte> encode_png(const GrayImage& image) {
  if (image.empty() || image.size() != image.height * image.width || image.width > max_image_side ||
      image.height > max_image_side || image.size() > max_image_pixels)
    throw ImageError("encode_png: cannot encode a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                     " image");
  std::vector<stbi_uc> gray(image.size());
  for (std::size_t i = 0; i < gray.size(); ++i) {
    const float value = image.pixels[i] >= 0 ? std::min(image.pixels[i], 1.0f) : 0.0f;
    gray[i] = static_cast<stbi_uc>(std::lround(value * 255));
  }
  std::vector<std::byte> png;
  const auto append = [](void* context, void* data, int size) {
    auto* out = static_cast<std::vector<std::byte>*>(context);
    const auto* first = static_cast<const std::byte*>(data);
    out->insert(out->end(), first, first + size);
  };
  const int width = static_cast<int>(image.width), height = static_cast<int>(image.height);
  if (!stbi_write_png_to_func(append, &png, width, height, 1, gray.data(), width))
    throw ImageError("encode_png: stb could not encode the image");
  return png;
}

// Writes the image as an 8-bit grayscale PNG, atomically (write_file_atomically).
inline void write_png(const std::filesystem::path& path, const GrayImage& image) {
  write_file_atomically(path, encode_png(image));
}

}  // namespace ctnn
