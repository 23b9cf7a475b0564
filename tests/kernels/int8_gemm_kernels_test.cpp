// kernels/int8_gemm.hpp: the packed int8 matrix product against int8_gemm_reference, bit for bit,
// with both epilogues (requantized codes, float logits), on row counts around the register
// blocks (1, primes, 24 +- 1), output counts around the 16-column packing and the SIMD widths
// (1, 5, 15, 16, 17, 31, 33, 64 + 1, two column blocks of 4 vectors and more), and depths that
// are not multiples of 4 (1, 3, 5, 97, 289). Every path this build compiles runs: the dot product
// written in xsimd int32 arithmetic (on the default architecture and on SSE2's 4 lanes) and, in
// an AVX512-VNNI build, the vpdpbusd one. Extreme codes (0, 255, -127, 127) are forced into
// every case, and outputs are written between guard bytes with rows wider than the matrix.
// int8_gemm_max_pool, which pools groups of rows before the epilogue, is checked against the
// reference followed by max pooling of its outputs (equal because the epilogues are monotone).
// g++ 12 with AVX-512 (-march=native) warns inside its own avx512fintrin.h (`__Y` of
// _mm512_undefined_ps "is used uninitialized", GCC PR 105593) when xsimd's conversions inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/kernels/int8_gemm.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

template <std::size_t Rows, std::size_t Outputs, std::size_t Depth, std::size_t RowPadding = 0>
struct Int8Case {
  static constexpr std::size_t rows = Rows, outputs = Outputs, depth = Depth;
  static constexpr std::size_t lda = kernels::int8_padded_depth(Depth) + RowPadding;  // a row's bytes
  static constexpr std::size_t ldy = Outputs + 3;                                     // 3 columns it must not touch
};

using One = Int8Case<1, 1, 1>;
using Small = Int8Case<3, 5, 3, 5>;
using BelowBlock = Int8Case<7, 15, 5>;
using Block = Int8Case<13, 16, 97, 3>;
using AboveBlock = Int8Case<25, 17, 9>;
using TwoVectorsPlus = Int8Case<23, 33, 289>;
using ThirtyOne = Int8Case<2, 31, 12>;
using FourVectorsPlus = Int8Case<11, 65, 64>;
using TwoColumnBlocks = Int8Case<6, 130, 100, 1>;
using BestConv2 = Int8Case<48, 32, 288>;
using BestDense = Int8Case<29, 256, 1024>;
using Logits = Int8Case<32, 10, 256>;

TYPE_TO_STRING_AS("1x1x1", One);
TYPE_TO_STRING_AS("3x5x3 wide rows", Small);
TYPE_TO_STRING_AS("7x15x5", BelowBlock);
TYPE_TO_STRING_AS("13x16x97 wide rows", Block);
TYPE_TO_STRING_AS("25x17x9", AboveBlock);
TYPE_TO_STRING_AS("23x33x289", TwoVectorsPlus);
TYPE_TO_STRING_AS("2x31x12", ThirtyOne);
TYPE_TO_STRING_AS("11x65x64", FourVectorsPlus);
TYPE_TO_STRING_AS("6x130x100 two column blocks", TwoColumnBlocks);
TYPE_TO_STRING_AS("48x32x288 best net conv2", BestConv2);
TYPE_TO_STRING_AS("29x256x1024 best net dense", BestDense);
TYPE_TO_STRING_AS("32x10x256 logits", Logits);

using Int8Cases = std::tuple<One, Small, BelowBlock, Block, AboveBlock, TwoVectorsPlus, ThirtyOne, FourVectorsPlus,
                             TwoColumnBlocks, BestConv2, BestDense, Logits>;

namespace {

constexpr std::uint8_t guard_byte = 0xa5;
constexpr std::size_t guard = 64;

// Random operands for one case: A's rows hold random bytes past the depth too (the packed
// weights are zero there, so they must not matter); the first row and column take the extremes.
template <class Case>
struct Operands {
  std::vector<std::uint8_t> a;
  std::vector<std::int8_t> w;  // (outputs, depth) row-major
  std::vector<std::int32_t> packed, offset;
  std::vector<float> multiplier;

