// kernels/int8_image.hpp: quantization of floats to codes, the int8 convolution (im2row and the
// int8 matrix product) and max pooling of channels-last codes, each against its reference bit
// for bit. Quantization runs on the awkward lengths of kernel_check.hpp with values beyond the
// representable range and NaN; the convolution on the best net's and LeNet's shapes and on
// strided, padded geometries with a non-zero input zero point (the padding's code), through
// every dot-product path this build compiles; pooling on channel counts below, at and above one
// SIMD width of bytes; the convolution with max pooling fused into it against the two
// references one after the other. Outputs lie between guard bytes that must survive.
// g++ 12 with AVX-512 (-march=native) warns inside its own avx512fintrin.h (`__Y` of
// _mm512_undefined_ps "is used uninitialized", GCC PR 105593) when xsimd's conversions inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/kernels/int8_image.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

namespace {

constexpr std::uint8_t guard_byte = 0xa5;
constexpr std::size_t guard = 64;

std::vector<std::uint8_t> random_codes(std::size_t n, std::uint64_t seed) {
  ctnn::Rng rng(seed);
  std::vector<std::uint8_t> codes(n);
  for (auto& code : codes) code = static_cast<std::uint8_t>(rng.below(256));
  return codes;
}

void check_same_bytes(const std::vector<std::uint8_t>& fast, const std::vector<std::uint8_t>& reference) {
  REQUIRE(fast.size() == reference.size());
  std::size_t mismatches = 0, first = 0;
  for (std::size_t i = 0; i < fast.size(); ++i)
    if (fast[i] != reference[i] && mismatches++ == 0) first = i;
  CAPTURE(first);
  CHECK_MESSAGE(mismatches == 0, mismatches << " of " << fast.size() << " bytes (guards included) differ");
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("kernel quantize: equals quantize_reference bit for bit", Case, quantize_test) {
  const auto x = test::random_buffer(Case::n, ctnn::derive_seed(901, Case::n), -2.0f, 3.0f, Case::misalign);
  std::vector<float> values(x.span().begin(), x.span().end());
  values[0] = std::numeric_limits<float>::quiet_NaN();  // the lowest code, in both
  if (values.size() > 2) values[2] = 0.5f * 0.02f;      // a tie: rounds to even in both
  for (const std::int32_t zero_point : {0, 37, 255}) {
    CAPTURE(zero_point);
    std::vector<std::uint8_t> fast(guard + Case::n + guard, guard_byte), reference = fast;
    kernels::quantize(Case::n, values.data(), 0.02f, zero_point, fast.data() + guard);
    kernels::quantize_reference(Case::n, values.data(), 0.02f, zero_point, reference.data() + guard);
    check_same_bytes(fast, reference);
    CHECK(reference[guard] == 0);
  }
}
TEST_CASE_TEMPLATE_APPLY(quantize_test, test::AwkwardLengths);

TEST_CASE("kernel quantize_image: three channels become channels-last codes") {
  constexpr std::size_t channels = 3, plane = 7 * 5;
  const auto x = test::random_buffer(channels * plane, 17, -1.0f, 1.0f);
  std::vector<std::uint8_t> codes(channels * plane);
  kernels::quantize_image(channels, plane, x.data(), 0.01f, 90, codes.data());
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t p = 0; p < plane; ++p) {
      std::uint8_t expected = 0;
      kernels::quantize_reference(1, x.data() + c * plane + p, 0.01f, 90, &expected);
      REQUIRE(codes[p * channels + c] == expected);
    }
}

// A convolution of a (Height,Width,Channels) code image by Filters kernels of Kernel x Kernel.
template <std::size_t Channels, std::size_t Height, std::size_t Width, std::size_t Filters, std::size_t Kernel,
          std::size_t Stride, std::size_t Padding>
struct Int8ConvCase {
  static constexpr kernels::Conv2dGeometry geometry{Channels, Height, Width, Filters, Kernel, Stride, Padding};
  static constexpr std::size_t in_size = Channels * Height * Width;
  static constexpr std::size_t out_size = Filters * geometry.out_plane();
  static constexpr std::size_t rows_size = geometry.out_plane() * kernels::int8_padded_depth(geometry.taps());
};

using BestConv1 = Int8ConvCase<1, 28, 28, 32, 3, 1, 0>;
using BestConv3 = Int8ConvCase<32, 12, 12, 64, 3, 1, 0>;
using LeNetConv2 = Int8ConvCase<6, 12, 12, 16, 5, 1, 0>;
using SameStride2 = Int8ConvCase<3, 9, 11, 5, 3, 2, 1>;
using WidePadding = Int8ConvCase<2, 5, 7, 17, 3, 1, 2>;
using PrimeChannels = Int8ConvCase<13, 6, 8, 33, 3, 1, 1>;
using Pointwise = Int8ConvCase<7, 3, 5, 4, 1, 1, 0>;
using OnePixel = Int8ConvCase<1, 1, 1, 1, 1, 1, 0>;

TYPE_TO_STRING_AS("c1 28x28 f32 k3 best net conv1", BestConv1);
TYPE_TO_STRING_AS("c32 12x12 f64 k3 best net conv3", BestConv3);
TYPE_TO_STRING_AS("c6 12x12 f16 k5 LeNet conv2", LeNetConv2);
TYPE_TO_STRING_AS("c3 9x11 f5 k3 s2 p1", SameStride2);
TYPE_TO_STRING_AS("c2 5x7 f17 k3 s1 p2", WidePadding);
TYPE_TO_STRING_AS("c13 6x8 f33 k3 s1 p1", PrimeChannels);
TYPE_TO_STRING_AS("c7 3x5 f4 k1", Pointwise);
TYPE_TO_STRING_AS("c1 1x1 f1 k1", OnePixel);

using Int8ConvCases =
    std::tuple<BestConv1, BestConv3, LeNetConv2, SameStride2, WidePadding, PrimeChannels, Pointwise, OnePixel>;

TEST_CASE_TEMPLATE_DEFINE("kernel int8_conv2d: every compiled path equals the reference bit for bit", Case,
                          int8_conv_test) {
  constexpr auto g = Case::geometry;
  const std::uint64_t seed = ctnn::derive_seed(907, Case::in_size * 131 + Case::out_size);
  const std::vector<std::uint8_t> x = random_codes(Case::in_size, seed);
  std::vector<std::int8_t> w(g.filters * g.taps());
  ctnn::Rng rng(seed + 1);
  for (auto& value : w) value = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
  std::vector<std::int32_t> packed(kernels::int8_packed_words(g.filters, g.taps()));
  kernels::pack_int8_weights(g.filters, g.taps(), w.data(), g.taps(), packed.data());
  std::vector<std::int32_t> offset(kernels::int8_padded_outputs(g.filters));
  std::vector<float> multiplier(offset.size());
  for (std::size_t f = 0; f < g.filters; ++f) {
    offset[f] = static_cast<std::int32_t>(rng.below(2001)) - 1000;
    multiplier[f] = rng.uniform(20.0f, 80.0f) / (127.0f * 255.0f / 3.0f * std::sqrt(static_cast<float>(g.taps())));
  }
  const kernels::Int8Weights weights{packed.data(), g.filters, g.taps()};
  const kernels::Requantize out{offset.data(), multiplier.data(), 3, 3};  // ReLU at code 3
  const std::uint8_t input_zero_point = 37;

  std::vector<std::uint8_t> reference(guard + Case::out_size + guard, guard_byte);
  std::vector<std::uint8_t> rows(guard + Case::rows_size + guard, guard_byte);
  kernels::int8_conv2d_reference(g, x.data(), input_zero_point, weights, out, reference.data() + guard, nullptr);
  const auto check = [&](auto convolve) {
    std::vector<std::uint8_t> fast(reference.size(), guard_byte);
    std::fill(rows.begin() + guard, rows.end() - guard, std::uint8_t{0xee});
    convolve(kernels::fixed<g>, x.data(), input_zero_point, weights, out, fast.data() + guard, rows.data() + guard);
    check_same_bytes(fast, reference);
    for (std::size_t i = 0; i < guard; ++i) REQUIRE(rows[i] == guard_byte);
    for (std::size_t i = rows.size() - guard; i < rows.size(); ++i) REQUIRE(rows[i] == guard_byte);
  };
  SUBCASE("xsimd int32 arithmetic") {
    check([](auto&&... arguments) { kernels::int8_conv2d<xsimd::default_arch, false>(arguments...); });
  }
  if constexpr (kernels::has_vnni<xsimd::default_arch>) {
    SUBCASE("AVX512-VNNI vpdpbusd") {
      check([](auto&&... arguments) { kernels::int8_conv2d<xsimd::default_arch, true>(arguments...); });
    }
  }
}
TEST_CASE_TEMPLATE_APPLY(int8_conv_test, Int8ConvCases);

TEST_CASE("kernel int8_conv2d: the reference gives a hand-computed value, padding read as the zero point") {
  // One channel 2x2 image [[10, 20], [30, 40]], a 3x3 kernel of ones, padding 1, zero point 5:
  // the top-left output sums the 4 pixels it covers and 5 padding taps of code 5.
  constexpr kernels::Conv2dGeometry g{1, 2, 2, 1, 3, 1, 1};
  const std::vector<std::uint8_t> x{10, 20, 30, 40};
  const std::vector<std::int8_t> w(9, 1);
  std::vector<std::int32_t> packed(kernels::int8_packed_words(1, 9));
  kernels::pack_int8_weights(1, 9, w.data(), 9, packed.data());
  std::vector<std::int32_t> offset(16, 0);
  std::vector<float> multiplier(16, 1.0f);
  std::vector<std::uint8_t> y(4);
  kernels::int8_conv2d_reference(g, x.data(), 5, {packed.data(), 1, 9}, {offset.data(), multiplier.data(), 0, 0},
                                 y.data(), nullptr);
  CHECK(y[0] == 100 + 5 * 5);
  CHECK(y[3] == 100 + 5 * 5);
}

// A convolution followed by non-overlapping max pooling of Window x Window.
template <class Conv, std::size_t Window>
struct Int8ConvPoolCase : Conv {
  static constexpr std::size_t window = Window;
  static constexpr std::size_t pooled_size = Conv::out_size / (Window * Window);
};

using LeNetConv1Pool = Int8ConvPoolCase<Int8ConvCase<1, 28, 28, 6, 5, 1, 0>, 2>;
using BestConv2Pool = Int8ConvPoolCase<Int8ConvCase<32, 26, 26, 32, 3, 1, 0>, 2>;
using PaddedPool = Int8ConvPoolCase<Int8ConvCase<3, 8, 8, 5, 3, 1, 1>, 2>;
using Window3Pool = Int8ConvPoolCase<Int8ConvCase<2, 11, 11, 19, 3, 1, 0>, 3>;

TYPE_TO_STRING_AS("c1 28x28 f6 k5 pool 2 LeNet conv1", LeNetConv1Pool);
TYPE_TO_STRING_AS("c32 26x26 f32 k3 pool 2 best net conv2", BestConv2Pool);
TYPE_TO_STRING_AS("c3 8x8 f5 k3 p1 pool 2", PaddedPool);
TYPE_TO_STRING_AS("c2 11x11 f19 k3 pool 3", Window3Pool);

using Int8ConvPoolCases = std::tuple<LeNetConv1Pool, BestConv2Pool, PaddedPool, Window3Pool>;

TEST_CASE_TEMPLATE_DEFINE("kernel int8_conv2d_max_pool: every compiled path equals convolution then pooling", Case,
                          int8_conv_pool_test) {
  constexpr auto g = Case::geometry;
  const std::uint64_t seed = ctnn::derive_seed(919, Case::in_size * 131 + Case::out_size);
  const std::vector<std::uint8_t> x = random_codes(Case::in_size, seed);
  std::vector<std::int8_t> w(g.filters * g.taps());
  ctnn::Rng rng(seed + 1);
  for (auto& value : w) value = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
  std::vector<std::int32_t> packed(kernels::int8_packed_words(g.filters, g.taps()));
  kernels::pack_int8_weights(g.filters, g.taps(), w.data(), g.taps(), packed.data());
  std::vector<std::int32_t> offset(kernels::int8_padded_outputs(g.filters));
  std::vector<float> multiplier(offset.size());
  for (std::size_t f = 0; f < g.filters; ++f) {
    offset[f] = static_cast<std::int32_t>(rng.below(2001)) - 1000;
    multiplier[f] = rng.uniform(20.0f, 80.0f) / (127.0f * 255.0f / 3.0f * std::sqrt(static_cast<float>(g.taps())));
  }
  const kernels::Int8Weights weights{packed.data(), g.filters, g.taps()};
  const kernels::Requantize out{offset.data(), multiplier.data(), 9, 0};
  std::vector<std::uint8_t> reference(guard + Case::pooled_size + guard, guard_byte);
  kernels::int8_conv2d_max_pool_reference<Case::window>(g, x.data(), 21, weights, out, reference.data() + guard,
                                                        nullptr);
  std::vector<std::uint8_t> rows(Case::rows_size);
  const auto check = [&](auto convolve) {
    std::vector<std::uint8_t> fast(reference.size(), guard_byte);
    convolve(kernels::fixed<g>, x.data(), std::uint8_t{21}, weights, out, fast.data() + guard, rows.data());
    check_same_bytes(fast, reference);
  };
  SUBCASE("xsimd int32 arithmetic") {
    check([](auto&&... arguments) {
      kernels::int8_conv2d_max_pool<Case::window, xsimd::default_arch, false>(arguments...);
    });
  }
  if constexpr (kernels::has_vnni<xsimd::default_arch>) {
    SUBCASE("AVX512-VNNI vpdpbusd") {
      check([](auto&&... arguments) {
        kernels::int8_conv2d_max_pool<Case::window, xsimd::default_arch, true>(arguments...);
      });
    }
  }
}
TEST_CASE_TEMPLATE_APPLY(int8_conv_pool_test, Int8ConvPoolCases);

template <std::size_t Channels, std::size_t Height, std::size_t Width, std::size_t Window, std::size_t Stride>
struct Int8PoolCase {
  static constexpr kernels::PoolGeometry geometry{Channels, Height, Width, Window, Stride};
  static constexpr std::size_t in_size = Channels * Height * Width;
  static constexpr std::size_t out_size = Channels * geometry.out_height() * geometry.out_width();
};

using BestPool1 = Int8PoolCase<32, 24, 24, 2, 2>;
using BestPool2 = Int8PoolCase<64, 8, 8, 2, 2>;
using LeNetPool = Int8PoolCase<6, 24, 24, 2, 2>;
using Overlapping = Int8PoolCase<3, 9, 13, 3, 2>;
using AboveWidth = Int8PoolCase<70, 5, 5, 2, 1>;
using OneWindow = Int8PoolCase<1, 5, 5, 3, 3>;
using ManyChannels = Int8PoolCase<129, 4, 6, 2, 2>;

TYPE_TO_STRING_AS("c32 24x24 window 2 best net", BestPool1);
TYPE_TO_STRING_AS("c64 8x8 window 2 best net", BestPool2);
TYPE_TO_STRING_AS("c6 24x24 window 2 LeNet", LeNetPool);
TYPE_TO_STRING_AS("c3 9x13 window 3 stride 2", Overlapping);
TYPE_TO_STRING_AS("c70 5x5 window 2 stride 1", AboveWidth);
TYPE_TO_STRING_AS("c1 5x5 window 3 stride 3", OneWindow);
TYPE_TO_STRING_AS("c129 4x6 window 2", ManyChannels);

using Int8PoolCases = std::tuple<BestPool1, BestPool2, LeNetPool, Overlapping, AboveWidth, OneWindow, ManyChannels>;

TEST_CASE_TEMPLATE_DEFINE("kernel int8_max_pool: equals the reference bit for bit", Case, int8_pool_test) {
  constexpr auto g = Case::geometry;
  const std::vector<std::uint8_t> x = random_codes(Case::in_size, ctnn::derive_seed(913, Case::in_size));
  std::vector<std::uint8_t> fast(guard + Case::out_size + guard, guard_byte), reference = fast;
  kernels::int8_max_pool(kernels::fixed<g>, x.data(), fast.data() + guard);
  kernels::int8_max_pool_reference(g, x.data(), reference.data() + guard);
  check_same_bytes(fast, reference);
}
TEST_CASE_TEMPLATE_APPLY(int8_pool_test, Int8PoolCases);

TEST_CASE("kernel int8_max_pool: the reference takes each channel's maximum over the window") {
  // A 2x2 image of 2 channels, channels-last: pixel values (1, 200), (7, 3), (5, 9), (2, 250).
  constexpr kernels::PoolGeometry g{2, 2, 2, 2, 2};
  const std::vector<std::uint8_t> x{1, 200, 7, 3, 5, 9, 2, 250};
  std::vector<std::uint8_t> y(2);
  kernels::int8_max_pool_reference(g, x.data(), y.data());
  CHECK(y == std::vector<std::uint8_t>{7, 250});
}
