// Safetensors reading and writing: a file built byte by byte from the public spec, round trips,
// every refusal with its message, and the atomicity of writes.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <ctnn/io/safetensors.hpp>

#include "support/temp_dir.hpp"

using ctnn::SafetensorsError;
using ctnn::SafetensorsFile;
using ctnn::TensorToWrite;
using doctest::Contains;

// Shows the whole message when the part is missing.
#define CHECK_CONTAINS(text, part)                                         \
  do {                                                                     \
    const std::string check_text = (text);                                 \
    CHECK_MESSAGE(check_text.find(part) != std::string::npos, check_text); \
  } while (0)

namespace {

using Bytes = std::vector<std::byte>;

using ScratchDir = ctnn::test::TempDir;

// Whatever a write left behind besides the files the test made.
std::vector<std::string> temporary_files(const ScratchDir& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    if (entry.path().filename().string().find(".tmp-") != std::string::npos)
      found.push_back(entry.path().filename().string());
  return found;
}

Bytes bytes_of(std::initializer_list<unsigned> values) {
  Bytes bytes;
  for (const unsigned value : values) bytes.push_back(static_cast<std::byte>(value));
  return bytes;
}

// 8-byte little-endian length, the header text, then the buffer: the format, spelled out.
Bytes file_with(std::string_view header, const Bytes& buffer = {}) {
  Bytes bytes;
  const std::uint64_t length = header.size();
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<std::byte>(length >> (8 * i)));
  for (const char c : header) bytes.push_back(static_cast<std::byte>(c));
  bytes.insert(bytes.end(), buffer.begin(), buffer.end());
  return bytes;
}

// The message parse() throws, or "" if it accepts the bytes.
std::string refusal(const Bytes& bytes) {
  try {
    SafetensorsFile::parse(bytes, "bad.safetensors");
  } catch (const SafetensorsError& error) {
    return error.what();
  }
  return "";
}

std::string refusal(std::string_view header, std::size_t buffer_size) {
  return refusal(file_with(header, Bytes(buffer_size, std::byte{0})));
}

template <class T>
std::span<const std::byte> raw(const std::vector<T>& values) {
  return std::as_bytes(std::span<const T>(values));
}

void write_bytes(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Bytes bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

}  // namespace

TEST_CASE("safetensors: a file written by hand from the spec reads back") {
  // {"__metadata__":{"format":"pt"},"weight":F32 [2,2] at [0,16),"steps":I16 [3] at [16,22),"flag":BOOL [] at [22,23)}
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                             R"("steps":{"dtype":"I16","shape":[3],"data_offsets":[16,22]},)"
                             R"("flag":{"dtype":"BOOL","shape":[],"data_offsets":[22,23]}}   )";
  const Bytes buffer = bytes_of({
      0x00, 0x00, 0xC0, 0x3F,  // 1.5f    = 0x3FC00000
      0x00, 0x00, 0x00, 0xC0,  // -2.0f   = 0xC0000000
      0x00, 0x00, 0x00, 0x00,  // 0.0f
      0x00, 0x00, 0x80, 0x7F,  // +inf    = 0x7F800000
      0x07, 0x00,              // 7
      0xFF, 0xFF,              // -1
      0x00, 0x80,              // -32768
      0x01,                    // true
  });
  const SafetensorsFile file = SafetensorsFile::parse(file_with(header, buffer), "by_hand.safetensors");

  CHECK(file.metadata() == std::map<std::string, std::string>{{"format", "pt"}});
  CHECK(file.names() == std::vector<std::string>{"weight", "steps", "flag"});
  CHECK(file.size() == 3);
  CHECK(file.source() == "by_hand.safetensors");

  const auto& weight = file.at("weight");
  CHECK(weight.dtype == "F32");
  CHECK(weight.shape == std::vector<std::uint64_t>{2, 2});
  REQUIRE(weight.bytes.size() == 16);
  float values[4];
  std::memcpy(values, weight.bytes.data(), sizeof values);
  CHECK(values[0] == 1.5f);
  CHECK(values[1] == -2.0f);
  CHECK(values[2] == 0.0f);
  CHECK(values[3] == std::numeric_limits<float>::infinity());

  const auto& steps = file.at("steps");
  CHECK(steps.dtype == "I16");
  std::int16_t counts[3];
  REQUIRE(steps.bytes.size() == sizeof counts);
  std::memcpy(counts, steps.bytes.data(), sizeof counts);
  CHECK(counts[0] == 7);
  CHECK(counts[1] == -1);
  CHECK(counts[2] == -32768);

  const auto& flag = file.at("flag");
  CHECK(flag.shape.empty());  // a scalar
  CHECK(flag.bytes.size() == 1);
  CHECK(flag.bytes[0] == std::byte{1});

  CHECK(file.contains("steps"));
  CHECK_FALSE(file.contains("bias"));
  CHECK_THROWS_WITH_AS(file.at("bias"), "by_hand.safetensors: no tensor named \"bias\"", SafetensorsError);
}

