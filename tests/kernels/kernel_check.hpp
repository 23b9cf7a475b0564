// Helpers for the kernel-against-reference tests: guarded buffers filled from a seeded Rng, and
// comparisons that name the worst element.
//
// Tolerances, from the strictest:
// - Bit for bit, where the fast kernel performs the same operations in the same order as the
//   reference: max pool forward and backward routing, relu, leaky relu, the dense bias gradient.
// - Sums of L terms (dot products, convolutions, axpy, averages): both flavours compute the same
//   sum of the same products, only the order and the fusing (FMA) differ. Any evaluation order of a
//   sum of L products satisfies |computed - exact| <= gamma(L) * sum_i |term_i| with
//   gamma(L) = L u / (1 - L u) and u = 2^-24 (Higham, "Accuracy and Stability of Numerical
//   Algorithms", 2nd ed., chapters 3 and 4). So |fast - reference| <= 2 gamma(L) * magnitude, where
//   the magnitude sum_i |term_i| of each output is computed by running the reference on the absolute
//   values of its inputs. A relative error against the result alone would fail on honest
//   cancellation, and one scaled loosely by L would hide a lost term.
// - Transcendentals (tanh, the exp in sigmoid): xsimd's polynomials are not the C library's, so
//   these are compared in units in the last place, with the bound stated where it is used.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <ostream>
#include <span>
#include <tuple>
#include <vector>

#include <xsimd/xsimd.hpp>

#include <ctnn/core/random.hpp>

namespace ctnn::test {

// The float lane count of the architecture the kernels were compiled for (4 for SSE, 8 for AVX2,
// 16 for AVX-512): the awkward sizes are chosen around it.
inline constexpr std::size_t width = xsimd::batch<float>::size;

// A float buffer of n values between guards of sentinel NaNs. A kernel that writes out of bounds
// changes a guard; one that reads out of bounds pulls a NaN into its result. `misalign` shifts the
// data by that many floats from a 64-byte boundary, to prove that unaligned pointers work.
class Guarded {
 public:
  static constexpr std::size_t guard = 16;
  static constexpr std::uint32_t sentinel_bits = 0x7fc0dead;

  explicit Guarded(std::size_t n, std::size_t misalign = 0)
      : size_(n), front_(guard + misalign), storage_(front_ + n + guard, std::bit_cast<float>(sentinel_bits)) {}

  float* data() noexcept { return storage_.data() + front_; }
  const float* data() const noexcept { return storage_.data() + front_; }
  std::size_t size() const noexcept { return size_; }
  std::span<float> span() noexcept { return {data(), size_}; }
  std::span<const float> span() const noexcept { return {data(), size_}; }
  float& operator[](std::size_t i) noexcept { return data()[i]; }
  float operator[](std::size_t i) const noexcept { return data()[i]; }

  // True when every float outside the data still holds the sentinel.
  bool guards_intact() const noexcept {
    for (std::size_t i = 0; i < storage_.size(); ++i) {
      if (i >= front_ && i < front_ + size_) continue;
      if (std::bit_cast<std::uint32_t>(storage_[i]) != sentinel_bits) return false;
    }
    return true;
  }

