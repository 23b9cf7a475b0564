// Stand-alone driver for idx_fuzz.cpp where libFuzzer is unavailable (g++): feeds the entry point
// the seed corpus, then deterministic mutations of it (bit flips, interesting 32-bit header
// values, truncation, splicing, appended and inserted bytes) and pure pseudo-random strings.
// Usage: idx_fuzz_driver [corpus folder] [runs]
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

void put_be32(Bytes& bytes, std::size_t at, std::uint32_t value) {
  for (std::size_t i = 0; i < 4 && at + i < bytes.size(); ++i)
    bytes[at + i] = static_cast<std::uint8_t>(value >> (24 - 8 * i));
}

Bytes idx(std::uint32_t magic, std::vector<std::uint32_t> dims, std::size_t payload) {
  Bytes bytes(4 + 4 * dims.size() + payload, 0x2a);
  put_be32(bytes, 0, magic);
  for (std::size_t i = 0; i < dims.size(); ++i) put_be32(bytes, 4 + 4 * i, dims[i]);
  return bytes;
}

Bytes gzip(const Bytes& raw) {
  z_stream stream{};
  deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&stream, static_cast<uLong>(raw.size())) + 32);
  stream.next_in = const_cast<Bytef*>(raw.data());
  stream.avail_in = static_cast<uInt>(raw.size());
  stream.next_out = out.data();
  stream.avail_out = static_cast<uInt>(out.size());
  deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

std::vector<Bytes> seeds(const char* folder) {
  std::vector<Bytes> result = {idx(0x803, {2, 3, 4}, 24), idx(0x801, {5}, 5), idx(0x803, {1, 28, 28}, 784),
                               idx(0x801, {0}, 0), Bytes{}};
  result.push_back(gzip(result[0]));
  result.push_back(gzip(result[1]));
  result.push_back(gzip(gzip(result[1])));
  if (folder && std::filesystem::is_directory(folder))
    for (const auto& entry : std::filesystem::directory_iterator(folder)) {
      std::ifstream file(entry.path(), std::ios::binary);
      result.emplace_back(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    }
  return result;
}

void mutate(Bytes& bytes, const std::vector<Bytes>& pool, Random& random) {
  static constexpr std::uint32_t interesting[] = {
      0, 1, 2, 28, 255, 256, 4096, 4097, 10'000'000, 10'000'001, 0x7fffffff, 0x80000000, 0xffffffff, 0x801, 0x803};
  switch (random.below(8)) {
    case 0:
      if (!bytes.empty()) bytes[random.below(bytes.size())] ^= static_cast<std::uint8_t>(1u << random.below(8));
      break;
    case 1:
      if (!bytes.empty()) bytes[random.below(bytes.size())] = static_cast<std::uint8_t>(random.next());
      break;
    case 2:
      put_be32(bytes, 4 * random.below(4), interesting[random.below(std::size(interesting))]);
      break;
    case 3:
      bytes.resize(random.below(bytes.size() + 1));
      break;
    case 4:
      for (std::size_t n = random.below(16) + 1; n; --n) bytes.push_back(static_cast<std::uint8_t>(random.next()));
      break;
    case 5: {
      const auto at = static_cast<std::ptrdiff_t>(random.below(bytes.size() + 1));
      bytes.insert(bytes.begin() + at, random.below(8) + 1, static_cast<std::uint8_t>(random.next()));
      break;
    }
    case 6: {
      const Bytes& other = pool[random.below(pool.size())];
      bytes.resize(random.below(bytes.size() + 1));
      const auto from = static_cast<std::ptrdiff_t>(random.below(other.size() + 1));
      bytes.insert(bytes.end(), other.begin() + from, other.end());
      break;
    }
    default:
      if (bytes.size() > 8) bytes.erase(bytes.begin() + static_cast<std::ptrdiff_t>(random.below(bytes.size() - 4)));
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
    if (run % 10 == 9) {
      bytes.resize(random.below(64));
      for (auto& byte : bytes) byte = static_cast<std::uint8_t>(random.next());
      if (run % 20 == 9 && bytes.size() >= 4) put_be32(bytes, 0, random.below(2) ? 0x803 : 0x801);
    } else {
      bytes = pool[random.below(pool.size())];
      for (std::size_t n = random.below(4) + 1; n; --n) mutate(bytes, pool, random);
    }
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::printf("idx_fuzz_driver: %zu seeds and %ld generated inputs, no crash\n", pool.size(), runs);
  return 0;
}
