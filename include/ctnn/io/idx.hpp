// IDX readers (LeCun's MNIST format), raw or gzip-compressed, from memory or from a file.
// Design: the file readers only load bytes; the span parsers do all checking, so they are the
// fuzz target. Every size read from the data is validated against the limits below and against
// the bytes actually present before anything is allocated for it, and gzip output grows
// geometrically up to a hard cap, so no input can trigger a huge allocation or an overread.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctnn/io/dataset.hpp>

namespace ctnn {

inline constexpr std::uint32_t idx_images_magic = 0x00000803;  // unsigned bytes, 3 dimensions
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;  // unsigned bytes, 1 dimension
inline constexpr std::size_t idx_max_side = 4096;
inline constexpr std::size_t idx_max_count = 10'000'000;
inline constexpr std::size_t max_data_bytes = std::size_t{1} << 30;  // raw file or gunzipped

struct IdxImages {
  std::size_t count = 0, rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols, row-major, 0 = background
};

namespace detail {

inline std::string hex32(std::uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof text, "0x%08X", static_cast<unsigned>(value));
  return text;
}

// "1 byte", "2 bytes".
inline std::string bytes_text(std::size_t count) { return std::to_string(count) + (count == 1 ? " byte" : " bytes"); }

inline std::uint32_t read_be32(std::span<const std::uint8_t> bytes, std::size_t at) noexcept {
  return std::uint32_t{bytes[at]} << 24 | std::uint32_t{bytes[at + 1]} << 16 | std::uint32_t{bytes[at + 2]} << 8 |
         std::uint32_t{bytes[at + 3]};
}

inline bool is_gzip(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

inline std::string_view idx_kind(std::uint32_t magic) noexcept {
  switch (magic) {
    case idx_images_magic:
      return " (an IDX image file)";
    case idx_labels_magic:
      return " (an IDX label file)";
    default:
      return "";
  }
}

// Checks the magic number and that the whole header is present; returns the header size.
inline std::size_t check_idx_header(std::span<const std::uint8_t> bytes, std::uint32_t magic, std::string_view what,
                                    std::string_view source) {
  const std::string name(source);
  if (bytes.size() < 4)
    throw DataError(name + ": truncated file: expected at least 4 bytes of IDX magic number, found " +
                    std::to_string(bytes.size()));
  const std::uint32_t found = read_be32(bytes, 0);
  if (found != magic)
    throw DataError(name + ": wrong magic number: expected " + hex32(magic) + " (IDX " + std::string(what) +
                    "), found " + hex32(found) + std::string(idx_kind(found)));
  const std::size_t header = 4 + 4 * std::size_t{magic & 0xff};
  if (bytes.size() < header)
    throw DataError(name + ": truncated file: expected a " + std::to_string(header) + "-byte IDX header, found " +
                    std::to_string(bytes.size()) + " bytes");
  return header;
}

// Checks that exactly `payload` bytes follow the header.
inline void check_idx_payload(std::span<const std::uint8_t> bytes, std::size_t header, std::size_t payload,
                              std::string_view source) {
  const std::size_t found = bytes.size() - header;
  if (found < payload)
    throw DataError(std::string(source) + ": truncated file: expected " + std::to_string(header + payload) +
                    " bytes, found " + std::to_string(bytes.size()));
  if (found > payload)
    throw DataError(std::string(source) + ": " + bytes_text(found - payload) + " of trailing data after the expected " +
                    bytes_text(header + payload));
}

inline void check_count(std::size_t count, std::string_view source) {
  if (count > idx_max_count)
    throw DataError(std::string(source) + ": absurd dimensions: count " + std::to_string(count) +
                    " is over the limit of " + std::to_string(idx_max_count));
}

}  // namespace detail

// Gunzips `bytes` (one or more gzip members). Throws DataError with zlib's message on corrupt
// data, on a stream that ends early, on trailing non-gzip bytes and when the output would
// exceed `max_bytes`.
inline std::vector<std::uint8_t> gunzip(std::span<const std::uint8_t> bytes, std::string_view source = "<memory>",
                                        std::size_t max_bytes = max_data_bytes) {
  const std::string name(source);
  z_stream stream{};
  if (inflateInit2(&stream, 15 + 32) != Z_OK) throw DataError(name + ": cannot initialise zlib");
  struct End {
    z_stream* stream;
    ~End() { inflateEnd(stream); }
  } end{&stream};

  constexpr std::size_t uint_max = std::numeric_limits<uInt>::max();
  const std::size_t limit = max_bytes == std::numeric_limits<std::size_t>::max() ? max_bytes : max_bytes + 1;
  std::vector<std::uint8_t> out;
  std::size_t consumed = 0, produced = 0;
  for (;;) {
    if (produced == out.size())
      out.resize(std::min(limit, std::max<std::size_t>(std::size_t{1} << 16, 2 * out.size())));
    const std::size_t in_chunk = std::min(bytes.size() - consumed, uint_max);
    const std::size_t out_chunk = std::min(out.size() - produced, uint_max);
    stream.next_in = const_cast<Bytef*>(bytes.data() + consumed);
    stream.avail_in = static_cast<uInt>(in_chunk);
    stream.next_out = out.data() + produced;
    stream.avail_out = static_cast<uInt>(out_chunk);
    const int status = inflate(&stream, Z_NO_FLUSH);
    consumed += in_chunk - stream.avail_in;
    produced += out_chunk - stream.avail_out;
    if (produced > max_bytes)
      throw DataError(name + ": decompressed size exceeds the cap of " + std::to_string(max_bytes) + " bytes");

    if (status == Z_STREAM_END) {
      const auto rest = bytes.subspan(consumed);
      if (rest.empty()) break;
      if (!detail::is_gzip(rest))
        throw DataError(name + ": " + detail::bytes_text(rest.size()) + " of trailing data after the gzip stream");
      inflateReset(&stream);
    } else if (status == Z_OK || status == Z_BUF_ERROR) {
      if (consumed == bytes.size() && stream.avail_out != 0)
        throw DataError(name + ": corrupt gzip data: the stream ends early (truncated file?)");
    } else {
      throw DataError(name + ": corrupt gzip data: " +
                      (stream.msg ? std::string(stream.msg) : "zlib error " + std::to_string(status)));
    }
  }
  out.resize(produced);
  out.shrink_to_fit();
  return out;
}

namespace detail {

inline IdxImages parse_raw_idx_images(std::span<const std::uint8_t> bytes, std::string_view source) {
  const std::size_t header = check_idx_header(bytes, idx_images_magic, "images, unsigned bytes, 3 dimensions", source);
  IdxImages result;
  result.count = read_be32(bytes, 4);
  result.rows = read_be32(bytes, 8);
  result.cols = read_be32(bytes, 12);
  for (const auto& [side, label] : {std::pair{result.rows, "rows"}, std::pair{result.cols, "cols"}})
    if (side == 0 || side > idx_max_side)
      throw DataError(std::string(source) + ": absurd dimensions: " + label + " = " + std::to_string(side) +
                      ", expected 1.." + std::to_string(idx_max_side));
  check_count(result.count, source);
  const std::size_t image_bytes = result.rows * result.cols;
  if (result.count > std::numeric_limits<std::size_t>::max() / image_bytes)
    throw DataError(std::string(source) + ": absurd dimensions: " + std::to_string(result.count) + " x " +
                    std::to_string(result.rows) + " x " + std::to_string(result.cols) + " overflows");
  check_idx_payload(bytes, header, result.count * image_bytes, source);
  result.pixels.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return result;
}

inline std::vector<std::uint8_t> parse_raw_idx_labels(std::span<const std::uint8_t> bytes, std::size_t classes,
                                                      std::string_view source) {
  if (classes == 0 || classes > 256)
    throw DataError(std::string(source) + ": invalid class count " + std::to_string(classes) + ", expected 1..256");
  const std::size_t header = check_idx_header(bytes, idx_labels_magic, "labels, unsigned bytes, 1 dimension", source);
  const std::size_t count = read_be32(bytes, 4);
  check_count(count, source);
  check_idx_payload(bytes, header, count, source);
  std::vector<std::uint8_t> labels(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] >= classes)
      throw DataError(std::string(source) + ": label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                      " is out of range 0.." + std::to_string(classes - 1));
  return labels;
}

}  // namespace detail

// Parses an IDX image file (magic 0x00000803), raw or gzipped. `source` names it in errors.
// Only one layer of gzip is undone: gzip inside gzip is rejected as a wrong magic number.
inline IdxImages parse_idx_images(std::span<const std::uint8_t> bytes, std::string_view source = "<memory>") {
  if (!detail::is_gzip(bytes)) return detail::parse_raw_idx_images(bytes, source);
  return detail::parse_raw_idx_images(gunzip(bytes, source), std::string(source) + " (decompressed)");
}

// Parses an IDX label file (magic 0x00000801), raw or gzipped. Every label must be below
// `classes` (at most 256; 10 for digit sets).
inline std::vector<std::uint8_t> parse_idx_labels(std::span<const std::uint8_t> bytes, std::size_t classes = 256,
                                                  std::string_view source = "<memory>") {
  if (!detail::is_gzip(bytes)) return detail::parse_raw_idx_labels(bytes, classes, source);
  return detail::parse_raw_idx_labels(gunzip(bytes, source), classes, std::string(source) + " (decompressed)");
}

// The whole file, refusing anything over max_data_bytes before reading it.
inline std::vector<std::uint8_t> read_file_bytes(const std::filesystem::path& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (!std::filesystem::exists(status)) throw DataError(path.string() + ": file does not exist");
  if (!std::filesystem::is_regular_file(status)) throw DataError(path.string() + ": not a regular file");
  const auto size = std::filesystem::file_size(path, error);
  if (error) throw DataError(path.string() + ": cannot read the file size: " + error.message());
  if (size > max_data_bytes)
    throw DataError(path.string() + ": file is " + std::to_string(size) + " bytes, over the limit of " +
                    std::to_string(max_data_bytes));
  std::ifstream file(path, std::ios::binary);
  if (!file) throw DataError(path.string() + ": cannot open the file");
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  file.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (static_cast<std::size_t>(file.gcount()) != bytes.size())
    throw DataError(path.string() + ": read " + std::to_string(file.gcount()) + " of " + std::to_string(bytes.size()) +
                    " bytes");
  return bytes;
}

inline IdxImages read_idx_images(const std::filesystem::path& path) {
  return parse_idx_images(read_file_bytes(path), path.string());
}

inline std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path, std::size_t classes = 256) {
  return parse_idx_labels(read_file_bytes(path), classes, path.string());
}

// An image file and its label file as one single-channel Dataset, pixels scaled by 1/255.
inline Dataset load_idx_dataset(const std::filesystem::path& images_path, const std::filesystem::path& labels_path,
                                std::string name, std::size_t classes = 256) {
  const IdxImages images = read_idx_images(images_path);
  Dataset dataset;
  dataset.name = std::move(name);
  dataset.height = images.rows;
  dataset.width = images.cols;
  dataset.labels = read_idx_labels(labels_path, classes);
  if (dataset.labels.size() != images.count)
    throw DataError(images_path.string() + " has " + std::to_string(images.count) + " images but " +
                    labels_path.string() + " has " + std::to_string(dataset.labels.size()) +
                    " labels: image/label count mismatch");
  dataset.images.resize(images.pixels.size());
  std::transform(images.pixels.begin(), images.pixels.end(), dataset.images.begin(),
                 [](std::uint8_t pixel) { return static_cast<float>(pixel) / 255.0f; });
  return dataset;
}

}  // namespace ctnn