  explicit Operands(std::uint64_t seed)
      : a(Case::rows * Case::lda),
        w(Case::outputs * Case::depth),
        packed(kernels::int8_packed_words(Case::outputs, Case::depth)),
        offset(kernels::int8_padded_outputs(Case::outputs)),
        multiplier(kernels::int8_padded_outputs(Case::outputs)) {
    ctnn::Rng rng(seed);
    for (auto& value : a) value = static_cast<std::uint8_t>(rng.below(256));
    for (auto& value : w) value = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
    for (std::size_t k = 0; k < Case::depth; ++k) a[k] = 255;
    for (std::size_t k = 0; k < Case::depth; ++k) w[k] = static_cast<std::int8_t>(k % 2 ? -127 : 127);
    if (Case::rows > 1) a[Case::lda] = 0;
    kernels::pack_int8_weights(Case::outputs, Case::depth, w.data(), Case::depth, packed.data());
    // Outputs spread over the codes: a sum of `depth` products of spread 127 x 255 / 3.
    const float spread = 127.0f * 255.0f / 3.0f * std::sqrt(static_cast<float>(Case::depth));
    for (std::size_t n = 0; n < Case::outputs; ++n) {
      offset[n] = static_cast<std::int32_t>(rng.below(4001)) - 2000;
      multiplier[n] = rng.uniform(20.0f, 80.0f) / spread;
    }
  }
  kernels::Int8Weights weights() const { return {packed.data(), Case::outputs, Case::depth}; }
};

// An output buffer of rows x ldy values between guards, every value set to `fill`.
template <class Value>
std::vector<Value> guarded_output(std::size_t rows, std::size_t ldy, Value fill) {
  return std::vector<Value>(guard + rows * ldy + guard, fill);
}

template <class Value>
void check_equal(const std::vector<Value>& fast, const std::vector<Value>& reference) {
  REQUIRE(fast.size() == reference.size());
  std::size_t mismatches = 0, first = 0;
  for (std::size_t i = 0; i < fast.size(); ++i)
    if (std::memcmp(&fast[i], &reference[i], sizeof(Value)) != 0 && mismatches++ == 0) first = i;
  CAPTURE(first);
  CHECK_MESSAGE(mismatches == 0, mismatches << " of " << fast.size() << " values (guards and padding included) differ");
}

// Runs `gemm` (one path) and the reference with both epilogues and compares them bit for bit;
// the reference writes the same guarded buffers, so guards and row padding are compared too.
template <class Case, class Gemm>
void check_path(const Operands<Case>& operands, Gemm gemm) {
  const kernels::Int8Weights w = operands.weights();
  for (const bool relu : {false, true}) {
    CAPTURE(relu);
    const kernels::Requantize requantize{operands.offset.data(), operands.multiplier.data(), 100, relu ? 100 : 0};
    auto codes = guarded_output<std::uint8_t>(Case::rows, Case::ldy, guard_byte);
    auto expected_codes = codes;
    gemm(Case::rows, operands.a.data(), Case::lda, w, requantize, codes.data() + guard, Case::ldy);
    kernels::int8_gemm_reference(Case::rows, operands.a.data(), Case::lda, w, requantize, expected_codes.data() + guard,
                                 Case::ldy);
    check_equal(codes, expected_codes);

    const kernels::Dequantize dequantize{operands.offset.data(), operands.multiplier.data(), relu};
    auto logits = guarded_output<float>(Case::rows, Case::ldy, std::numeric_limits<float>::quiet_NaN());
    auto expected_logits = logits;
    gemm(Case::rows, operands.a.data(), Case::lda, w, dequantize, logits.data() + guard, Case::ldy);
    kernels::int8_gemm_reference(Case::rows, operands.a.data(), Case::lda, w, dequantize,
                                 expected_logits.data() + guard, Case::ldy);
    check_equal(logits, expected_logits);
  }
}

}  // namespace

TEST_CASE("kernel int8_gemm: the packed weights read back, zero past the matrix") {
  using Case = TwoVectorsPlus;
  const Operands<Case> operands(5);
  const kernels::Int8Weights w = operands.weights();
  for (std::size_t n = 0; n < Case::outputs; ++n)
    for (std::size_t k = 0; k < Case::depth; ++k) REQUIRE(w(n, k) == operands.w[n * Case::depth + k]);
  for (std::size_t n = 0; n < w.padded_outputs(); ++n)
    for (std::size_t k = 0; k < kernels::int8_padded_depth(Case::depth); ++k)
      if (n >= Case::outputs || k >= Case::depth) REQUIRE(w(n, k) == 0);
}

TEST_CASE("kernel int8_gemm: the reference gives hand-computed values") {
  // a = [255 1 0 2 | 3], w = [[127 -127 5 0 | 1], [-1 2 3 4 | -127]]: sums 32261 and -626.
  const std::vector<std::uint8_t> a{255, 1, 0, 2, 3, 0, 0, 0};
  const std::vector<std::int8_t> w{127, -127, 5, 0, 1, -1, 2, 3, 4, -127};
  std::vector<std::int32_t> packed(kernels::int8_packed_words(2, 5));
  kernels::pack_int8_weights(2, 5, w.data(), 5, packed.data());
  std::vector<std::int32_t> offset(16, 0);
  offset[1] = 626;
  std::vector<float> multiplier(16, 0.0f);
  multiplier[0] = 0.001f;
  multiplier[1] = 1.0f;
  std::array<float, 2> logits{};
  kernels::int8_gemm_reference(1, a.data(), 8, {packed.data(), 2, 5},
                               kernels::Dequantize{offset.data(), multiplier.data(), false}, logits.data(), 2);
  CHECK(logits[0] == doctest::Approx(32.261));
  CHECK(logits[1] == 0.0f);
  std::array<std::uint8_t, 2> codes{};
  kernels::int8_gemm_reference(1, a.data(), 8, {packed.data(), 2, 5},
                               kernels::Requantize{offset.data(), multiplier.data(), 10, 0}, codes.data(), 2);
  CHECK(codes[0] == 42);  // nearbyint(32.261) + 10
  CHECK(codes[1] == 10);
}