TEST_CASE("safetensors: the reference implementation's documentation example reads") {
  // From the doc comment of SafeTensors::deserialize in huggingface/safetensors (tensor.rs):
  // b"<\x00\x00\x00\x00\x00\x00\x00{\"test\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}" + 16 zeros
  const std::string text = std::string("<\0\0\0\0\0\0\0", 8) +
                           R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})" + std::string(16, '\0');
  Bytes bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  const SafetensorsFile file = SafetensorsFile::parse(bytes, "doc example");
  CHECK(file.names() == std::vector<std::string>{"test"});
  CHECK(file.at("test").dtype == "I32");
  CHECK(file.at("test").shape == std::vector<std::uint64_t>{2, 2});
  CHECK(file.at("test").bytes.size() == 16);
}

TEST_CASE("safetensors: the smallest files") {
  const SafetensorsFile empty = SafetensorsFile::parse(file_with("{}"), "empty");
  CHECK(empty.names().empty());
  CHECK(empty.metadata().empty());

  // Zero-element tensors take no bytes and may share an offset with each other.
  const SafetensorsFile zeros = SafetensorsFile::parse(
      file_with(R"({"a":{"dtype":"F64","shape":[0,4],"data_offsets":[0,0]},"b":{"dtype":"U8","shape":[0],)"
                R"("data_offsets":[0,0]}, "c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})",
                bytes_of({9, 8})),
      "zeros");
  CHECK(zeros.at("a").bytes.empty());
  CHECK(zeros.at("a").shape == std::vector<std::uint64_t>{0, 4});
  CHECK(zeros.at("c").bytes[1] == std::byte{8});
}

TEST_CASE("safetensors: serialize and parse round trip, header padded to 8 bytes") {
  const std::vector<float> weight{1.0f, -0.5f, 3.25f, 1e-30f, -0.0f, 7.0f};
  const std::vector<double> scale{2.5};
  const std::vector<std::int64_t> step{1234567890123};
  const std::vector<std::uint8_t> mask{1, 0, 1};
  const std::vector<TensorToWrite> tensors{{"model.weight", "F32", {2, 3}, raw(weight)},
                                           {"scale", "F64", {}, raw(scale)},
                                           {"step", "I64", {1}, raw(step)},
                                           {"a mask / \"quoted\" \xC3\xA9", "U8", {3}, raw(mask)}};
  const std::map<std::string, std::string> metadata{{"note", "hello \"world\"\n"}, {"empty", ""}};
  const Bytes bytes = ctnn::serialize_safetensors(tensors, metadata);

  std::uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  CHECK(header_size % 8 == 0);
  CHECK(bytes.size() == 8 + header_size + 24 + 8 + 8 + 3);
  CHECK(static_cast<char>(bytes[8]) == '{');

  const SafetensorsFile file = SafetensorsFile::parse(bytes, "memory");
  CHECK(file.metadata() == metadata);
  CHECK(file.names() == std::vector<std::string>{"model.weight", "scale", "step", "a mask / \"quoted\" \xC3\xA9"});
  for (const auto& tensor : tensors) {
    CAPTURE(tensor.name);
    const auto& entry = file.at(tensor.name);
    CHECK(entry.dtype == tensor.dtype);
    CHECK(entry.shape == tensor.shape);
    REQUIRE(entry.bytes.size() == tensor.bytes.size());
    CHECK(std::memcmp(entry.bytes.data(), tensor.bytes.data(), entry.bytes.size()) == 0);
  }
  // No metadata: no "__metadata__" key at all, as the reference writes it.
  const Bytes plain = ctnn::serialize_safetensors(tensors, {});
  const std::string plain_text(reinterpret_cast<const char*>(plain.data()) + 8, 64);
  CHECK(plain_text.find("__metadata__") == std::string::npos);
  CHECK(SafetensorsFile::parse(plain, "plain").metadata().empty());

  // Copies share the bytes, which outlive the original.
  std::optional<SafetensorsFile> original = SafetensorsFile::parse(bytes, "memory");
  const SafetensorsFile copy = *original;
  original.reset();
  CHECK(std::memcmp(copy.at("step").bytes.data(), step.data(), 8) == 0);
}

