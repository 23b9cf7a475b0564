// kernels/pool.hpp: max and average pooling against their references for windows (2,2), (3,2),
// (3,3) and (2,1) on odd and even shapes, some with output rows of several SIMD widths. Max pool
// and its gradient routing must match bit for bit, including on inputs full of ties. The SIMD
// kernels run with the geometry fixed at compile time on every case (kernels::fixed, as the
// layers call them) and with the run-time geometry on the hand-computed ones.
// g++ 12 with AVX-512 (-march=native here) warns inside its own avx512fintrin.h (`__Y` from
// _mm512_undefined_ps "may be used uninitialized") when xsimd::max inlines into max_pool_forward;
// the top-level CMakeLists.txt silences the same warning on ctnn_native.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>

#include <ctnn/kernels/pool.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;
using kernels::PoolGeometry;

// x is (Channels,Height,Width), pooled by Window x Window windows every Stride pixels.
template <std::size_t Channels, std::size_t Height, std::size_t Width, std::size_t Window, std::size_t Stride,
          std::size_t Misalign = 0>
struct PoolCase {
  static constexpr PoolGeometry geometry{Channels, Height, Width, Window, Stride};
  static constexpr std::size_t misalign = Misalign;
  static constexpr std::size_t in_size = Channels * Height * Width;
  static constexpr std::size_t out_size = Channels * geometry.out_height() * geometry.out_width();
};

TYPE_TO_STRING_AS("3x9x13 window 2 stride 2", PoolCase<3, 9, 13, 2, 2>);
TYPE_TO_STRING_AS("3x9x13 window 3 stride 2", PoolCase<3, 9, 13, 3, 2>);
TYPE_TO_STRING_AS("3x9x13 window 3 stride 3 unaligned", PoolCase<3, 9, 13, 3, 3, 1>);
TYPE_TO_STRING_AS("3x9x13 window 2 stride 1", PoolCase<3, 9, 13, 2, 1>);
TYPE_TO_STRING_AS("6x24x24 window 2 stride 2 LeNet", PoolCase<6, 24, 24, 2, 2>);
TYPE_TO_STRING_AS("6x24x24 window 3 stride 2", PoolCase<6, 24, 24, 3, 2>);
TYPE_TO_STRING_AS("6x24x24 window 3 stride 3", PoolCase<6, 24, 24, 3, 3>);
TYPE_TO_STRING_AS("6x24x24 window 2 stride 1 unaligned", PoolCase<6, 24, 24, 2, 1, 1>);
TYPE_TO_STRING_AS("1x5x5 window 2 stride 2", PoolCase<1, 5, 5, 2, 2>);
TYPE_TO_STRING_AS("1x5x5 window 3 stride 2", PoolCase<1, 5, 5, 3, 2>);
TYPE_TO_STRING_AS("1x5x5 window 3 stride 3", PoolCase<1, 5, 5, 3, 3>);
TYPE_TO_STRING_AS("1x5x5 window 2 stride 1", PoolCase<1, 5, 5, 2, 1>);
TYPE_TO_STRING_AS("4x7x33 window 2 stride 2 unaligned", PoolCase<4, 7, 33, 2, 2, 1>);
TYPE_TO_STRING_AS("4x7x33 window 3 stride 2", PoolCase<4, 7, 33, 3, 2>);
TYPE_TO_STRING_AS("4x7x33 window 3 stride 3", PoolCase<4, 7, 33, 3, 3>);
TYPE_TO_STRING_AS("4x7x33 window 2 stride 1", PoolCase<4, 7, 33, 2, 1>);
TYPE_TO_STRING_AS("2x5x101 window 2 stride 2", PoolCase<2, 5, 101, 2, 2>);
TYPE_TO_STRING_AS("2x5x101 window 3 stride 2 unaligned", PoolCase<2, 5, 101, 3, 2, 1>);
TYPE_TO_STRING_AS("2x5x101 window 3 stride 3", PoolCase<2, 5, 101, 3, 3>);
TYPE_TO_STRING_AS("2x5x101 window 2 stride 1", PoolCase<2, 5, 101, 2, 1>);
TYPE_TO_STRING_AS("1x3x3 window 3 stride 3 one window", PoolCase<1, 3, 3, 3, 3>);

