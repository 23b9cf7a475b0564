// Stand-alone driver for safetensors_fuzz.cpp where libFuzzer is unavailable (g++): feeds the
// entry point the seed corpus, then deterministic mutations of it. Besides blind byte mutations
// (flips, truncation, insertion, splicing, a rewritten header length) it edits the JSON header as
// text and then fixes the length prefix, so that mutants reach the validation past the JSON
// parser: numbers swapped for interesting ones (negative, fractional, 2^64, huge products),
// dtypes swapped, keys renamed, structure characters inserted or removed.
// Usage: safetensors_driver [corpus folder] [runs]
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using Bytes = std::vector<std::uint8_t>;

class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t x = state_ += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
  }
  std::size_t below(std::size_t bound) { return bound ? static_cast<std::size_t>(next() % bound) : 0; }

 private:
  std::uint64_t state_;
};

void put_le64(Bytes& bytes, std::size_t at, std::uint64_t value) {
  for (std::size_t i = 0; i < 8 && at + i < bytes.size(); ++i)
    bytes[at + i] = static_cast<std::uint8_t>(value >> (8 * i));
}

std::uint64_t get_le64(const Bytes& bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < 8 && i < bytes.size(); ++i) value |= std::uint64_t{bytes[i]} << (8 * i);
  return value;
}

Bytes file(const std::string& header, std::size_t buffer_size) {
  Bytes bytes(8);
  put_le64(bytes, 0, header.size());
  bytes.insert(bytes.end(), header.begin(), header.end());
  for (std::size_t i = 0; i < buffer_size; ++i) bytes.push_back(static_cast<std::uint8_t>(i * 37 + 1));
  return bytes;
}

std::vector<Bytes> seeds(const char* folder) {
  std::vector<Bytes> result = {
      file("{}", 0),
      file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})", 16),
      file(R"({"__metadata__":{"format":"ctnn-model","format_version":"1"},)"
           R"("layers.0.param0":{"dtype":"F32","shape":[2,1,3,3],"data_offsets":[0,72]},)"
           R"("layers.0.param1":{"dtype":"F32","shape":[2],"data_offsets":[72,80]}})",
           80),
      file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I16","shape":[3],)"
           R"("data_offsets":[0,6]},"c":{"dtype":"BF16","shape":[],"data_offsets":[6,8]}}      )",
           8),
      file(R"({"x":{"dtype":"F64","shape":[1,1,1],"data_offsets":[0,8]},"y":{"dtype":"BOOL","shape":[5],)"
           R"("data_offsets":[8,13]}})",
           13),
      Bytes{}};
  if (folder && std::filesystem::is_directory(folder))
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      std::ifstream in(entry.path(), std::ios::binary);
      result.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
  return result;
}

