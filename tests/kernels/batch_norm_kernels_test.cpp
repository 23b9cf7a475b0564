// kernels/batch_norm.hpp: the affine passes scale_shift and linear_combination against their
// references on lengths around the SIMD width, with the scales batch normalization produces.
#include <doctest/doctest.h>

#include <array>
#include <cmath>

#include <ctnn/kernels/batch_norm.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

namespace {
template <class Size>
constexpr std::uint64_t size_seed(std::uint64_t base) {
  return ctnn::derive_seed(base, Size::n * 2 + Size::misalign);
}
}  // namespace

TEST_CASE("kernel batch_norm: the references give hand-computed values") {
  const std::array<float, 3> x{1, -1, 0.5f};
  std::array<float, 3> y{};
  kernels::scale_shift_reference(3, 2, 1, x.data(), y.data());
  CHECK(y == std::array<float, 3>{3, -1, 2});

  const std::array<float, 2> u{1, 2}, v{3, 4};
  std::array<float, 2> out{};
  kernels::linear_combination_reference(2, 2, u.data(), -1, v.data(), 0.5f, out.data());
  CHECK(out == std::array<float, 2>{-0.5f, 0.5f});
}

// scale x + shift: two terms, fused or not; 2 gamma(2) relative to |scale x| + |shift|. y starts
// as garbage. The second pair of constants is a normalization that nearly cancels (shift close to
// -scale * mean), where only a bound relative to the terms holds.
TEST_CASE_TEMPLATE_DEFINE("kernel batch_norm: scale_shift matches scale_shift_reference", Size, scale_shift_test) {
  const auto x = test::random_buffer(Size::n, size_seed<Size>(601), -3, 3, Size::misalign);
  for (const std::array<float, 2> constants :
       {std::array<float, 2>{1.7f, -0.3f}, std::array<float, 2>{12.5f, -12.4f}}) {
    const float scale = constants[0], shift = constants[1];
    CAPTURE(scale);
    CAPTURE(shift);
    auto fast = test::random_buffer(Size::n, 1, 100, 200, 3 * Size::misalign);
    auto reference = test::random_buffer(Size::n, 2, 100, 200);
    kernels::scale_shift(Size::n, scale, shift, x.data(), fast.data());
    kernels::scale_shift_reference(Size::n, scale, shift, x.data(), reference.data());
    test::Guarded magnitude(Size::n);
    kernels::scale_shift_reference(Size::n, std::fabs(scale), std::fabs(shift), test::absolute(x).data(),
                                   magnitude.data());
    const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
    CHECK_MESSAGE(worst.error <= test::sum_tolerance(2), worst);
    CHECK(fast.guards_intact());
  }
}
TEST_CASE_TEMPLATE_APPLY(scale_shift_test, test::AwkwardLengths);

// a u + b v + c: three terms; 2 gamma(3) relative to |a u| + |b v| + |c|. The constants have the
// signs of the batch-norm input gradient (b < 0, c of either sign).
TEST_CASE_TEMPLATE_DEFINE("kernel batch_norm: linear_combination matches linear_combination_reference", Size,
                          linear_combination_test) {
  const auto u = test::random_buffer(Size::n, size_seed<Size>(602), -1, 1, Size::misalign);
  const auto v = test::random_buffer(Size::n, size_seed<Size>(603), -3, 3, 3 * Size::misalign);
  const float a = 1.3f, b = -0.021f, c = 0.0137f;
  auto fast = test::random_buffer(Size::n, 1, 100, 200, 2 * Size::misalign);
  auto reference = test::random_buffer(Size::n, 2, 100, 200);
  kernels::linear_combination(Size::n, a, u.data(), b, v.data(), c, fast.data());
  kernels::linear_combination_reference(Size::n, a, u.data(), b, v.data(), c, reference.data());
  test::Guarded magnitude(Size::n);
  kernels::linear_combination_reference(Size::n, std::fabs(a), test::absolute(u).data(), std::fabs(b),
                                        test::absolute(v).data(), std::fabs(c), magnitude.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(3), worst);
  CHECK(fast.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(linear_combination_test, test::AwkwardLengths);