using PoolCases = std::tuple<PoolCase<3, 9, 13, 2, 2>, PoolCase<3, 9, 13, 3, 2>, PoolCase<3, 9, 13, 3, 3, 1>,
                             PoolCase<3, 9, 13, 2, 1>, PoolCase<6, 24, 24, 2, 2>, PoolCase<6, 24, 24, 3, 2>,
                             PoolCase<6, 24, 24, 3, 3>, PoolCase<6, 24, 24, 2, 1, 1>, PoolCase<1, 5, 5, 2, 2>,
                             PoolCase<1, 5, 5, 3, 2>, PoolCase<1, 5, 5, 3, 3>, PoolCase<1, 5, 5, 2, 1>,
                             PoolCase<4, 7, 33, 2, 2, 1>, PoolCase<4, 7, 33, 3, 2>, PoolCase<4, 7, 33, 3, 3>,
                             PoolCase<4, 7, 33, 2, 1>, PoolCase<2, 5, 101, 2, 2>, PoolCase<2, 5, 101, 3, 2, 1>,
                             PoolCase<2, 5, 101, 3, 3>, PoolCase<2, 5, 101, 2, 1>, PoolCase<1, 3, 3, 3, 3>>;

namespace {

template <class Case>
constexpr std::uint64_t case_seed(std::uint64_t base) {
  return ctnn::derive_seed(
      base, ((Case::in_size * 7 + Case::geometry.window) * 5 + Case::geometry.stride) * 2 + Case::misalign);
}

// The inputs max pooling meets: distinct values, a ReLU's output (70% exact zeros, so many windows
// are all zero), and values on a coarse grid (ties between equal positive maxima).
enum class Inputs { distinct, after_relu, coarse_grid };
const char* name(Inputs kind) {
  return kind == Inputs::distinct ? "distinct values" : kind == Inputs::after_relu ? "after a ReLU" : "coarse grid";
}

template <class Case>
test::Guarded pool_input(Inputs kind, std::uint64_t seed) {
  auto x = test::random_buffer(Case::in_size, seed, -1, 1, Case::misalign);
  if (kind == Inputs::after_relu) {
    for (float& value : x.span()) value = std::max(value, 0.0f);
    test::zero_some(x, 0.4, seed + 1);
  } else if (kind == Inputs::coarse_grid) {
    for (float& value : x.span()) value = std::round(value * 2) / 2;     // -1, -0.5, 0, 0.5, 1
    for (float& value : x.span()) value = value == 0.0f ? 0.0f : value;  // no -0: see the signed-zero test
  }
  return x;
}

}  // namespace

TEST_CASE("kernel pool: the references give hand-computed values") {
  // 1x4x4, window 2, stride 2: windows of a shared maximum, of zeros, of negatives, and 5 twice.
  constexpr PoolGeometry g{1, 4, 4, 2, 2};
  const std::array<float, 16> x{1,  3,  0, 0,  //
                                2,  3,  0, 0,  //
                                -1, -2, 5, 4,  //
                                -3, -4, 4, 5};
  std::array<float, 4> y{}, fast_y{};
  kernels::max_pool_forward_reference(g, x.data(), y.data());
  kernels::max_pool_forward(g, x.data(), fast_y.data());
  CHECK(y == std::array<float, 4>{3, 0, -1, 5});
  CHECK(fast_y == y);

  // Each gradient goes to the first maximum in row-major order, and only there.
  const std::array<float, 4> dy{10, 20, 30, 40};
  std::array<float, 16> dx{}, fast_dx{};
  dx.fill(99);
  fast_dx.fill(99);
  kernels::max_pool_backward_reference(g, x.data(), y.data(), dy.data(), dx.data());
  kernels::max_pool_backward(g, x.data(), y.data(), dy.data(), fast_dx.data());
  const std::array<float, 16> expected_dx{0,  10, 20, 0,  //
                                          0,  0,  0,  0,  //
                                          30, 0,  40, 0,  //
                                          0,  0,  0,  0};
  CHECK(dx == expected_dx);
  CHECK(fast_dx == expected_dx);

  // The average: each window's mean, and dy / 4 spread back over the window.
  kernels::avg_pool_forward_reference(g, x.data(), y.data());
  kernels::avg_pool_forward(g, x.data(), fast_y.data());
  CHECK(y == std::array<float, 4>{2.25f, 0, -2.5f, 4.5f});
  CHECK(fast_y == y);
  const std::array<float, 4> avg_dy{4, 8, 12, 16};
  kernels::avg_pool_backward_reference(g, avg_dy.data(), dx.data());
  kernels::avg_pool_backward(g, avg_dy.data(), fast_dx.data());
  const std::array<float, 16> expected_avg_dx{1, 1, 2, 2,  //
                                              1, 1, 2, 2,  //
                                              3, 3, 4, 4,  //
                                              3, 3, 4, 4};
  CHECK(dx == expected_avg_dx);
  CHECK(fast_dx == expected_avg_dx);
}