TEST_CASE("safetensors: I8 and I32 tensors, as a quantized model stores them, at odd offsets") {
  // 15 I8 codes (both ends of the range), then an I32 scalar and I32 bias at offsets 15 and 19:
  // views into the file are not aligned, and the values are read back with memcpy.
  std::vector<std::int8_t> codes(15);
  for (std::size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<std::int8_t>(-128 + 18 * static_cast<int>(i));
  codes.back() = 127;
  const std::vector<std::int32_t> zero_point{-7}, bias{2147483647, -2147483647 - 1, 0};
  const std::vector<TensorToWrite> tensors{{"stages.0.weight", "I8", {3, 5}, raw(codes)},
                                           {"input.zero_point", "I32", {}, raw(zero_point)},
                                           {"stages.0.bias", "I32", {3}, raw(bias)}};
  const SafetensorsFile file = SafetensorsFile::parse(ctnn::serialize_safetensors(tensors, {}), "int8");
  const auto& weight = file.at("stages.0.weight");
  CHECK(weight.dtype == "I8");
  CHECK(weight.shape == std::vector<std::uint64_t>{3, 5});
  std::vector<std::int8_t> codes_read(15);
  std::memcpy(codes_read.data(), weight.bytes.data(), 15);
  CHECK(codes_read == codes);
  std::int32_t zero_point_read = 0;
  std::memcpy(&zero_point_read, file.at("input.zero_point").bytes.data(), 4);
  CHECK(zero_point_read == -7);
  std::vector<std::int32_t> bias_read(3);
  std::memcpy(bias_read.data(), file.at("stages.0.bias").bytes.data(), 12);
  CHECK(bias_read == bias);
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"I8","shape":[3,5],"data_offsets":[0,16]}})", 16),
                 "tensor \"w\": shape [3, 5] of I8 needs 15 bytes, but data_offsets [0, 16] hold 16");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"I32","shape":[],"data_offsets":[0,3]}})", 3),
                 "tensor \"w\": shape [] of I32 needs 4 bytes, but data_offsets [0, 3] hold 3");
}

TEST_CASE("safetensors: write_safetensors and read round trip through a file") {
  const ScratchDir dir;
  const std::vector<float> values{0.25f, 0.5f};
  const std::vector<TensorToWrite> tensors{{"x", "F32", {2}, raw(values)}};
  write_safetensors(dir / "model.safetensors", tensors, {{"k", "v"}});
  const SafetensorsFile file = SafetensorsFile::read(dir / "model.safetensors");
  CHECK(file.source() == (dir / "model.safetensors").string());
  CHECK(file.metadata().at("k") == "v");
  CHECK(std::memcmp(file.at("x").bytes.data(), values.data(), 8) == 0);
  CHECK(temporary_files(dir).empty());
  CHECK(read_bytes(dir / "model.safetensors") == ctnn::serialize_safetensors(tensors, {{"k", "v"}}));
}

