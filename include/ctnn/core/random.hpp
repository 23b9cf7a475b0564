// Rng: a small, portable random generator (xoshiro256**, seeded by splitmix64).
// The standard distributions differ between standard libraries, so ctnn draws its own
// uniform and normal numbers: the same seed gives the same weights with g++ and clang.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace ctnn {

// One splitmix64 step: a good 64-bit mix, also used to derive independent seeds.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A seed for stream `stream` derived from `seed`: streams of one seed are independent.
constexpr std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) noexcept {
  return splitmix64(seed ^ splitmix64(stream + 0x632BE59BD9B4E019ull));
}

class Rng {
 public:
  using result_type = std::uint64_t;

  explicit Rng(std::uint64_t seed = 0) noexcept { reseed(seed); }

  void reseed(std::uint64_t seed) noexcept {
    for (auto& word : state_) word = seed = splitmix64(seed);
  }

  static constexpr result_type min() noexcept { return 0; }
  static constexpr result_type max() noexcept { return ~result_type{0}; }

  result_type operator()() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1), 24 random bits: exactly representable as float.
  float uniform() noexcept { return static_cast<float>((*this)() >> 40) * 0x1.0p-24f; }
  float uniform(float low, float high) noexcept { return low + (high - low) * uniform(); }

  // Uniform integer in [0, n), without modulo bias worth mentioning for n far below 2^64.
  std::uint64_t below(std::uint64_t n) noexcept {
    __extension__ typedef unsigned __int128 wide;
    return static_cast<std::uint64_t>((static_cast<wide>((*this)()) * n) >> 64);
  }

  // Standard normal by Box-Muller, in double for accuracy in the tails.
  float normal() noexcept {
    const double u1 = (static_cast<double>((*this)() >> 11) + 1.0) * 0x1.0p-53;
    const double u2 = static_cast<double>((*this)() >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
  }
  float normal(float mean, float stddev) noexcept { return mean + stddev * normal(); }

  // The whole state, for checkpoints that resume bit for bit.
  const std::uint64_t* state() const noexcept { return state_; }
  void set_state(const std::uint64_t (&state)[4]) noexcept {
    for (int i = 0; i < 4; ++i) state_[i] = state[i];
  }

 private:
  static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t state_[4]{};
};

}  // namespace ctnn
