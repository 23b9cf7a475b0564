// Safetensors files (https://github.com/huggingface/safetensors), the tensor container shared by
// PyTorch, JAX and the Hugging Face hub; ctnn stores models and checkpoints in it.
// Layout: an 8-byte little-endian header length N, N bytes of UTF-8 JSON (possibly padded with
// spaces), then the data buffer. The JSON maps each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]}, offsets relative to the buffer, plus an optional
// "__metadata__" object of string values.
// Design: the reader owns the whole file and checks the header against it before anything uses
// it, with the reference implementation's rules (header at most 100 MB and starting with '{';
// byte counts equal to the elements times the dtype size; tensors tile the buffer exactly: no
// overlap, no gap, no trailing bytes). Every size is checked before it is used, so parse() takes
// any byte string and is the fuzz target. Tensor bytes are views into the file at any alignment:
// copy them out with memcpy. The writer lays tensors out in the order given, pads the header with
// spaces to a multiple of 8 bytes as the reference does (so the buffer starts 8-aligned), and
// replaces its destination atomically: temporary file, fsync, rename.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/io/atomic_file.hpp>

namespace ctnn {

static_assert(std::endian::native == std::endian::little,
              "safetensors: tensor data is little-endian and ctnn copies it as is, so the host must be little-endian");

// Thrown on a malformed file or a failed write. The message starts with the file's name and
// says what is wrong, with the values found.
struct SafetensorsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The reference implementation's limit (MAX_HEADER_SIZE).
inline constexpr std::uint64_t safetensors_max_header_size = 100'000'000;

// Bytes per element of a safetensors dtype, or 0 for a name this reader does not know. The
// sub-byte types (F4, F6_E2M3, F6_E3M2) are not supported.
inline constexpr std::size_t safetensors_dtype_size(std::string_view dtype) noexcept {
  constexpr std::array<std::pair<std::string_view, std::size_t>, 15> sizes{{{"BOOL", 1},
                                                                            {"U8", 1},
                                                                            {"I8", 1},
                                                                            {"F8_E5M2", 1},
                                                                            {"F8_E4M3", 1},
                                                                            {"I16", 2},
                                                                            {"U16", 2},
                                                                            {"F16", 2},
                                                                            {"BF16", 2},
                                                                            {"I32", 4},
                                                                            {"U32", 4},
                                                                            {"F32", 4},
                                                                            {"I64", 8},
                                                                            {"U64", 8},
                                                                            {"F64", 8}}};
  for (const auto& [name, size] : sizes)
    if (name == dtype) return size;
  return 0;
}

// One tensor of a SafetensorsFile; `bytes` points into the file's own storage.
struct TensorEntry {
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> bytes;
};

namespace detail {

// A name or value as JSON would spell it, quotes and escapes included, for error messages.
inline std::string json_quoted(std::string_view text) {
  return nlohmann::json(std::string(text)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string shape_text(std::span<const std::uint64_t> shape) {
  std::string text = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The byte count of `shape` elements of `element_size` bytes; false if it exceeds 64 bits.
inline bool tensor_byte_count(std::span<const std::uint64_t> shape, std::size_t element_size,
                              std::uint64_t& bytes) noexcept {
  constexpr std::uint64_t limit = std::numeric_limits<std::uint64_t>::max();
  if (std::find(shape.begin(), shape.end(), std::uint64_t{0}) != shape.end()) {
    bytes = 0;  // [0, 2^40, 2^40] holds nothing; do not call its product an overflow
    return true;
  }
  bytes = element_size;
  for (const std::uint64_t dim : shape) {
    if (bytes > limit / dim) return false;
    bytes *= dim;
  }
  return true;
}

// Parses the header JSON, refusing a key repeated within one object: nlohmann keeps the last
// one silently, which would hide a tensor or a field.
inline nlohmann::json parse_safetensors_header(std::string_view text, const std::string& source) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const nlohmann::json::parser_callback_t callback = [&](int, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() && parsed.is_string()) {
      if (!open_objects.back().insert(parsed.get<std::string>()).second && duplicate.empty())
        duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& error) {
    std::string reason = error.what();
    if (const auto end = reason.find("] "); reason.starts_with("[json.exception.") && end != std::string::npos)
      reason.erase(0, end + 2);
    throw SafetensorsError(source + ": the header is not valid JSON: " + reason);
  }
  if (!duplicate.empty())
    throw SafetensorsError(source + ": the header repeats the key " + json_quoted(duplicate) + " within one object");
  return header;
}

inline bool read_json_count(const nlohmann::json& value, std::uint64_t& count) {
  if (value.is_number_unsigned()) {
    count = value.get<std::uint64_t>();
    return true;
  }
  if (value.is_number_integer() && value.get<std::int64_t>() == 0) {  // "-0"
    count = 0;
    return true;
  }
  return false;
}

inline std::string json_text(const nlohmann::json& value) {
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

inline std::string errno_text(int error) { return std::generic_category().message(error); }

}  // namespace detail

// A parsed, validated safetensors file. Owns its bytes (shared between copies, never modified),
// so TensorEntry::bytes stay valid as long as any copy lives.
class SafetensorsFile {
 public:
  // Checks everything the header says against `contents`; throws SafetensorsError naming
  // `source_name` and the problem.
  static SafetensorsFile parse(std::vector<std::byte> contents, std::string source_name) {
    SafetensorsFile file;
    file.source_ = std::move(source_name);
    const std::string& source = file.source_;
    const auto fail = [&](const std::string& problem) { return SafetensorsError(source + ": " + problem); };

    if (contents.size() < 8)
      throw fail("truncated file: " + std::to_string(contents.size()) +
                 " bytes, but a safetensors file starts with an 8-byte header length");
    std::uint64_t header_size = 0;
    for (std::size_t i = 0; i < 8; ++i)
      header_size |= std::uint64_t{std::to_integer<std::uint8_t>(contents[i])} << (8 * i);
    if (header_size > safetensors_max_header_size)
      throw fail("the header length " + std::to_string(header_size) + " exceeds the limit of " +
                 std::to_string(safetensors_max_header_size) + " bytes");
    if (header_size > contents.size() - 8)
      throw fail("truncated file: the header length is " + std::to_string(header_size) + " bytes but only " +
                 std::to_string(contents.size() - 8) + " bytes follow it");
    const std::string_view text(reinterpret_cast<const char*>(contents.data()) + 8, header_size);
    if (text.empty() || text.front() != '{') throw fail("the header is not a JSON object (it must start with '{')");
    // nlohmann's lexer takes a NUL byte for the end of the input; no JSON text contains one.
    if (const auto nul = text.find('\0'); nul != std::string_view::npos)
      throw fail("the header is not valid JSON: it holds a NUL byte at offset " + std::to_string(nul));
    const nlohmann::json header = detail::parse_safetensors_header(text, source);
    if (!header.is_object()) throw fail("the header is not a JSON object");

    auto storage = std::make_shared<const std::vector<std::byte>>(std::move(contents));
    const std::uint64_t buffer_start = 8 + header_size;
    const std::uint64_t buffer_size = storage->size() - buffer_start;
    struct Extent {
      std::uint64_t begin, end;
      const std::string* name;
    };
    std::vector<Extent> extents;

    for (const auto& [name, value] : header.items()) {
      if (name == "__metadata__") {
        if (!value.is_object()) throw fail("\"__metadata__\" is not a JSON object of strings");
        for (const auto& [key, text_value] : value.items()) {
          if (!text_value.is_string())
            throw fail("metadata entry " + detail::json_quoted(key) + " is " + detail::json_text(text_value) +
                       ", not a string");
          file.metadata_.emplace(key, text_value.get<std::string>());
        }
        continue;
      }
      const std::string what = "tensor " + detail::json_quoted(name);
      if (!value.is_object())
        throw fail(what + " is " + detail::json_text(value) + ", not an object with dtype, shape and data_offsets");
      for (const auto& [key, field] : value.items())
        if (key != "dtype" && key != "shape" && key != "data_offsets")
          throw fail(what + " has an unknown field " + detail::json_quoted(key));
      for (const char* key : {"dtype", "shape", "data_offsets"})
        if (!value.contains(key)) throw fail(what + " has no \"" + key + "\" field");

      TensorEntry entry;
      const auto& dtype = value.at("dtype");
      if (!dtype.is_string()) throw fail(what + ": dtype is " + detail::json_text(dtype) + ", not a string");
      entry.dtype = dtype.get<std::string>();
      const std::size_t element_size = safetensors_dtype_size(entry.dtype);
      if (element_size == 0)
        throw fail(what + " has the unknown dtype " + detail::json_quoted(entry.dtype) +
                   " (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)");

      const auto& shape = value.at("shape");
      if (!shape.is_array()) throw fail(what + ": shape is " + detail::json_text(shape) + ", not an array");
      for (const auto& dim : shape) {
        std::uint64_t extent = 0;
        if (!detail::read_json_count(dim, extent))
          throw fail(what + ": shape " + detail::json_text(shape) + " has " + detail::json_text(dim) +
                     ", which is not a non-negative integer");
        entry.shape.push_back(extent);
      }

      const auto& offsets = value.at("data_offsets");
      std::uint64_t begin = 0, end = 0;
      if (!offsets.is_array() || offsets.size() != 2 || !detail::read_json_count(offsets[0], begin) ||
          !detail::read_json_count(offsets[1], end))
        throw fail(what + ": data_offsets is " + detail::json_text(offsets) +
                   ", not a pair [begin, end] of non-negative integers");
      const std::string range = "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
      if (begin > end) throw fail(what + ": data_offsets " + range + " begin after they end");
      if (end > buffer_size)
        throw fail(what + ": data_offsets " + range + " run past the end of the data buffer (" +
                   std::to_string(buffer_size) + " bytes)");

      std::uint64_t expected = 0;
      if (!detail::tensor_byte_count(entry.shape, element_size, expected))
        throw fail(what + ": shape " + detail::shape_text(entry.shape) + " of " + entry.dtype +
                   " needs more than 2^64 bytes");
      if (expected != end - begin)
        throw fail(what + ": shape " + detail::shape_text(entry.shape) + " of " + entry.dtype + " needs " +
                   std::to_string(expected) + " bytes, but data_offsets " + range + " hold " +
                   std::to_string(end - begin));

      entry.bytes = std::span<const std::byte>(storage->data() + buffer_start + begin, end - begin);
      const auto slot = file.tensors_.emplace(name, std::move(entry)).first;
      extents.push_back({begin, end, &slot->first});
    }

    // The tensors must tile the buffer: sorted by offsets, each begins where the previous ended.
    // Stable, so empty tensors at one offset stay in name order (the header's).
    std::stable_sort(extents.begin(), extents.end(), [](const Extent& a, const Extent& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t covered = 0;
    const Extent* previous = nullptr;
    for (const Extent& extent : extents) {
      if (extent.begin < covered)
        throw fail("tensors " + detail::json_quoted(*previous->name) + " [" + std::to_string(previous->begin) + ", " +
                   std::to_string(previous->end) + "] and " + detail::json_quoted(*extent.name) + " [" +
                   std::to_string(extent.begin) + ", " + std::to_string(extent.end) + "] overlap");
      if (extent.begin > covered)
        throw fail("bytes [" + std::to_string(covered) + ", " + std::to_string(extent.begin) +
                   ") of the data buffer belong to no tensor (the tensors must cover the buffer without gaps)");
      covered = extent.end;
      previous = &extent;
      file.order_.push_back(*extent.name);
    }
    if (covered != buffer_size)
      throw fail(std::to_string(buffer_size - covered) +
                 (buffer_size - covered == 1 ? " trailing byte" : " trailing bytes") +
                 " after the last tensor (the data buffer has " + std::to_string(buffer_size) +
                 " bytes, the tensors cover " + std::to_string(covered) + ")");
    file.contents_ = std::move(storage);
    return file;
  }

  // Reads and parses a whole file; the messages name `path`.
  static SafetensorsFile read(const std::filesystem::path& path) {
    const std::string source = path.string();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw SafetensorsError(source + ": cannot open: " + detail::errno_text(errno));
    struct stat status {};
    std::vector<std::byte> contents;
    int error = 0;
    if (::fstat(fd, &status) != 0) {
      error = errno;
    } else if (!S_ISREG(status.st_mode)) {
      ::close(fd);
      throw SafetensorsError(source + ": not a regular file");
    } else {
      contents.resize(static_cast<std::size_t>(status.st_size));
      std::size_t done = 0;
      while (done < contents.size()) {
        const ::ssize_t count = ::read(fd, contents.data() + done, contents.size() - done);
        if (count < 0 && errno == EINTR) continue;
        if (count < 0) {
          error = errno;
          break;
        }
        if (count == 0) {  // the file shrank while we read it
          contents.resize(done);
          break;
        }
        done += static_cast<std::size_t>(count);
      }
    }
    ::close(fd);
    if (error) throw SafetensorsError(source + ": cannot read: " + detail::errno_text(error));
    return parse(std::move(contents), source);
  }

  const std::string& source() const noexcept { return source_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }

  const TensorEntry& at(std::string_view name) const {
    const auto found = tensors_.find(name);
    if (found == tensors_.end()) throw SafetensorsError(source_ + ": no tensor named " + detail::json_quoted(name));
    return found->second;
  }
  bool contains(std::string_view name) const { return tensors_.find(name) != tensors_.end(); }
  // Tensor names in the order of their data in the file (the order they were written in);
  // empty tensors at the same offset by name.
  std::vector<std::string> names() const { return order_; }
  std::size_t size() const noexcept { return order_.size(); }

 private:
  SafetensorsFile() = default;

  std::shared_ptr<const std::vector<std::byte>> contents_;
  std::string source_;
  std::map<std::string, std::string> metadata_;
  std::map<std::string, TensorEntry, std::less<>> tensors_;
  std::vector<std::string> order_;
};

// One tensor to write; `bytes` must hold exactly product(shape) elements of `dtype`,
// little-endian (on a little-endian host: the values' own memory).
struct TensorToWrite {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> bytes;
};

// The bytes of a safetensors file holding `tensors`, laid out in the given order, and
// `metadata` (omitted when empty); the header lists the tensors by name, as the format allows. Throws SafetensorsError, naming `destination`, on a
// duplicate or reserved name, an unknown dtype, a byte count that does not match the shape, or
// text that is not valid UTF-8.
inline std::vector<std::byte> serialize_safetensors(std::span<const TensorToWrite> tensors,
                                                    const std::map<std::string, std::string>& metadata,
                                                    std::string_view destination = "safetensors data") {
  const std::string source(destination);
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::set<std::string_view> seen;
  std::uint64_t offset = 0;
  for (const TensorToWrite& tensor : tensors) {
    const std::string what = source + ": tensor " + detail::json_quoted(tensor.name);
    if (tensor.name == "__metadata__") throw SafetensorsError(what + ": the name is reserved for the metadata");
    if (!seen.insert(tensor.name).second) throw SafetensorsError(what + " appears twice");
    const std::size_t element_size = safetensors_dtype_size(tensor.dtype);
    if (element_size == 0) throw SafetensorsError(what + " has the unknown dtype " + detail::json_quoted(tensor.dtype));
    std::uint64_t expected = 0;
    if (!detail::tensor_byte_count(tensor.shape, element_size, expected) || expected != tensor.bytes.size())
      throw SafetensorsError(what + ": shape " + detail::shape_text(tensor.shape) + " of " + tensor.dtype +
                             " does not match its " + std::to_string(tensor.bytes.size()) + " bytes");
    header[tensor.name] = {
        {"dtype", tensor.dtype}, {"shape", tensor.shape}, {"data_offsets", {offset, offset + tensor.bytes.size()}}};
    offset += tensor.bytes.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception&) {
    throw SafetensorsError(source + ": a tensor name or metadata text is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  if (text.size() > safetensors_max_header_size)
    throw SafetensorsError(source + ": the header would be " + std::to_string(text.size()) +
                           " bytes, over the limit of " + std::to_string(safetensors_max_header_size));

  std::vector<std::byte> bytes;
  bytes.reserve(8 + text.size() + offset);
  for (std::size_t i = 0; i < 8; ++i) bytes.push_back(static_cast<std::byte>(std::uint64_t{text.size()} >> (8 * i)));
  for (const char c : text) bytes.push_back(static_cast<std::byte>(c));
  for (const TensorToWrite& tensor : tensors) bytes.insert(bytes.end(), tensor.bytes.begin(), tensor.bytes.end());
  return bytes;
}

// Writes a safetensors file atomically: readers of `path` see the old file or the complete new
// one, never a part. Throws SafetensorsError naming `path`; on failure nothing is left behind.
inline void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const std::vector<std::byte> bytes = serialize_safetensors(tensors, metadata, path.string());
  try {
    write_file_atomically(path, bytes);
  } catch (const FileError& error) {
    throw SafetensorsError(error.what());
  }
}

}  // namespace ctnn
