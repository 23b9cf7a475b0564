// Helpers for the io tests: builders for IDX bytes, and the shared temporary folder.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <span>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "support/temp_dir.hpp"

namespace ctnn::test {

using Bytes = std::vector<std::uint8_t>;

inline void append_be32(Bytes& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An IDX image file whose pixel i is (i * 7) mod 256.
inline Bytes idx_images(std::uint32_t count, std::uint32_t rows, std::uint32_t cols, std::uint32_t magic = 0x00000803) {
  Bytes bytes;
  append_be32(bytes, magic);
  for (const auto dim : {count, rows, cols}) append_be32(bytes, dim);
  const std::size_t pixels = std::size_t{count} * rows * cols;
  for (std::size_t i = 0; i < pixels; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 7));
  return bytes;
}

inline Bytes idx_labels(std::initializer_list<std::uint8_t> labels, std::uint32_t magic = 0x00000801) {
  Bytes bytes;
  append_be32(bytes, magic);
  append_be32(bytes, static_cast<std::uint32_t>(labels.size()));
  bytes.insert(bytes.end(), labels.begin(), labels.end());
  return bytes;
}

inline std::filesystem::path write_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Writes `bytes` gzip-compressed with zlib's gz API, as gzip(1) would.
inline std::filesystem::path write_gzip_file(const std::filesystem::path& path, std::span<const std::uint8_t> bytes) {
  std::filesystem::create_directories(path.parent_path());
  gzFile file = gzopen(path.c_str(), "wb9");
  if (!file) throw std::runtime_error("gzopen failed");
  const int written = bytes.empty() ? 0 : gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(file);
  if (written != static_cast<int>(bytes.size())) throw std::runtime_error("gzwrite failed");
  return path;
}

inline Bytes read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(file), {});
}

}  // namespace ctnn::test
