// kernels/activation.hpp: relu, leaky relu, tanh and sigmoid, forward and backward, against their
// references on lengths around the SIMD width, out of place and in place (y == x, dx == dy).
// Inputs mix values in [-4, 4] with saturating ones (+-30, +-89.5 where exp overflows), zeros of
// both signs and tiny values.
// g++ 12 with AVX-512 (-march=native here) warns inside its own avx512fintrin.h (`__Y` from
// _mm512_undefined_ps "may be used uninitialized") when xsimd's exp and tanh inline; the
// top-level CMakeLists.txt silences the same warning on ctnn_native.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include <ctnn/kernels/activation.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

// xsimd's tanh and exp are not the C library's. Over a dense sweep of [-40, 40] plus tiny and
// overflowing arguments (the test below), g++ and clang at widths 4 and 16 differ from std by at
// most 2 ulp for tanh and 4 ulp for sigmoid (near x = -16.7, where exp's error shows through
// 1 / (1 + exp(-x))); the bounds leave 2 ulp of headroom.
constexpr double tanh_ulps = 4;
constexpr double sigmoid_ulps = 6;

namespace {

test::Guarded activation_input(std::size_t n, std::uint64_t seed, std::size_t misalign) {
  constexpr std::array<float, 8> special{30.0f, -30.0f, 89.5f, -89.5f, 0.0f, -0.0f, 1e-6f, -1e-6f};
  auto x = test::random_buffer(n, seed, -4, 4, misalign);
  ctnn::Rng rng(seed + 1);
  for (float& value : x.span())
    if (rng.uniform() < 0.25f) value = special[rng.below(special.size())];
  return x;
}

// The gradient flowing back: random, with a few exact zeros.
test::Guarded activation_gradient(std::size_t n, std::uint64_t seed, std::size_t misalign) {
  auto dy = test::random_buffer(n, seed, -2, 2, misalign);
  test::zero_some(dy, 0.1, seed + 1);
  return dy;
}

template <class Size>
constexpr std::uint64_t size_seed(std::uint64_t base) {
  return ctnn::derive_seed(base, Size::n * 2 + Size::misalign);
}

// Runs `fast` in place on a copy of `input` and checks it bit for bit against the out-of-place result.
template <class Kernel>
void check_in_place(const test::Guarded& input, const test::Guarded& out_of_place, Kernel kernel) {
  auto in_place = test::copy_of(input, 1);
  kernel(in_place.data());
  const auto difference = test::bit_difference(in_place.span(), out_of_place.span());
  CHECK_MESSAGE(difference.error == 0, difference);
  CHECK(in_place.guards_intact());
}

}  // namespace

TEST_CASE("kernel activation: the references give hand-computed values") {
  const std::array<float, 3> x{-2, 0, 3};
  std::array<float, 3> y{};
  kernels::relu_forward_reference(3, x.data(), y.data());
  CHECK(y == std::array<float, 3>{0, 0, 3});
  kernels::leaky_relu_forward_reference(3, 0.2f, x.data(), y.data());
  CHECK(y == std::array<float, 3>{0.2f * -2.0f, 0, 3});

  const std::array<float, 3> dy{5, 7, 9};
  const std::array<float, 3> relu_y{0, 0, 3};
  std::array<float, 3> dx{};
  kernels::relu_backward_reference(3, relu_y.data(), dy.data(), dx.data());
  CHECK(dx == std::array<float, 3>{0, 0, 9});
  const std::array<float, 3> leaky_y{-0.4f, 0, 3};
  kernels::leaky_relu_backward_reference(3, 0.2f, leaky_y.data(), dy.data(), dx.data());
  CHECK(dx == std::array<float, 3>{0.2f * 5.0f, 0.2f * 7.0f, 9});

  // tanh(0) = 0, tanh(ln 3 / 2) = (3 - 1) / (3 + 1); sigmoid(0) = 1/2, sigmoid(ln 3) = 3/4.
  const std::array<float, 2> t{0, static_cast<float>(std::log(3.0) / 2)};
  std::array<float, 2> out{};
  kernels::tanh_forward_reference(2, t.data(), out.data());
  CHECK(out[0] == 0.0f);
  CHECK(out[1] == doctest::Approx(0.5).epsilon(1e-6));
  const std::array<float, 2> s{0, static_cast<float>(std::log(3.0))};
  kernels::sigmoid_forward_reference(2, s.data(), out.data());
  CHECK(out[0] == 0.5f);
  CHECK(out[1] == doctest::Approx(0.75).epsilon(1e-6));

  // tanh' = 1 - y^2 and sigmoid' = y (1 - y), taken from the output y.
  const std::array<float, 2> tanh_y{0.5f, -1}, sigmoid_y{0.75f, 0}, gradient{2, 4};
  std::array<float, 2> grad{};
  kernels::tanh_backward_reference(2, tanh_y.data(), gradient.data(), grad.data());
  CHECK(grad == std::array<float, 2>{1.5f, 0});
  kernels::sigmoid_backward_reference(2, sigmoid_y.data(), gradient.data(), grad.data());
  CHECK(grad == std::array<float, 2>{0.375f, 0});
}