TEST_CASE_TEMPLATE_DEFINE("kernel int8_gemm: every compiled path equals the reference bit for bit", Case, int8_gemm) {
  const Operands<Case> operands(ctnn::derive_seed(811, (Case::rows * 1'009 + Case::outputs) * 1'013 + Case::depth));
  SUBCASE("xsimd int32 arithmetic, default architecture") {
    check_path(operands, [](auto&&... arguments) { kernels::int8_gemm<xsimd::default_arch, false>(arguments...); });
  }
#if XSIMD_WITH_SSE2
  SUBCASE("xsimd int32 arithmetic, SSE2 (4 lanes)") {
    check_path(operands, [](auto&&... arguments) { kernels::int8_gemm<xsimd::sse2, false>(arguments...); });
  }
#endif
  if constexpr (kernels::has_vnni<xsimd::default_arch>) {
    SUBCASE("AVX512-VNNI vpdpbusd") {
      check_path(operands, [](auto&&... arguments) { kernels::int8_gemm<xsimd::default_arch, true>(arguments...); });
    }
  }
}
TEST_CASE_TEMPLATE_APPLY(int8_gemm, Int8Cases);

template <std::size_t Pool, std::size_t Groups, std::size_t Outputs, std::size_t Depth>
struct PooledCase : Int8Case<Pool * Groups, Outputs, Depth> {
  static constexpr std::size_t pool = Pool, groups = Groups;
};

using PoolOneGroup = PooledCase<4, 1, 6, 25>;
using PoolLeNetConv1 = PooledCase<4, 144, 6, 25>;
using PoolBestConv2 = PooledCase<4, 29, 32, 288>;
using PoolFourVectors = PooledCase<4, 7, 64, 36>;
using PoolWindow3 = PooledCase<9, 5, 17, 27>;
using PoolWindow3Wide = PooledCase<9, 3, 40, 9>;

TYPE_TO_STRING_AS("pool 4, 1 group, 6x25", PoolOneGroup);
TYPE_TO_STRING_AS("pool 4, 144 groups, 6x25 LeNet conv1", PoolLeNetConv1);
TYPE_TO_STRING_AS("pool 4, 29 groups, 32x288 best net conv2", PoolBestConv2);
TYPE_TO_STRING_AS("pool 4, 7 groups, 64x36", PoolFourVectors);
TYPE_TO_STRING_AS("pool 9, 5 groups, 17x27", PoolWindow3);
TYPE_TO_STRING_AS("pool 9, 3 groups, 40x9", PoolWindow3Wide);

using PooledCases =
    std::tuple<PoolOneGroup, PoolLeNetConv1, PoolBestConv2, PoolFourVectors, PoolWindow3, PoolWindow3Wide>;

TEST_CASE_TEMPLATE_DEFINE("kernel int8_gemm_max_pool: equals the reference's outputs max-pooled, bit for bit", Case,
                          int8_gemm_pool) {
  const Operands<Case> operands(ctnn::derive_seed(823, Case::pool * 1'000 + Case::groups));
  const kernels::Int8Weights w = operands.weights();
  const kernels::Requantize requantize{operands.offset.data(), operands.multiplier.data(), 60, 60};
  auto all_rows = guarded_output<std::uint8_t>(Case::rows, Case::ldy, guard_byte);
  kernels::int8_gemm_reference(Case::rows, operands.a.data(), Case::lda, w, requantize, all_rows.data() + guard,
                               Case::ldy);
  auto expected = guarded_output<std::uint8_t>(Case::groups, Case::ldy, guard_byte);
  for (std::size_t group = 0; group < Case::groups; ++group)
    for (std::size_t n = 0; n < Case::outputs; ++n) {
      std::uint8_t best = 0;
      for (std::size_t r = 0; r < Case::pool; ++r)
        best = std::max(best, all_rows[guard + (group * Case::pool + r) * Case::ldy + n]);
      expected[guard + group * Case::ldy + n] = best;
    }
  const auto check = [&](auto gemm) {
    auto pooled = guarded_output<std::uint8_t>(Case::groups, Case::ldy, guard_byte);
    gemm(Case::rows, operands.a.data(), Case::lda, w, requantize, pooled.data() + guard, Case::ldy);
    check_equal(pooled, expected);
  };
  SUBCASE("xsimd int32 arithmetic") {
    check(
        [](auto&&... arguments) { kernels::int8_gemm_max_pool<Case::pool, xsimd::default_arch, false>(arguments...); });
  }
  if constexpr (kernels::has_vnni<xsimd::default_arch>) {
    SUBCASE("AVX512-VNNI vpdpbusd") {
      check([](auto&&... arguments) {
        kernels::int8_gemm_max_pool<Case::pool, xsimd::default_arch, true>(arguments...);
      });
    }
  }
}
TEST_CASE_TEMPLATE_APPLY(int8_gemm_pool, PooledCases);