TEST_CASE("kernel pool: overlapping max windows add their gradients at a shared maximum") {
  // 1x5x5, window 3, stride 2: all four windows contain the centre, the only non-zero value.
  constexpr PoolGeometry g{1, 5, 5, 3, 2};
  std::array<float, 25> x{};
  x[12] = 9;
  std::array<float, 4> y{}, fast_y{};
  kernels::max_pool_forward_reference(g, x.data(), y.data());
  kernels::max_pool_forward(g, x.data(), fast_y.data());
  CHECK(y == std::array<float, 4>{9, 9, 9, 9});
  CHECK(fast_y == y);

  const std::array<float, 4> dy{1, 2, 3, 4};
  std::array<float, 25> dx{}, fast_dx{};
  kernels::max_pool_backward_reference(g, x.data(), y.data(), dy.data(), dx.data());
  kernels::max_pool_backward(g, x.data(), y.data(), dy.data(), fast_dx.data());
  std::array<float, 25> expected{};
  expected[12] = 10;
  CHECK(dx == expected);
  CHECK(fast_dx == expected);
}

// Forward takes the same maxima in both flavours, and backward adds each dy at the same position in
// the same order, so both must match bit for bit. dx starts as garbage and must be overwritten.
TEST_CASE_TEMPLATE_DEFINE("kernel pool: max_pool matches the reference bit for bit", Case, max_pool_test) {
  constexpr PoolGeometry g = Case::geometry;
  for (const Inputs kind : {Inputs::distinct, Inputs::after_relu, Inputs::coarse_grid}) {
    const char* inputs = name(kind);
    CAPTURE(inputs);
    const auto x = pool_input<Case>(kind, case_seed<Case>(401) + static_cast<std::uint64_t>(kind));
    auto fast_y = test::random_buffer(Case::out_size, 1, 100, 200, Case::misalign);
    auto y = test::random_buffer(Case::out_size, 2, 100, 200);
    kernels::max_pool_forward(kernels::fixed<g>, x.data(), fast_y.data());
    kernels::max_pool_forward_reference(g, x.data(), y.data());
    const auto forward = test::bit_difference(fast_y.span(), y.span());
    CHECK_MESSAGE(forward.error == 0, forward);
    CHECK(fast_y.guards_intact());

    const auto dy = test::random_buffer(Case::out_size, case_seed<Case>(402), -1, 1, Case::misalign);
    auto fast_dx = test::random_buffer(Case::in_size, 3, 100, 200, Case::misalign);
    auto dx = test::random_buffer(Case::in_size, 4, 100, 200);
    kernels::max_pool_backward(kernels::fixed<g>, x.data(), y.data(), dy.data(), fast_dx.data());
    kernels::max_pool_backward_reference(g, x.data(), y.data(), dy.data(), dx.data());
    const auto backward = test::bit_difference(fast_dx.span(), dx.span());
    CHECK_MESSAGE(backward.error == 0, backward);
    CHECK(fast_dx.guards_intact());

    // Every dy is routed exactly once: the gradients sum to the same total, up to the rounding of
    // the at most window^2 additions into each dx.
    double routed = 0, sent = 0, magnitude = 0;
    for (const float value : dx.span()) routed += value;
    for (const float value : dy.span()) sent += value, magnitude += std::fabs(value);
    CHECK(std::fabs(routed - sent) <= test::gamma(g.window * g.window) * magnitude);
  }
}
TEST_CASE_TEMPLATE_APPLY(max_pool_test, PoolCases);