TEST_CASE("kernel activation: relu and leaky_relu pass NaN through") {
  // NaN in the first SIMD batch and in the scalar tail.
  const std::size_t n = 2 * test::width + 1;
  auto x = test::random_buffer(n, 509, -1, 1);
  x[0] = x[n - 1] = std::numeric_limits<float>::quiet_NaN();
  test::Guarded fast(n), reference(n);
  kernels::relu_forward(n, x.data(), fast.data());
  kernels::relu_forward_reference(n, x.data(), reference.data());
  CHECK(std::isnan(reference[0]));
  CHECK(std::isnan(reference[n - 1]));
  const auto relu = test::bit_difference(fast.span(), reference.span());
  CHECK_MESSAGE(relu.error == 0, relu);
  kernels::leaky_relu_forward(n, 0.2f, x.data(), fast.data());
  kernels::leaky_relu_forward_reference(n, 0.2f, x.data(), reference.data());
  CHECK(std::isnan(reference[0]));
  CHECK(std::isnan(reference[n - 1]));
  const auto leaky = test::bit_difference(fast.span(), reference.span());
  CHECK_MESSAGE(leaky.error == 0, leaky);
}

TEST_CASE("kernel activation: tanh and sigmoid stay within their ulp bounds of std over a sweep") {
  std::vector<float> values;
  for (int i = -216'000; i <= 216'000; ++i) values.push_back(static_cast<float>(i) * (40.0f / 216'000));
  for (float tiny = 1e-30f; tiny < 1; tiny *= 1.01f) values.insert(values.end(), {tiny, -tiny});
  values.insert(values.end(), {88.0f, 88.8f, 89.0f, 100.0f, -88.0f, -88.8f, -89.0f, -100.0f, 1e-40f, -0.0f});
  test::Guarded x(values.size()), fast(values.size()), reference(values.size());
  std::copy(values.begin(), values.end(), x.data());

  kernels::tanh_forward(x.size(), x.data(), fast.data());
  kernels::tanh_forward_reference(x.size(), x.data(), reference.data());
  const auto tanh = test::max_ulp_distance(fast.span(), reference.span());
  CHECK_MESSAGE(tanh.error <= tanh_ulps, tanh, " for x = ", x[tanh.index]);

  kernels::sigmoid_forward(x.size(), x.data(), fast.data());
  kernels::sigmoid_forward_reference(x.size(), x.data(), reference.data());
  const auto sigmoid = test::max_ulp_distance(fast.span(), reference.span());
  CHECK_MESSAGE(sigmoid.error <= sigmoid_ulps, sigmoid, " for x = ", x[sigmoid.index]);
}

// relu and its gradient select or keep values, so they must match bit for bit (relu keeps -0 in both).
TEST_CASE_TEMPLATE_DEFINE("kernel activation: relu matches the reference bit for bit", Size, relu_test) {
  const auto x = activation_input(Size::n, size_seed<Size>(501), Size::misalign);
  auto fast = test::random_buffer(Size::n, 1, 100, 200, 3 * Size::misalign);
  auto reference = test::random_buffer(Size::n, 2, 100, 200);
  kernels::relu_forward(Size::n, x.data(), fast.data());
  kernels::relu_forward_reference(Size::n, x.data(), reference.data());
  const auto forward = test::bit_difference(fast.span(), reference.span());
  CHECK_MESSAGE(forward.error == 0, forward);
  CHECK(fast.guards_intact());
  check_in_place(x, fast, [](float* data) { kernels::relu_forward(Size::n, data, data); });
  check_in_place(x, reference, [](float* data) { kernels::relu_forward_reference(Size::n, data, data); });

  const auto dy = activation_gradient(Size::n, size_seed<Size>(502), Size::misalign);
  auto fast_dx = test::random_buffer(Size::n, 3, 100, 200, 3 * Size::misalign);
  auto dx = test::random_buffer(Size::n, 4, 100, 200);
  kernels::relu_backward(Size::n, reference.data(), dy.data(), fast_dx.data());
  kernels::relu_backward_reference(Size::n, reference.data(), dy.data(), dx.data());
  const auto backward = test::bit_difference(fast_dx.span(), dx.span());
  CHECK_MESSAGE(backward.error == 0, backward);
  CHECK(fast_dx.guards_intact());
  const float* y = reference.data();
  check_in_place(dy, fast_dx, [y](float* data) { kernels::relu_backward(Size::n, y, data, data); });
  check_in_place(dy, dx, [y](float* data) { kernels::relu_backward_reference(Size::n, y, data, data); });
}
TEST_CASE_TEMPLATE_APPLY(relu_test, test::AwkwardLengths);

// slope * x is one rounding in both flavours: bit for bit, for slopes 0.01 and 0.2.
TEST_CASE_TEMPLATE_DEFINE("kernel activation: leaky_relu matches the reference bit for bit", Size, leaky_relu_test) {
  for (const float slope : {0.01f, 0.2f}) {
    CAPTURE(slope);
    const auto x = activation_input(Size::n, size_seed<Size>(503), Size::misalign);
    auto fast = test::random_buffer(Size::n, 1, 100, 200, 3 * Size::misalign);
    auto reference = test::random_buffer(Size::n, 2, 100, 200);
    kernels::leaky_relu_forward(Size::n, slope, x.data(), fast.data());
    kernels::leaky_relu_forward_reference(Size::n, slope, x.data(), reference.data());
    const auto forward = test::bit_difference(fast.span(), reference.span());
    CHECK_MESSAGE(forward.error == 0, forward);
    CHECK(fast.guards_intact());
    check_in_place(x, fast, [slope](float* data) { kernels::leaky_relu_forward(Size::n, slope, data, data); });
    check_in_place(x, reference,
                   [slope](float* data) { kernels::leaky_relu_forward_reference(Size::n, slope, data, data); });

    const auto dy = activation_gradient(Size::n, size_seed<Size>(504), Size::misalign);
    auto fast_dx = test::random_buffer(Size::n, 3, 100, 200, 3 * Size::misalign);
    auto dx = test::random_buffer(Size::n, 4, 100, 200);
    kernels::leaky_relu_backward(Size::n, slope, reference.data(), dy.data(), fast_dx.data());
    kernels::leaky_relu_backward_reference(Size::n, slope, reference.data(), dy.data(), dx.data());
    const auto backward = test::bit_difference(fast_dx.span(), dx.span());
    CHECK_MESSAGE(backward.error == 0, backward);
    CHECK(fast_dx.guards_intact());
    const float* y = reference.data();
    check_in_place(dy, fast_dx,
                   [slope, y](float* data) { kernels::leaky_relu_backward(Size::n, slope, y, data, data); });
    check_in_place(dy, dx,
                   [slope, y](float* data) { kernels::leaky_relu_backward_reference(Size::n, slope, y, data, data); });
  }
}
TEST_CASE_TEMPLATE_APPLY(leaky_relu_test, test::AwkwardLengths);

// Forward within tanh_ulps of std::tanh. Backward dy (1 - y^2) is three roundings, fused or not:
// 2 gamma(3) relative to |dy| (1 + y^2).
TEST_CASE_TEMPLATE_DEFINE("kernel activation: tanh matches the reference", Size, tanh_test) {
  const auto x = activation_input(Size::n, size_seed<Size>(505), Size::misalign);
  auto fast = test::random_buffer(Size::n, 1, 100, 200, 3 * Size::misalign);
  auto reference = test::random_buffer(Size::n, 2, 100, 200);
  kernels::tanh_forward(Size::n, x.data(), fast.data());
  kernels::tanh_forward_reference(Size::n, x.data(), reference.data());
  const auto forward = test::max_ulp_distance(fast.span(), reference.span());
  CHECK_MESSAGE(forward.error <= tanh_ulps, forward);
  CHECK(fast.guards_intact());
  check_in_place(x, fast, [](float* data) { kernels::tanh_forward(Size::n, data, data); });
  check_in_place(x, reference, [](float* data) { kernels::tanh_forward_reference(Size::n, data, data); });

  const auto dy = activation_gradient(Size::n, size_seed<Size>(506), Size::misalign);
  auto fast_dx = test::random_buffer(Size::n, 3, 100, 200, 3 * Size::misalign);
  auto dx = test::random_buffer(Size::n, 4, 100, 200);
  kernels::tanh_backward(Size::n, reference.data(), dy.data(), fast_dx.data());
  kernels::tanh_backward_reference(Size::n, reference.data(), dy.data(), dx.data());
  test::Guarded magnitude(Size::n);
  for (std::size_t i = 0; i < Size::n; ++i) magnitude[i] = std::fabs(dy[i]) * (1 + reference[i] * reference[i]);
  const auto backward = test::max_relative_error(fast_dx.span(), dx.span(), magnitude.span());
  CHECK_MESSAGE(backward.error <= test::sum_tolerance(3), backward);
  CHECK(fast_dx.guards_intact());
  const float* y = reference.data();
  check_in_place(dy, fast_dx, [y](float* data) { kernels::tanh_backward(Size::n, y, data, data); });
  check_in_place(dy, dx, [y](float* data) { kernels::tanh_backward_reference(Size::n, y, data, data); });
}
TEST_CASE_TEMPLATE_APPLY(tanh_test, test::AwkwardLengths);

// Forward within sigmoid_ulps of 1 / (1 + std::exp(-x)); +-89.5 overflows exp and must still give
// 0 and 1. Backward dy y (1 - y): 2 gamma(3) relative to |dy y| (1 + |y|).
TEST_CASE_TEMPLATE_DEFINE("kernel activation: sigmoid matches the reference", Size, sigmoid_test) {
  const auto x = activation_input(Size::n, size_seed<Size>(507), Size::misalign);
  auto fast = test::random_buffer(Size::n, 1, 100, 200, 3 * Size::misalign);
  auto reference = test::random_buffer(Size::n, 2, 100, 200);
  kernels::sigmoid_forward(Size::n, x.data(), fast.data());
  kernels::sigmoid_forward_reference(Size::n, x.data(), reference.data());
  const auto forward = test::max_ulp_distance(fast.span(), reference.span());
  CHECK_MESSAGE(forward.error <= sigmoid_ulps, forward);
  CHECK(fast.guards_intact());
  check_in_place(x, fast, [](float* data) { kernels::sigmoid_forward(Size::n, data, data); });
  check_in_place(x, reference, [](float* data) { kernels::sigmoid_forward_reference(Size::n, data, data); });

  const auto dy = activation_gradient(Size::n, size_seed<Size>(508), Size::misalign);
  auto fast_dx = test::random_buffer(Size::n, 3, 100, 200, 3 * Size::misalign);
  auto dx = test::random_buffer(Size::n, 4, 100, 200);
  kernels::sigmoid_backward(Size::n, reference.data(), dy.data(), fast_dx.data());
  kernels::sigmoid_backward_reference(Size::n, reference.data(), dy.data(), dx.data());
  test::Guarded magnitude(Size::n);
  for (std::size_t i = 0; i < Size::n; ++i)
    magnitude[i] = std::fabs(dy[i] * reference[i]) * (1 + std::fabs(reference[i]));
  const auto backward = test::max_relative_error(fast_dx.span(), dx.span(), magnitude.span());
  CHECK_MESSAGE(backward.error <= test::sum_tolerance(3), backward);
  CHECK(fast_dx.guards_intact());
  const float* y = reference.data();
  check_in_place(dy, fast_dx, [y](float* data) { kernels::sigmoid_backward(Size::n, y, data, data); });
  check_in_place(dy, dx, [y](float* data) { kernels::sigmoid_backward_reference(Size::n, y, data, data); });
}
TEST_CASE_TEMPLATE_APPLY(sigmoid_test, test::AwkwardLengths);