TEST_CASE("safetensors: refuses a file too short for its header") {
  CHECK(refusal(Bytes{}) ==
        "bad.safetensors: truncated file: 0 bytes, but a safetensors file starts with an 8-byte "
        "header length");
  CHECK_CONTAINS(refusal(Bytes(7, std::byte{0})), "truncated file: 7 bytes");

  Bytes huge = file_with("{}");
  huge[0] = std::byte{0x01};
  huge[1] = std::byte{0xE1};
  huge[2] = std::byte{0xF5};
  huge[3] = std::byte{0x05};  // 0x05F5E101 = 100000001
  CHECK(refusal(huge) == "bad.safetensors: the header length 100000001 exceeds the limit of 100000000 bytes");
  Bytes all_ones(16, std::byte{0xFF});
  CHECK_CONTAINS(refusal(all_ones), "the header length 18446744073709551615 exceeds the limit");

  Bytes beyond = file_with(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", bytes_of({1, 2}));
  beyond.resize(20);
  CHECK_CONTAINS(refusal(beyond), "truncated file: the header length is 53 bytes but only 12 bytes follow it");
}

TEST_CASE("safetensors: refuses a header that is not a JSON object") {
  CHECK_CONTAINS(refusal("[1, 2]", 0), "the header is not a JSON object (it must start with '{')");
  CHECK_CONTAINS(refusal(" {}", 0), "must start with '{'");
  CHECK_CONTAINS(refusal("", 0), "must start with '{'");
  CHECK_CONTAINS(refusal(R"({"a":)", 0), "bad.safetensors: the header is not valid JSON: parse error");
  CHECK_CONTAINS(refusal("{} {}", 0), "the header is not valid JSON");
  CHECK(refusal(std::string("{}\0\0", 4), 0) ==
        "bad.safetensors: the header is not valid JSON: it holds a NUL byte at offset 2");
  CHECK_CONTAINS(refusal(std::string("{\"a\0\":1}", 8), 0), "NUL byte at offset 3");
  CHECK_CONTAINS(refusal("{\"\xC3\x28\":{}}", 0), "the header is not valid JSON");  // bad UTF-8
  CHECK_CONTAINS(refusal(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],)"
                         R"("data_offsets":[1,2]}})",
                         2),
                 "the header repeats the key \"a\" within one object");
  CHECK_CONTAINS(refusal(R"({"a":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", 1),
                 "repeats the key \"dtype\"");
}

TEST_CASE("safetensors: refuses malformed tensor entries") {
  CHECK(refusal(R"({"w":3})", 0) ==
        "bad.safetensors: tensor \"w\" is 3, not an object with dtype, shape and data_offsets");
  CHECK_CONTAINS(refusal(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4), "tensor \"w\" has no \"dtype\" field");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4), "tensor \"w\" has no \"shape\" field");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1]}})", 4), "tensor \"w\" has no \"data_offsets\" field");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"extra":1}})", 4),
                 "tensor \"w\" has an unknown field \"extra\"");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4),
                 "tensor \"w\": dtype is 32, not a string");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":"1","data_offsets":[0,4]}})", 4),
                 "tensor \"w\": shape is \"1\", not an array");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4]}})", 4),
                 "tensor \"w\": data_offsets is [4], not a pair [begin, end] of non-negative integers");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}})", 4),
                 "data_offsets is [0,\"4\"], not a pair");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4), "not a pair");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-1,4]}})", 4), "not a pair");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"0":4}}})", 4), "not a pair");
}

TEST_CASE("safetensors: refuses unknown dtypes and bad shapes") {
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F128","shape":[1],"data_offsets":[0,16]}})", 16),
                 "tensor \"w\" has the unknown dtype \"F128\" (known: BOOL, U8");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4), "unknown dtype \"f32\"");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}})", 4),
                 "tensor \"w\": shape [2,-1] has -1, which is not a non-negative integer");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                 "has 1.5, which is not a non-negative integer");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1e2],"data_offsets":[0,400]}})", 400),
                 "which is not a non-negative integer");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,4]}})", 4),
                 "which is not a non-negative integer");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[null],"data_offsets":[0,4]}})", 4), "has null, which is not");
}