 private:
  std::size_t size_, front_;
  std::vector<float, xsimd::aligned_allocator<float, 64>> storage_;
};

// n values uniform in [low, high), the same on every compiler for a given seed.
inline Guarded random_buffer(std::size_t n, std::uint64_t seed, float low = -1.0f, float high = 1.0f,
                             std::size_t misalign = 0) {
  Guarded buffer(n, misalign);
  Rng rng(seed);
  for (float& value : buffer.span()) value = rng.uniform(low, high);
  return buffer;
}

inline Guarded zeros(std::size_t n, std::size_t misalign = 0) {
  Guarded buffer(n, misalign);
  std::ranges::fill(buffer.span(), 0.0f);
  return buffer;
}

// Sets each value to exactly zero with probability `fraction`, as a ReLU leaves its output.
inline void zero_some(Guarded& buffer, double fraction, std::uint64_t seed) {
  Rng rng(seed);
  for (float& value : buffer.span())
    if (rng.uniform() < fraction) value = 0.0f;
}

// A copy with every data value replaced by its absolute value (the guards stay NaN).
inline Guarded absolute(const Guarded& buffer, std::size_t misalign = 0) {
  Guarded result(buffer.size(), misalign);
  for (std::size_t i = 0; i < buffer.size(); ++i) result[i] = std::fabs(buffer[i]);
  return result;
}

inline Guarded copy_of(const Guarded& buffer, std::size_t misalign = 0) {
  Guarded result(buffer.size(), misalign);
  const auto source = buffer.span();
  std::copy(source.begin(), source.end(), result.span().begin());
  return result;
}

// The worst element of a comparison, printed in a failing check's message.
struct Worst {
  const char* unit = "";
  std::size_t index = 0;
  float actual = 0, expected = 0;
  double magnitude = 0;  // sum of |terms| for the relative error; unused otherwise
  double error = 0;      // in `unit`; 0 when everything matches
  std::size_t mismatches = 0;
  std::size_t size = 0;
};

inline std::ostream& operator<<(std::ostream& out, const Worst& worst) {
  out.precision(9);
  out << "worst " << worst.unit << " " << worst.error << " at index " << worst.index << " of " << worst.size
      << ": fast " << worst.actual << " vs reference " << worst.expected;
  if (worst.magnitude != 0) out << " (sum of |terms| " << worst.magnitude << ")";
  if (worst.mismatches != 0) out << "; " << worst.mismatches << " elements differ in some bit";
  return out;
}

// gamma(L) = L u / (1 - L u): the relative bound on any evaluation order of a sum of L products.
inline double gamma(std::size_t terms) noexcept {
  const double unit_roundoff = std::numeric_limits<float>::epsilon() / 2;
  return static_cast<double>(terms) * unit_roundoff / (1 - static_cast<double>(terms) * unit_roundoff);
}
// The bound on |fast - reference| / sum |terms| when both evaluate the same sum of L terms.
inline double sum_tolerance(std::size_t terms) noexcept { return 2 * gamma(terms); }

// max_i |actual_i - expected_i| / magnitude_i, where magnitude_i is the sum of the absolute values
// of the terms that make up element i. A NaN, or any difference where the magnitude is 0, is an
// infinite error.
inline Worst max_relative_error(std::span<const float> actual, std::span<const float> expected,
                                std::span<const float> magnitude) {
  REQUIRE(actual.size() == expected.size());
  REQUIRE(magnitude.size() == expected.size());
  Worst worst{.unit = "|fast - reference| / sum|terms|", .size = expected.size()};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double difference = std::fabs(static_cast<double>(actual[i]) - static_cast<double>(expected[i]));
    double error = difference / magnitude[i];
    if (std::isnan(actual[i]) || std::isnan(expected[i])) {
      error = std::numeric_limits<double>::infinity();
    } else if (difference == 0) {
      error = 0;
    } else if (magnitude[i] == 0) {
      error = std::numeric_limits<double>::infinity();
    }
    if (error > 0) ++worst.mismatches;
    if (i == 0 || error > worst.error) {
      worst.index = i;
      worst.actual = actual[i];
      worst.expected = expected[i];
      worst.magnitude = magnitude[i];
      worst.error = error;
    }
  }
  return worst;
}

// The distance in units in the last place, with +0 and -0 equal; NaN is infinitely far.
inline double ulp_distance(float a, float b) noexcept {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::infinity();
  const auto ordered = [](float value) {
    const std::int64_t bits = std::bit_cast<std::int32_t>(value);
    return bits < 0 ? std::int64_t{std::numeric_limits<std::int32_t>::min()} - bits : bits;
  };
  return static_cast<double>(ordered(a) > ordered(b) ? ordered(a) - ordered(b) : ordered(b) - ordered(a));
}

inline Worst max_ulp_distance(std::span<const float> actual, std::span<const float> expected) {
  REQUIRE(actual.size() == expected.size());
  Worst worst{.unit = "ulp distance", .size = expected.size()};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double error = ulp_distance(actual[i], expected[i]);
    if (error > 0) ++worst.mismatches;
    if (i == 0 || error > worst.error) {
      worst.index = i;
      worst.actual = actual[i];
      worst.expected = expected[i];
      worst.error = error;
    }
  }
  return worst;
}