// Edits the header as text and rewrites the length prefix to match.
void mutate_header(Bytes& bytes, Random& random) {
  static const char* const numbers[] = {"0",
                                        "1",
                                        "-1",
                                        "2",
                                        "3",
                                        "4",
                                        "8",
                                        "16",
                                        "-0",
                                        "1.5",
                                        "1e3",
                                        "1e400",
                                        "4294967296",
                                        "9223372036854775807",
                                        "18446744073709551615",
                                        "18446744073709551616",
                                        "null",
                                        "\"4\"",
                                        "[]",
                                        "{}"};
  static const char* const words[] = {
      "\"F32\"",          "\"F16\"",   "\"BF16\"", "\"F64\"", "\"I8\"",    "\"U8\"",    "\"BOOL\"",
      "\"I64\"",          "\"F4\"",    "\"f32\"",  "\"\"",    "\"dtype\"", "\"shape\"", "\"data_offsets\"",
      "\"__metadata__\"", "\"extra\"", "1",        "true",    "[0,0]",     "{\"k\":1}"};
  static const char structure[] = {'{', '}', '[', ']', ',', ':', '"', ' ', '\\', '\0'};
  if (bytes.size() < 8) return;
  const std::uint64_t declared = get_le64(bytes);
  const std::size_t length = declared <= bytes.size() - 8 ? static_cast<std::size_t>(declared) : bytes.size() - 8;
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(length));
  Bytes buffer(bytes.begin() + 8 + static_cast<std::ptrdiff_t>(length), bytes.end());

  switch (random.below(5)) {
    case 0: {  // replace a run of digits
      std::vector<std::size_t> starts;
      for (std::size_t i = 0; i < header.size(); ++i)
        if (std::isdigit(static_cast<unsigned char>(header[i])) &&
            (i == 0 || !std::isdigit(static_cast<unsigned char>(header[i - 1]))))
          starts.push_back(i);
      if (starts.empty()) break;
      const std::size_t at = starts[random.below(starts.size())];
      std::size_t end = at;
      while (end < header.size() && std::isdigit(static_cast<unsigned char>(header[end]))) ++end;
      header.replace(at, end - at, numbers[random.below(std::size(numbers))]);
      break;
    }
    case 1: {  // replace a quoted string
      std::vector<std::size_t> quotes;
      for (std::size_t i = 0; i < header.size(); ++i)
        if (header[i] == '"') quotes.push_back(i);
      if (quotes.size() < 2) break;
      const std::size_t pick = random.below(quotes.size() - 1);
      header.replace(quotes[pick], quotes[pick + 1] - quotes[pick] + 1, words[random.below(std::size(words))]);
      break;
    }
    case 2:  // insert a structural character
      header.insert(header.begin() + static_cast<std::ptrdiff_t>(random.below(header.size() + 1)),
                    structure[random.below(std::size(structure))]);
      break;
    case 3:  // delete a character
      if (!header.empty()) header.erase(header.begin() + static_cast<std::ptrdiff_t>(random.below(header.size())));
      break;
    default:  // grow or shrink the buffer
      if (random.below(2) && !buffer.empty())
        buffer.pop_back();
      else
        buffer.push_back(static_cast<std::uint8_t>(random.next()));
      break;
  }
  bytes.assign(8, 0);
  put_le64(bytes, 0, header.size());
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), buffer.begin(), buffer.end());
}

void mutate(Bytes& bytes, const std::vector<Bytes>& pool, Random& random) {
  static constexpr std::uint64_t lengths[] = {
      0, 1, 2, 7, 8, 100'000'000, 100'000'001, 0xFFFFFFFFull, 0x7FFFFFFFFFFFFFFFull, 0xFFFFFFFFFFFFFFFFull};
  switch (random.below(10)) {
    case 0:
      if (!bytes.empty()) bytes[random.below(bytes.size())] ^= static_cast<std::uint8_t>(1u << random.below(8));
      break;
    case 1:
      if (!bytes.empty()) bytes[random.below(bytes.size())] = static_cast<std::uint8_t>(random.next());
      break;
    case 2:
      if (random.below(2))
        put_le64(bytes, 0, lengths[random.below(std::size(lengths))]);
      else
        put_le64(bytes, 0, get_le64(bytes) + random.below(5) - 2);
      break;
    case 3:
      bytes.resize(random.below(bytes.size() + 1));
      break;
    case 4:
      for (std::size_t n = random.below(16) + 1; n; --n) bytes.push_back(static_cast<std::uint8_t>(random.next()));
      break;
    case 5: {
      const Bytes& other = pool[random.below(pool.size())];
      bytes.resize(random.below(bytes.size() + 1));
      const auto from = static_cast<std::ptrdiff_t>(random.below(other.size() + 1));
      bytes.insert(bytes.end(), other.begin() + from, other.end());
      break;
    }
    default:
      mutate_header(bytes, random);
      break;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<Bytes> pool = seeds(argc > 1 ? argv[1] : nullptr);
  const long runs = argc > 2 ? std::atol(argv[2]) : 5000;
  Random random(20240601);
  for (const auto& seed : pool) LLVMFuzzerTestOneInput(seed.data(), seed.size());
  for (long run = 0; run < runs; ++run) {
    Bytes bytes;
    if (run % 20 == 19) {
      bytes.resize(random.below(64));
      for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random.next());
    } else {
      bytes = pool[random.below(pool.size())];
      for (std::size_t n = random.below(4) + 1; n; --n) mutate(bytes, pool, random);
    }
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("safetensors_driver: %zu seeds and %ld generated inputs, no crash\n", pool.size(), runs);
  return 0;
}