TEST_CASE("safetensors: refuses offsets outside the buffer and byte counts that do not match") {
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8) ==
        "bad.safetensors: tensor \"w\": data_offsets [0, 16] run past the end of the data buffer (8 bytes)");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
                 "tensor \"w\": data_offsets [8, 4] begin after they end");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})", 8),
                 "run past the end of the data buffer");
  CHECK(refusal(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8) ==
        "bad.safetensors: tensor \"w\": shape [3] of F32 needs 12 bytes, but data_offsets [0, 8] hold 8");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,4]}})", 4),
                 "shape [2, 2] of BF16 needs 8 bytes");
  // 2^32 * 2^32 elements, and 2^62 elements of 8 bytes: both past 64 bits, neither may wrap to 0.
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
                 "tensor \"w\": shape [4294967296, 4294967296] of U8 needs more than 2^64 bytes");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
                 "needs more than 2^64 bytes");
  CHECK_CONTAINS(refusal(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,0],"data_offsets":[0,4]}})", 4),
                 "needs 0 bytes, but data_offsets [0, 4] hold 4");
}

TEST_CASE("safetensors: the tensors must cover the buffer exactly") {
  CHECK(refusal(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],)"
                R"("data_offsets":[4,12]}})",
                12) == "bad.safetensors: tensors \"a\" [0, 8] and \"b\" [4, 12] overlap");
  CHECK_CONTAINS(refusal(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],)"
                         R"("data_offsets":[0,8]}})",
                         8),
                 "overlap");
  CHECK_CONTAINS(refusal(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[0],)"
                         R"("data_offsets":[4,4]}})",
                         8),
                 "overlap");
  CHECK(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],)"
                R"("data_offsets":[8,12]}})",
                12) ==
        "bad.safetensors: bytes [4, 8) of the data buffer belong to no tensor (the tensors must cover the buffer "
        "without gaps)");
  CHECK_CONTAINS(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                 "bytes [0, 4) of the data buffer belong to no tensor");
  CHECK(refusal(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6) ==
        "bad.safetensors: 2 trailing bytes after the last tensor (the data buffer has 6 bytes, the tensors cover 4)");
  CHECK_CONTAINS(refusal("{}", 1), "1 trailing byte after the last tensor");
}

TEST_CASE("safetensors: refuses metadata that is not text") {
  CHECK(refusal(R"({"__metadata__":{"epochs":10}})", 0) ==
        "bad.safetensors: metadata entry \"epochs\" is 10, not a string");
  CHECK_CONTAINS(refusal(R"({"__metadata__":{"a":"b","c":null}})", 0), "metadata entry \"c\" is null");
  CHECK_CONTAINS(refusal(R"({"__metadata__":["a"]})", 0), "\"__metadata__\" is not a JSON object of strings");
}

TEST_CASE("safetensors: read names the file it cannot read") {
  const ScratchDir dir;
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(dir / "missing.safetensors"),
                       Contains("missing.safetensors: cannot open: No such file or directory"), SafetensorsError);
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(dir.path()), Contains(": not a regular file"), SafetensorsError);
  write_bytes(dir / "short.safetensors", bytes_of({1, 2, 3}));
  const std::string short_message = (dir / "short.safetensors").string() + ": truncated file: 3 bytes";
  CHECK_THROWS_WITH_AS(SafetensorsFile::read(dir / "short.safetensors"), Contains(short_message.c_str()),
                       SafetensorsError);
}

