// kernels/vector.hpp: axpy, strided axpy, dot and sum against their references, on lengths around
// the SIMD width (kernel_check.hpp gives the sizes and the tolerance).
#include <doctest/doctest.h>

#include <array>
#include <cmath>

#include <ctnn/kernels/vector.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

TEST_CASE("kernel vector: the references give hand-computed values") {
  std::array<float, 3> y{1, 2, 3};
  const std::array<float, 3> x{1, -1, 0.5f};
  kernels::axpy_reference(3, 2.0f, x.data(), y.data());
  CHECK(y == std::array<float, 3>{3, 0, 4});

  const std::array<float, 5> spread{1, 9, 2, 9, 3};
  std::array<float, 3> gathered{10, 20, 30};
  kernels::axpy_strided_reference(3, -1.0f, spread.data(), 2, gathered.data());
  CHECK(gathered == std::array<float, 3>{9, 18, 27});

  const std::array<float, 3> u{1, 2, 3}, v{4, 5, 6};
  CHECK(kernels::dot_reference(3, u.data(), v.data()) == 32.0f);
  CHECK(kernels::sum_reference(3, u.data()) == 6.0f);
  CHECK(kernels::dot_reference(0, u.data(), v.data()) == 0.0f);
}

// y += a x: two terms per element, so 2 gamma(2) relative to |y| + |a x|.
TEST_CASE_TEMPLATE_DEFINE("kernel vector: axpy matches axpy_reference", Size, axpy_test) {
  const std::uint64_t seed = ctnn::derive_seed(101, Size::n * 2 + Size::misalign);
  const float a = -0.7371f;
  const auto x = test::random_buffer(Size::n, seed, -1, 1, Size::misalign);
  const auto y = test::random_buffer(Size::n, seed + 1, -1, 1, 3 * Size::misalign);

  auto fast = test::copy_of(y, 3 * Size::misalign), reference = test::copy_of(y);
  kernels::axpy(Size::n, a, x.data(), fast.data());
  kernels::axpy_reference(Size::n, a, x.data(), reference.data());

  auto magnitude = test::absolute(y);
  kernels::axpy_reference(Size::n, std::fabs(a), test::absolute(x).data(), magnitude.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(2), worst);
  CHECK(fast.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(axpy_test, test::AwkwardLengths);

// y[i] += a x[i stride]: x holds exactly (n - 1) stride + 1 floats, so a gather past the last one
// reads a guard NaN.
TEST_CASE_TEMPLATE_DEFINE("kernel vector: axpy_strided matches axpy_strided_reference for strides 1 2 3", Size,
                          axpy_strided_test) {
  for (const std::size_t stride : {1, 2, 3}) {
    CAPTURE(stride);
    const std::uint64_t seed = ctnn::derive_seed(102, (Size::n * 2 + Size::misalign) * 4 + stride);
    const float a = 1.618f;
    const auto x = test::random_buffer((Size::n - 1) * stride + 1, seed, -1, 1, Size::misalign);
    const auto y = test::random_buffer(Size::n, seed + 1, -1, 1, 3 * Size::misalign);

    auto fast = test::copy_of(y, 3 * Size::misalign), reference = test::copy_of(y);
    kernels::axpy_strided(Size::n, a, x.data(), stride, fast.data());
    kernels::axpy_strided_reference(Size::n, a, x.data(), stride, reference.data());

    auto magnitude = test::absolute(y);
    kernels::axpy_strided_reference(Size::n, a, test::absolute(x).data(), stride, magnitude.data());
    const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
    CHECK_MESSAGE(worst.error <= test::sum_tolerance(2), worst);
    CHECK(fast.guards_intact());
  }
}
TEST_CASE_TEMPLATE_APPLY(axpy_strided_test, test::AwkwardLengths);

// A dot product of n terms: 2 gamma(n) relative to sum |x y|.
TEST_CASE_TEMPLATE_DEFINE("kernel vector: dot matches dot_reference", Size, dot_test) {
  const std::uint64_t seed = ctnn::derive_seed(103, Size::n * 2 + Size::misalign);
  const auto x = test::random_buffer(Size::n, seed, -1, 1, Size::misalign);
  const auto y = test::random_buffer(Size::n, seed + 1, -1, 1, 3 * Size::misalign);

  const float fast = kernels::dot(Size::n, x.data(), y.data());
  const float reference = kernels::dot_reference(Size::n, x.data(), y.data());
  const float magnitude = kernels::dot_reference(Size::n, test::absolute(x).data(), test::absolute(y).data());
  const auto worst = test::max_relative_error({&fast, 1}, {&reference, 1}, {&magnitude, 1});
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Size::n), worst);
}
TEST_CASE_TEMPLATE_APPLY(dot_test, test::AwkwardLengths);

// A sum of n terms: 2 gamma(n) relative to sum |x|.
TEST_CASE_TEMPLATE_DEFINE("kernel vector: sum matches sum_reference", Size, sum_test) {
  const auto x =
      test::random_buffer(Size::n, ctnn::derive_seed(104, Size::n * 2 + Size::misalign), -1, 1, Size::misalign);
  const float fast = kernels::sum(Size::n, x.data());
  const float reference = kernels::sum_reference(Size::n, x.data());
  const float magnitude = kernels::sum_reference(Size::n, test::absolute(x).data());
  const auto worst = test::max_relative_error({&fast, 1}, {&reference, 1}, {&magnitude, 1});
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Size::n), worst);
}
TEST_CASE_TEMPLATE_APPLY(sum_test, test::AwkwardLengths);
