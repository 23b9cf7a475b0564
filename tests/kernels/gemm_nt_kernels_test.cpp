// kernels/gemm.hpp, the dot-product form C += A B^T: gemm_nt against gemm_nt_reference with row
// counts around its 4-row block and the single-row path, B row counts around its 4- and 8-row
// blocks, depths around one SIMD width (the lane-sum tail), leading dimensions wider than the
// rows, and the products the dense layers and convolution weight gradients hand it.
#include <doctest/doctest.h>

#include <array>

#include <ctnn/kernels/gemm.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

// C is (Rows,Columns) with leading dimension Columns + CExtra; A is (Rows,Depth) and B is
// (Columns,Depth), both with leading dimension Depth + Extra.
template <std::size_t Rows, std::size_t Columns, std::size_t Depth, std::size_t Extra = 0, std::size_t CExtra = 0,
          std::size_t Misalign = 0>
struct GemmNtCase {
  static constexpr std::size_t rows = Rows, columns = Columns, depth = Depth;
  static constexpr std::size_t ld = Depth + Extra, ldc = Columns + CExtra, misalign = Misalign;
};

using Tiny = GemmNtCase<1, 1, 1>;
using OneImage = GemmNtCase<1, 120, 1024>;  // LeNet fc1 on one image
using OneImageOdd = GemmNtCase<1, 13, 2 * test::width + 3, 1, 2, 1>;
using Block = GemmNtCase<4, 4, test::width>;
using BlockPlus = GemmNtCase<5, 9, test::width + 1, 3, 1, 1>;
using BelowWidth = GemmNtCase<7, 3, test::width - 1, 0, 4>;
using DenseChunk = GemmNtCase<32, 120, 1024>;       // LeNet fc1 on a chunk of 32 images
using DenseOutput = GemmNtCase<31, 10, 120, 0, 6>;  // fc2, an odd image count
using ConvWeights = GemmNtCase<6, 25, 576>;         // LeNet conv1 weight gradient: filters x taps x plane
using Prime = GemmNtCase<11, 13, 97, 5, 3, 1>;

TYPE_TO_STRING_AS("1x1x1", Tiny);
TYPE_TO_STRING_AS("1x120x1024 one image", OneImage);
TYPE_TO_STRING_AS("1x13x(2W+3) one image unaligned", OneImageOdd);
TYPE_TO_STRING_AS("4x4xW one block", Block);
TYPE_TO_STRING_AS("5x9x(W+1) wide ld unaligned", BlockPlus);
TYPE_TO_STRING_AS("7x3x(W-1) wide ldc", BelowWidth);
TYPE_TO_STRING_AS("32x120x1024 dense chunk", DenseChunk);
TYPE_TO_STRING_AS("31x10x120 dense output layer", DenseOutput);
TYPE_TO_STRING_AS("6x25x576 conv weight gradient", ConvWeights);
TYPE_TO_STRING_AS("11x13x97 primes", Prime);

using GemmNtCases =
    std::tuple<Tiny, OneImage, OneImageOdd, Block, BlockPlus, BelowWidth, DenseChunk, DenseOutput, ConvWeights, Prime>;

TEST_CASE("kernel gemm_nt: the reference gives hand-computed values") {
  // C = [1 1; 1 1] += [1 2 3; 4 5 6] [1 0 1; 0 1 -1]^T
  const std::array<float, 6> a{1, 2, 3, 4, 5, 6}, b{1, 0, 1, 0, 1, -1};
  std::array<float, 4> c{1, 1, 1, 1}, fast{1, 1, 1, 1};
  kernels::gemm_nt_reference(2, 2, 3, a.data(), 3, b.data(), 3, c.data(), 2);
  kernels::gemm_nt(2, 2, 3, a.data(), 3, b.data(), 3, fast.data(), 2);
  CHECK(c == std::array<float, 4>{5, 0, 11, 0});
  CHECK(fast == c);
}

// Each C element is its start value plus a dot product of `depth` terms: 2 gamma(depth + 1)
// relative to |C| + sum |A B|. C's columns beyond `columns` (up to ldc) must keep their bits.
TEST_CASE_TEMPLATE_DEFINE("kernel gemm_nt: gemm_nt matches gemm_nt_reference", Case, gemm_nt_test) {
  const std::uint64_t seed = ctnn::derive_seed(709, (Case::rows * 1'009 + Case::columns) * 1'013 + Case::depth);
  const auto a = test::random_buffer(Case::rows * Case::ld, seed, -1, 1, Case::misalign);
  const auto b = test::random_buffer(Case::columns * Case::ld, seed + 1, -1, 1, Case::misalign);
  const auto c_start = test::random_buffer(Case::rows * Case::ldc, seed + 2, -2, 2);
  auto fast = test::copy_of(c_start, Case::misalign), reference = test::copy_of(c_start);
  kernels::gemm_nt(Case::rows, Case::columns, Case::depth, a.data(), Case::ld, b.data(), Case::ld, fast.data(),
                   Case::ldc);
  kernels::gemm_nt_reference(Case::rows, Case::columns, Case::depth, a.data(), Case::ld, b.data(), Case::ld,
                             reference.data(), Case::ldc);

  auto magnitude = test::absolute(c_start);
  const auto a_magnitude = test::absolute(a), b_magnitude = test::absolute(b);
  kernels::gemm_nt_reference(Case::rows, Case::columns, Case::depth, a_magnitude.data(), Case::ld, b_magnitude.data(),
                             Case::ld, magnitude.data(), Case::ldc);
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Case::depth + 1), worst);
  CHECK(fast.guards_intact());

  test::check_padding_untouched(fast, c_start, Case::rows, Case::columns, Case::ldc);
}
TEST_CASE_TEMPLATE_APPLY(gemm_nt_test, GemmNtCases);