TEST_CASE("safetensors: the writer refuses tensors it cannot describe") {
  const std::vector<float> values{1, 2, 3};
  const auto refused = [](const std::vector<TensorToWrite>& tensors, std::map<std::string, std::string> metadata = {}) {
    try {
      ctnn::serialize_safetensors(tensors, metadata, "out.safetensors");
    } catch (const SafetensorsError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  CHECK(refused({{"x", "F32", {2}, raw(values)}}) ==
        "out.safetensors: tensor \"x\": shape [2] of F32 does not match its 12 bytes");
  CHECK_CONTAINS(refused({{"x", "F31", {3}, raw(values)}}), "tensor \"x\" has the unknown dtype \"F31\"");
  CHECK_CONTAINS(refused({{"x", "F32", {3}, raw(values)}, {"x", "F32", {3}, raw(values)}}), "\"x\" appears twice");
  CHECK_CONTAINS(refused({{"__metadata__", "F32", {3}, raw(values)}}), "the name is reserved");
  CHECK_CONTAINS(refused({{"bad \xFF name", "F32", {3}, raw(values)}}), "is not valid UTF-8");
  CHECK_CONTAINS(refused({}, {{"k", "\xC3"}}), "is not valid UTF-8");
  CHECK_CONTAINS(refused({{"x", "U8", {4294967296, 4294967296}, {}}}), "does not match its 0 bytes");
}

TEST_CASE("safetensors: a failed write leaves the old file and no temporary file") {
  const ScratchDir dir;
  const std::vector<float> old_values{1, 2};
  const std::vector<float> new_values{3, 4, 5};
  const auto target = dir / "model.safetensors";
  write_safetensors(target, std::vector<TensorToWrite>{{"x", "F32", {2}, raw(old_values)}}, {});
  const Bytes old_bytes = read_bytes(target);
  const std::vector<TensorToWrite> replacement{{"x", "F32", {3}, raw(new_values)}};

  SUBCASE("invalid tensors are refused before anything is written") {
    CHECK_THROWS_AS(write_safetensors(target, std::vector<TensorToWrite>{{"x", "F32", {4}, raw(new_values)}}, {}),
                    SafetensorsError);
  }
  SUBCASE("the data does not fit: write(2) fails half-way (file size limit)") {
    // Above the limit write(2) fails with EFBIG instead of raising SIGXFSZ, which is ignored here.
    const std::vector<float> large(4096, 1.0f);
    struct sigaction ignore {
    }, previous{};
    ignore.sa_handler = SIG_IGN;
    REQUIRE(::sigaction(SIGXFSZ, &ignore, &previous) == 0);
    rlimit limit{};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &limit) == 0);
    const rlimit saved = limit;
    limit.rlim_cur = 1000;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
    std::string message;
    try {
      write_safetensors(target, std::vector<TensorToWrite>{{"x", "F32", {4096}, raw(large)}}, {});
    } catch (const SafetensorsError& error) {
      message = error.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::sigaction(SIGXFSZ, &previous, nullptr);
    CHECK_CONTAINS(message, target.string() + ": cannot write the temporary file " + target.string() + ".tmp-");
    CHECK_CONTAINS(message, "File too large");
  }
  SUBCASE("the rename fails: a directory stands where the file goes") {
    const auto occupied = dir / "occupied";
    std::filesystem::create_directories(occupied / "inside");
    const std::string message = occupied.string() + ": cannot replace it with " + occupied.string() + ".tmp-";
    CHECK_THROWS_WITH_AS(write_safetensors(occupied, replacement, {}), Contains(message.c_str()), SafetensorsError);
    CHECK(std::filesystem::is_directory(occupied / "inside"));
  }
  SUBCASE("the folder does not exist") {
    const auto nowhere = dir / "no" / "such" / "folder.safetensors";
    const std::string message = nowhere.string() + ": cannot create the temporary file";
    CHECK_THROWS_WITH_AS(write_safetensors(nowhere, replacement, {}), Contains(message.c_str()), SafetensorsError);
    CHECK_FALSE(std::filesystem::exists(dir / "no"));
  }
  CHECK(read_bytes(target) == old_bytes);
  CHECK(temporary_files(dir).empty());

  // And a write that succeeds replaces the file whole.
  write_safetensors(target, replacement, {});
  CHECK(SafetensorsFile::read(target).at("x").shape == std::vector<std::uint64_t>{3});
  CHECK(temporary_files(dir).empty());
}