// Bit-for-bit comparison: `error` is the number of elements whose bits differ, `index` the first.
inline Worst bit_difference(std::span<const float> actual, std::span<const float> expected) {
  REQUIRE(actual.size() == expected.size());
  Worst worst{.unit = "differing elements", .size = expected.size()};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (std::bit_cast<std::uint32_t>(actual[i]) == std::bit_cast<std::uint32_t>(expected[i])) continue;
    if (worst.mismatches++ == 0) {
      worst.index = i;
      worst.actual = actual[i];
      worst.expected = expected[i];
    }
    worst.error = static_cast<double>(worst.mismatches);
  }
  worst.mismatches = 0;  // already reported as the error
  return worst;
}

// The columns beyond `columns` of each of `rows` rows of a row-major matrix with leading
// dimension ldc (padding a kernel must not write) still hold their starting bits.
inline void check_padding_untouched(const Guarded& actual, const Guarded& start, std::size_t rows, std::size_t columns,
                                    std::size_t ldc) {
  for (std::size_t row = 0; row < rows; ++row) {
    const std::size_t padding = ldc - columns;
    const auto untouched =
        bit_difference({actual.data() + row * ldc + columns, padding}, {start.data() + row * ldc + columns, padding});
    CAPTURE(row);
    CHECK_MESSAGE(untouched.error == 0, untouched);
  }
}

// Element counts for the one-dimensional kernels: 1, small primes, one below, at and one above one
// and two SIMD widths, the AVX-512 width's neighbours as literal numbers, and long runs. With
// Misalign = 1 the buffers start one float past a 64-byte boundary.
template <std::size_t N, std::size_t Misalign = 0>
struct Length {
  static constexpr std::size_t n = N, misalign = Misalign;
};
template <std::size_t Widths, int Plus, std::size_t Misalign = 0>
struct AroundWidth {
  static constexpr std::size_t n = static_cast<std::size_t>(static_cast<int>(Widths * width) + Plus);
  static constexpr std::size_t misalign = Misalign;
};

using AwkwardLengths = std::tuple<Length<1>, Length<2>, Length<3, 1>, Length<7>, AroundWidth<1, -1>, AroundWidth<1, 0>,
                                  AroundWidth<1, 1, 1>, AroundWidth<2, -1, 1>, AroundWidth<2, 1>, Length<15>,
                                  Length<16>, Length<17, 1>, Length<31>, Length<97, 1>, Length<1000>, Length<1000, 1>>;

}  // namespace ctnn::test

TYPE_TO_STRING_AS("n=1", ctnn::test::Length<1>);
TYPE_TO_STRING_AS("n=2", ctnn::test::Length<2>);
TYPE_TO_STRING_AS("n=3 unaligned", ctnn::test::Length<3, 1>);
TYPE_TO_STRING_AS("n=7", ctnn::test::Length<7>);
TYPE_TO_STRING_AS("n=W-1", ctnn::test::AroundWidth<1, -1>);
TYPE_TO_STRING_AS("n=W", ctnn::test::AroundWidth<1, 0>);
TYPE_TO_STRING_AS("n=W+1 unaligned", ctnn::test::AroundWidth<1, 1, 1>);
TYPE_TO_STRING_AS("n=2W-1 unaligned", ctnn::test::AroundWidth<2, -1, 1>);
TYPE_TO_STRING_AS("n=2W+1", ctnn::test::AroundWidth<2, 1>);
TYPE_TO_STRING_AS("n=15", ctnn::test::Length<15>);
TYPE_TO_STRING_AS("n=16", ctnn::test::Length<16>);
TYPE_TO_STRING_AS("n=17 unaligned", ctnn::test::Length<17, 1>);
TYPE_TO_STRING_AS("n=31", ctnn::test::Length<31>);
TYPE_TO_STRING_AS("n=97 unaligned", ctnn::test::Length<97, 1>);
TYPE_TO_STRING_AS("n=1000", ctnn::test::Length<1000>);
TYPE_TO_STRING_AS("n=1000 unaligned", ctnn::test::Length<1000, 1>);
