// kernels/gemm.hpp: the register-blocked C += A B against gemm_reference, with A read directly and
// through its transpose (as conv2d's backward_data does), row counts around the 8-row block (every remainder 1 to 7),
// column counts around one and two SIMD widths, leading dimensions wider than the matrix, and the
// products convolution hands it (filters x output plane x taps).
#include <doctest/doctest.h>

#include <array>

#include <ctnn/kernels/gemm.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;
using kernels::MatrixView;

// C is (Rows,Columns) with leading dimension Columns + CExtra, B is (Depth,Columns) with leading
// dimension Columns + BExtra, A is (Rows,Depth), stored transposed as (Depth,Rows) when Transposed.
template <std::size_t Rows, std::size_t Columns, std::size_t Depth, bool Transposed = false, std::size_t BExtra = 0,
          std::size_t CExtra = 0, std::size_t Misalign = 0>
struct GemmCase {
  static constexpr std::size_t rows = Rows, columns = Columns, depth = Depth;
  static constexpr std::size_t ldb = Columns + BExtra, ldc = Columns + CExtra, misalign = Misalign;
  static MatrixView view(const float* a) noexcept {
    return Transposed ? MatrixView{a, 1, Rows} : MatrixView{a, Depth, 1};
  }
};

using Tiny = GemmCase<1, 1, 1>;
using Small = GemmCase<3, 5, 7, false, 0, 0, 1>;
using OneBlock = GemmCase<4, 2 * test::width, 9>;
using BlockPlusOne = GemmCase<5, 2 * test::width + 1, 13, true>;
using BelowWidth = GemmCase<7, test::width - 1, 3, false, 2, 3>;
using AboveWidthDeep = GemmCase<6, test::width + 1, 288, true, 0, 5, 1>;
using LeNetConv2 = GemmCase<16, 64, 150>;
using LeNetConv2Data = GemmCase<150, 64, 16, true>;
using BestNet = GemmCase<64, 196, 288>;
using Strided = GemmCase<9, 3 * test::width + 3, 17, false, 7, 1>;
using TenRows = GemmCase<10, test::width + 5, 11, true>;

TYPE_TO_STRING_AS("1x1x1", Tiny);
TYPE_TO_STRING_AS("3x5x7 unaligned", Small);
TYPE_TO_STRING_AS("4x(2W)x9 one block", OneBlock);
TYPE_TO_STRING_AS("5x(2W+1)x13 transposed A", BlockPlusOne);
TYPE_TO_STRING_AS("7x(W-1)x3 wide ldb and ldc", BelowWidth);
TYPE_TO_STRING_AS("6x(W+1)x288 transposed A wide ldc unaligned", AboveWidthDeep);
TYPE_TO_STRING_AS("16x64x150 LeNet conv2 forward", LeNetConv2);
TYPE_TO_STRING_AS("150x64x16 LeNet conv2 backward transposed A", LeNetConv2Data);
TYPE_TO_STRING_AS("64x196x288 best net conv", BestNet);
TYPE_TO_STRING_AS("9x(3W+3)x17 wide ldb and ldc", Strided);
TYPE_TO_STRING_AS("10x(W+5)x11 transposed A", TenRows);

using GemmCases = std::tuple<Tiny, Small, OneBlock, BlockPlusOne, BelowWidth, AboveWidthDeep, LeNetConv2,
                             LeNetConv2Data, BestNet, Strided, TenRows>;

TEST_CASE("kernel gemm: the reference gives hand-computed values") {
  // C = [1 1; 1 1] += [1 2 3; 4 5 6] [1 0; 0 1; 1 -1], then the same with A read as a transpose.
  const std::array<float, 6> a{1, 2, 3, 4, 5, 6}, a_transposed{1, 4, 2, 5, 3, 6};
  const std::array<float, 6> b{1, 0, 0, 1, 1, -1};
  for (const MatrixView view : {MatrixView{a.data(), 3, 1}, MatrixView{a_transposed.data(), 1, 2}}) {
    std::array<float, 4> c{1, 1, 1, 1}, fast{1, 1, 1, 1};
    kernels::gemm_reference(2, 2, 3, view, b.data(), 2, c.data(), 2);
    kernels::gemm(2, 2, 3, view, b.data(), 2, fast.data(), 2);
    CHECK(c == std::array<float, 4>{5, 0, 11, 0});
    CHECK(fast == c);
  }
}

// Each C element is its start value plus a dot product of `depth` terms: 2 gamma(depth + 1)
// relative to |C| + sum |A B|. C's columns beyond `columns` (up to ldc) must keep their bits.
TEST_CASE_TEMPLATE_DEFINE("kernel gemm: gemm matches gemm_reference", Case, gemm_test) {
  const std::uint64_t seed = ctnn::derive_seed(701, (Case::rows * 1'009 + Case::columns) * 1'013 + Case::depth);
  const auto a = test::random_buffer(Case::rows * Case::depth, seed, -1, 1, Case::misalign);
  const auto b = test::random_buffer(Case::depth * Case::ldb, seed + 1, -1, 1, Case::misalign);
  const auto c_start = test::random_buffer(Case::rows * Case::ldc, seed + 2, -2, 2);
  auto fast = test::copy_of(c_start, Case::misalign), reference = test::copy_of(c_start);
  kernels::gemm(Case::rows, Case::columns, Case::depth, Case::view(a.data()), b.data(), Case::ldb, fast.data(),
                Case::ldc);
  kernels::gemm_reference(Case::rows, Case::columns, Case::depth, Case::view(a.data()), b.data(), Case::ldb,
                          reference.data(), Case::ldc);

  auto magnitude = test::absolute(c_start);
  const auto a_magnitude = test::absolute(a), b_magnitude = test::absolute(b);
  kernels::gemm_reference(Case::rows, Case::columns, Case::depth, Case::view(a_magnitude.data()), b_magnitude.data(),
                          Case::ldb, magnitude.data(), Case::ldc);
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Case::depth + 1), worst);
  CHECK(fast.guards_intact());

  test::check_padding_untouched(fast, c_start, Case::rows, Case::columns, Case::ldc);
}
TEST_CASE_TEMPLATE_APPLY(gemm_test, GemmCases);