// -0 and +0 compare equal, and a maximum over both may come out with either sign: the reference's
// std::max keeps the first of equal values, and a SIMD max instruction may keep the other. The
// values and the gradient routing (to the first position equal to y) must still agree exactly.
TEST_CASE_TEMPLATE_DEFINE("kernel pool: max_pool agrees on windows of signed zeros", Case, max_pool_signed_zero_test) {
  constexpr PoolGeometry g = Case::geometry;
  auto x = test::random_buffer(Case::in_size, case_seed<Case>(403), -1, 1, Case::misalign);
  ctnn::Rng rng(case_seed<Case>(404));
  for (float& value : x.span()) {
    const float draw = rng.uniform();
    value = draw < 0.4f ? -0.0f : draw < 0.8f ? 0.0f : -std::fabs(value);
  }
  test::Guarded fast_y(Case::out_size, Case::misalign), y(Case::out_size);
  kernels::max_pool_forward(kernels::fixed<g>, x.data(), fast_y.data());
  kernels::max_pool_forward_reference(g, x.data(), y.data());
  for (std::size_t i = 0; i < Case::out_size; ++i) {
    CAPTURE(i);
    CHECK(fast_y[i] == y[i]);
  }

  const auto dy = test::random_buffer(Case::out_size, case_seed<Case>(405), -1, 1);
  test::Guarded fast_dx(Case::in_size, Case::misalign), dx(Case::in_size);
  kernels::max_pool_backward(kernels::fixed<g>, x.data(), fast_y.data(), dy.data(), fast_dx.data());
  kernels::max_pool_backward_reference(g, x.data(), y.data(), dy.data(), dx.data());
  const auto backward = test::bit_difference(fast_dx.span(), dx.span());
  CHECK_MESSAGE(backward.error == 0, backward);
}
TEST_CASE_TEMPLATE_APPLY(max_pool_signed_zero_test, PoolCases);

// Forward sums window^2 products by the same float 1/window^2; backward adds at most window^2 of
// them into each dx. Both are compared with the sum bound for window^2 + 1 terms.
TEST_CASE_TEMPLATE_DEFINE("kernel pool: avg_pool matches the reference", Case, avg_pool_test) {
  constexpr PoolGeometry g = Case::geometry;
  const std::size_t terms = g.window * g.window + 1;
  const auto x = test::random_buffer(Case::in_size, case_seed<Case>(406), -1, 1, Case::misalign);
  auto fast_y = test::random_buffer(Case::out_size, 1, 100, 200, Case::misalign);
  auto y = test::random_buffer(Case::out_size, 2, 100, 200);
  kernels::avg_pool_forward(kernels::fixed<g>, x.data(), fast_y.data());
  kernels::avg_pool_forward_reference(g, x.data(), y.data());
  test::Guarded magnitude_y(Case::out_size);
  kernels::avg_pool_forward_reference(g, test::absolute(x).data(), magnitude_y.data());
  const auto forward = test::max_relative_error(fast_y.span(), y.span(), magnitude_y.span());
  CHECK_MESSAGE(forward.error <= test::sum_tolerance(terms), forward);
  CHECK(fast_y.guards_intact());

  const auto dy = test::random_buffer(Case::out_size, case_seed<Case>(407), -1, 1, Case::misalign);
  auto fast_dx = test::random_buffer(Case::in_size, 3, 100, 200, Case::misalign);
  auto dx = test::random_buffer(Case::in_size, 4, 100, 200);
  kernels::avg_pool_backward(kernels::fixed<g>, dy.data(), fast_dx.data());
  kernels::avg_pool_backward_reference(g, dy.data(), dx.data());
  test::Guarded magnitude_dx(Case::in_size);
  kernels::avg_pool_backward_reference(g, test::absolute(dy).data(), magnitude_dx.data());
  const auto backward = test::max_relative_error(fast_dx.span(), dx.span(), magnitude_dx.span());
  CHECK_MESSAGE(backward.error <= test::sum_tolerance(terms), backward);
  CHECK(fast_dx.guards_intact());

  // The references are adjoint: <avg(x), dy> = <x, avg_backward(dy)>.
  double forward_side = 0, backward_side = 0, magnitude = 0;
  for (std::size_t i = 0; i < Case::out_size; ++i) {
    forward_side += static_cast<double>(y[i]) * dy[i];
    magnitude += static_cast<double>(magnitude_y[i]) * std::fabs(dy[i]);
  }
  for (std::size_t i = 0; i < Case::in_size; ++i) backward_side += static_cast<double>(x[i]) * dx[i];
  CHECK(std::fabs(forward_side - backward_side) <= 2 * test::gamma(terms) * magnitude);
}
TEST_CASE_TEMPLATE_APPLY(avg_pool_test, PoolCases);
