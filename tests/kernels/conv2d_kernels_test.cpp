// kernels/conv2d.hpp: forward, backward_data and backward_weights against their references on
// LeNet's and the best net's shapes and on awkward geometries (strides, padding, 1x1 outputs,
// output widths around the SIMD width); the references against hand-computed values and against
// each other through the adjoint identities. The SIMD flavours run with the geometry fixed at
// compile time (kernels::fixed, as the Conv layer calls them) on every case and with the run-time
// geometry on the hand-computed ones. They get a guarded im2col scratch of taps x output plane
// floats, which must be large enough and is checked for overruns.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <vector>

#include <ctnn/kernels/conv2d.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;
using kernels::Conv2dGeometry;

// One convolution geometry: x is (Channels,Height,Width), w is (Filters,Channels,Kernel,Kernel).
template <std::size_t Channels, std::size_t Height, std::size_t Width, std::size_t Filters, std::size_t Kernel,
          std::size_t Stride, std::size_t Padding, std::size_t Misalign = 0>
struct ConvCase {
  static constexpr Conv2dGeometry geometry{Channels, Height, Width, Filters, Kernel, Stride, Padding};
  static constexpr std::size_t misalign = Misalign;
  static constexpr std::size_t in_size = Channels * Height * Width;
  static constexpr std::size_t weight_size = Filters * Channels * Kernel * Kernel;
  static constexpr std::size_t out_size = Filters * geometry.out_plane();
  static constexpr std::size_t columns_size = geometry.taps() * geometry.out_plane();  // the im2col scratch
};

using LeNetConv1 = ConvCase<1, 28, 28, 6, 5, 1, 0>;
using LeNetConv2 = ConvCase<6, 12, 12, 16, 5, 1, 0>;
using Single = ConvCase<1, 1, 1, 1, 1, 1, 0>;
using SamePadding3 = ConvCase<3, 7, 11, 5, 3, 1, 1>;
using Stride2Padding1 = ConvCase<2, 13, 13, 3, 3, 2, 1>;
using Stride3Kernel3 = ConvCase<3, 9, 9, 2, 3, 3, 0>;
using SamePadding5 = ConvCase<5, 17, 19, 7, 5, 1, 2>;
using BestNet = ConvCase<32, 14, 14, 64, 3, 1, 1>;
using KernelIsImage = ConvCase<4, 5, 5, 3, 5, 1, 0>;
using PrimeChannels = ConvCase<13, 8, 10, 4, 3, 1, 0, 1>;
using WideStride2 = ConvCase<3, 9, 67, 4, 3, 2, 1, 1>;
using WideStride3EvenKernel = ConvCase<2, 8, 70, 3, 4, 3, 2>;
using FullPadding = ConvCase<2, 6, 6, 3, 3, 1, 2>;
using PaddingAroundPixel = ConvCase<1, 1, 1, 2, 5, 1, 2>;
using TallStride2 = ConvCase<2, 3, 2, 2, 3, 2, 2>;
using StrideAboveKernel = ConvCase<2, 11, 11, 2, 2, 3, 0>;
using Pointwise = ConvCase<17, 5, 9, 3, 1, 1, 0, 1>;
using OutWidth2WPlus1 = ConvCase<3, 6, 2 * test::width + 3, 2, 3, 1, 0>;
using OutWidthWMinus1 = ConvCase<2, 5, test::width - 1, 3, 3, 1, 1, 1>;

TYPE_TO_STRING_AS("c1 28x28 f6 k5 s1 p0 LeNet conv1", LeNetConv1);
TYPE_TO_STRING_AS("c6 12x12 f16 k5 s1 p0 LeNet conv2", LeNetConv2);
TYPE_TO_STRING_AS("c1 1x1 f1 k1 s1 p0", Single);
TYPE_TO_STRING_AS("c3 7x11 f5 k3 s1 p1 same padding", SamePadding3);
TYPE_TO_STRING_AS("c2 13x13 f3 k3 s2 p1", Stride2Padding1);
TYPE_TO_STRING_AS("c3 9x9 f2 k3 s3 p0", Stride3Kernel3);
TYPE_TO_STRING_AS("c5 17x19 f7 k5 s1 p2 same padding", SamePadding5);
TYPE_TO_STRING_AS("c32 14x14 f64 k3 s1 p1 best net", BestNet);
TYPE_TO_STRING_AS("c4 5x5 f3 k5 s1 p0 kernel is the image", KernelIsImage);
TYPE_TO_STRING_AS("c13 8x10 f4 k3 s1 p0 prime channels unaligned", PrimeChannels);
TYPE_TO_STRING_AS("c3 9x67 f4 k3 s2 p1 wide unaligned", WideStride2);
TYPE_TO_STRING_AS("c2 8x70 f3 k4 s3 p2 wide even kernel", WideStride3EvenKernel);
TYPE_TO_STRING_AS("c2 6x6 f3 k3 s1 p2 full padding", FullPadding);
TYPE_TO_STRING_AS("c1 1x1 f2 k5 s1 p2 padding around one pixel", PaddingAroundPixel);
TYPE_TO_STRING_AS("c2 3x2 f2 k3 s2 p2", TallStride2);
TYPE_TO_STRING_AS("c2 11x11 f2 k2 s3 p0 stride above kernel", StrideAboveKernel);
TYPE_TO_STRING_AS("c17 5x9 f3 k1 s1 p0 pointwise unaligned", Pointwise);
TYPE_TO_STRING_AS("c3 6x(2W+3) f3 k3 s1 p0 output width 2W+1", OutWidth2WPlus1);
TYPE_TO_STRING_AS("c2 5x(W-1) f3 k3 s1 p1 output width W-1 unaligned", OutWidthWMinus1);

using ConvCases =
    std::tuple<LeNetConv1, LeNetConv2, Single, SamePadding3, Stride2Padding1, Stride3Kernel3, SamePadding5, BestNet,
               KernelIsImage, PrimeChannels, WideStride2, WideStride3EvenKernel, FullPadding, PaddingAroundPixel,
               TallStride2, StrideAboveKernel, Pointwise, OutWidth2WPlus1, OutWidthWMinus1>;

namespace {

// Random x, w, b and dy for one geometry, from seeds derived from the case's sizes.
template <class Case>
struct ConvData {
  static constexpr std::uint64_t seed = ctnn::derive_seed(201, Case::in_size * 1'000'003 + Case::out_size);
  test::Guarded x = test::random_buffer(Case::in_size, seed, -1, 1, Case::misalign);
  test::Guarded w = test::random_buffer(Case::weight_size, seed + 1, -0.5f, 0.5f, Case::misalign);
  test::Guarded b = test::random_buffer(Case::geometry.filters, seed + 2, -0.5f, 0.5f);
  test::Guarded dy = test::random_buffer(Case::out_size, seed + 3, -1, 1, Case::misalign);
};

double inner_product(const test::Guarded& a, const test::Guarded& b) {
  REQUIRE(a.size() == b.size());
  double total = 0;
  for (std::size_t i = 0; i < a.size(); ++i) total += static_cast<double>(a[i]) * b[i];
  return total;
}

}  // namespace

TEST_CASE("kernel conv2d: the references give hand-computed values") {
  // x = [1 2 3; 4 5 6; 7 8 9], w = [1 2; 3 4], b = 0.5.
  const std::array<float, 9> x{1, 2, 3, 4, 5, 6, 7, 8, 9};
  const std::array<float, 4> w{1, 2, 3, 4};
  const std::array<float, 1> b{0.5f};
  std::array<float, 16> columns{};  // taps * out_plane = 4 * 4 for both geometries

  SUBCASE("stride 1, no padding") {
    constexpr Conv2dGeometry g{1, 3, 3, 1, 2, 1, 0};
    // y[0,0] = 1*1 + 2*2 + 3*4 + 4*5 + 0.5, and so on.
    const std::array<float, 4> expected{37.5f, 47.5f, 67.5f, 77.5f};
    std::array<float, 4> y{}, fast{};
    kernels::conv2d_forward_reference(g, x.data(), w.data(), b.data(), y.data(), columns.data());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), fast.data(), columns.data());
    CHECK(y == expected);
    CHECK(fast == expected);

    // dx[r,c] = sum over outputs (oh,ow) covering (r,c) of w[r-oh, c-ow] dy[oh,ow], with dy = [1 -1; 2 0.5].
    const std::array<float, 4> dy{1, -1, 2, 0.5f};
    const std::array<float, 9> expected_dx{1, 1, -2, 5, 5.5f, -3, 6, 9.5f, 2};
    std::array<float, 9> dx{}, fast_dx{};
    dx.fill(99);
    fast_dx.fill(99);
    kernels::conv2d_backward_data_reference(g, w.data(), dy.data(), dx.data(), columns.data());
    kernels::conv2d_backward_data(g, w.data(), dy.data(), fast_dx.data(), columns.data());
    CHECK(dx == expected_dx);
    CHECK(fast_dx == expected_dx);

    // dw[i,j] = sum dy[oh,ow] x[oh+i, ow+j] = (9.5, 12, 17, 19.5) and db = 2.5, added to ones.
    const std::array<float, 4> expected_dw{10.5f, 13, 18, 20.5f};
    std::array<float, 4> dw{1, 1, 1, 1}, fast_dw{1, 1, 1, 1};
    std::array<float, 1> db{1}, fast_db{1};
    kernels::conv2d_backward_weights_reference(g, x.data(), dy.data(), dw.data(), db.data(), columns.data());
    kernels::conv2d_backward_weights(g, x.data(), dy.data(), fast_dw.data(), fast_db.data(), columns.data());
    CHECK(dw == expected_dw);
    CHECK(fast_dw == expected_dw);
    CHECK(db[0] == 3.5f);
    CHECK(fast_db[0] == 3.5f);
  }

  SUBCASE("stride 2, padding 1") {
    constexpr Conv2dGeometry g{1, 3, 3, 1, 2, 2, 1};
    // Window (oh,ow) covers rows 2oh-1..2oh and columns 2ow-1..2ow of x; the rest is zero padding.
    // y[0,0] = x[0,0] w[1,1]; y[0,1] = x[0,1] w[1,0] + x[0,2] w[1,1];
    // y[1,0] = x[1,0] w[0,1] + x[2,0] w[1,1]; y[1,1] = the whole kernel over x[1..2, 1..2].
    const std::array<float, 4> expected{4.5f, 18.5f, 36.5f, 77.5f};
    std::array<float, 4> y{}, fast{};
    kernels::conv2d_forward_reference(g, x.data(), w.data(), b.data(), y.data(), columns.data());
    kernels::conv2d_forward(g, x.data(), w.data(), b.data(), fast.data(), columns.data());
    CHECK(y == expected);
    CHECK(fast == expected);

    // Each x[r,c] is covered by exactly one window, through tap (r+1-2oh, c+1-2ow).
    const std::array<float, 4> dy{1, -1, 2, 0.5f};
    const std::array<float, 9> expected_dx{4, -3, -4, 4, 0.5f, 1, 8, 1.5f, 2};
    std::array<float, 9> dx{}, fast_dx{};
    kernels::conv2d_backward_data_reference(g, w.data(), dy.data(), dx.data(), columns.data());
    kernels::conv2d_backward_data(g, w.data(), dy.data(), fast_dx.data(), columns.data());
    CHECK(dx == expected_dx);
    CHECK(fast_dx == expected_dx);

    // dw[0,0] = dy[1,1] x[1,1]; dw[0,1] = dy[1,0] x[1,0] + dy[1,1] x[1,2];
    // dw[1,0] = dy[0,1] x[0,1] + dy[1,1] x[2,1]; dw[1,1] = sum dy[oh,ow] x[2oh, 2ow].
    const std::array<float, 4> expected_dw{2.5f, 11, 2, 16.5f};
    std::array<float, 4> dw{}, fast_dw{};
    std::array<float, 1> db{}, fast_db{};
    kernels::conv2d_backward_weights_reference(g, x.data(), dy.data(), dw.data(), db.data(), columns.data());
    kernels::conv2d_backward_weights(g, x.data(), dy.data(), fast_dw.data(), fast_db.data(), columns.data());
    CHECK(dw == expected_dw);
    CHECK(fast_dw == expected_dw);
    CHECK(db[0] == 2.5f);
    CHECK(fast_db[0] == 2.5f);
  }
}

// With b = 0 the forward map x -> y is linear in x and in w, so the references must satisfy
// <y, dy> = <x, dx> = <w, dw>: backward_data and backward_weights are the adjoints of forward.
// Each side is a float reference result, so the sides agree within the sum bound of forward plus
// that of the backward pass, relative to sum |w| |x| |dy| over all taps.
TEST_CASE_TEMPLATE_DEFINE("kernel conv2d: the references are adjoint to each other", Case, conv2d_adjoint_test) {
  constexpr Conv2dGeometry g = Case::geometry;
  const ConvData<Case> data;
  test::Guarded columns(Case::columns_size);
  const auto zero_bias = test::zeros(g.filters);

  test::Guarded y(Case::out_size), dx(Case::in_size);
  auto dw = test::zeros(Case::weight_size), db = test::zeros(g.filters);
  kernels::conv2d_forward_reference(g, data.x.data(), data.w.data(), zero_bias.data(), y.data(), columns.data());
  kernels::conv2d_backward_data_reference(g, data.w.data(), data.dy.data(), dx.data(), columns.data());
  kernels::conv2d_backward_weights_reference(g, data.x.data(), data.dy.data(), dw.data(), db.data(), columns.data());

  test::Guarded magnitude_y(Case::out_size);
  kernels::conv2d_forward_reference(g, test::absolute(data.x).data(), test::absolute(data.w).data(), zero_bias.data(),
                                    magnitude_y.data(), columns.data());
  const double magnitude = inner_product(magnitude_y, test::absolute(data.dy));
  const double forward = inner_product(y, data.dy);
  const double tolerance =
      (test::gamma(g.taps()) + test::gamma(g.filters * g.kernel * g.kernel + g.out_plane())) * magnitude + 1e-30;
  CAPTURE(forward);
  CAPTURE(magnitude);
  CHECK(std::fabs(forward - inner_product(data.x, dx)) <= tolerance);
  CHECK(std::fabs(forward - inner_product(data.w, dw)) <= tolerance);

  // db[f] = sum of dy over filter f's plane.
  for (std::size_t f = 0; f < g.filters; ++f) {
    double total = 0, total_magnitude = 0;
    for (std::size_t i = 0; i < g.out_plane(); ++i) {
      total += data.dy[f * g.out_plane() + i];
      total_magnitude += std::fabs(data.dy[f * g.out_plane() + i]);
    }
    CAPTURE(f);
    CHECK(std::fabs(db[f] - total) <= test::gamma(g.out_plane()) * total_magnitude);
  }
}
TEST_CASE_TEMPLATE_APPLY(conv2d_adjoint_test, ConvCases);

// Each output is b plus taps products: 2 gamma(taps + 1) relative to |b| + sum |w x|. y starts as
// garbage, which forward must overwrite.
TEST_CASE_TEMPLATE_DEFINE("kernel conv2d: conv2d_forward matches conv2d_forward_reference", Case, conv2d_forward_test) {
  constexpr Conv2dGeometry g = Case::geometry;
  const ConvData<Case> data;
  test::Guarded columns(Case::columns_size);
  auto fast = test::random_buffer(Case::out_size, 1, 100, 200, Case::misalign);
  auto reference = test::random_buffer(Case::out_size, 2, 100, 200);
  kernels::conv2d_forward(kernels::fixed<g>, data.x.data(), data.w.data(), data.b.data(), fast.data(), columns.data());
  kernels::conv2d_forward_reference(g, data.x.data(), data.w.data(), data.b.data(), reference.data(), columns.data());

  test::Guarded magnitude(Case::out_size);
  kernels::conv2d_forward_reference(g, test::absolute(data.x).data(), test::absolute(data.w).data(),
                                    test::absolute(data.b).data(), magnitude.data(), columns.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(g.taps() + 1), worst);
  CHECK(fast.guards_intact());
  CHECK(columns.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(conv2d_forward_test, ConvCases);

// Each dx element sums at most filters * kernel^2 products. dx starts as garbage, which
// backward_data must overwrite; inputs no window reaches must come out exactly 0.
TEST_CASE_TEMPLATE_DEFINE("kernel conv2d: conv2d_backward_data matches conv2d_backward_data_reference", Case,
                          conv2d_backward_data_test) {
  constexpr Conv2dGeometry g = Case::geometry;
  const ConvData<Case> data;
  test::Guarded columns(Case::columns_size);
  auto fast = test::random_buffer(Case::in_size, 3, 100, 200, Case::misalign);
  auto reference = test::random_buffer(Case::in_size, 4, 100, 200);
  kernels::conv2d_backward_data(kernels::fixed<g>, data.w.data(), data.dy.data(), fast.data(), columns.data());
  kernels::conv2d_backward_data_reference(g, data.w.data(), data.dy.data(), reference.data(), columns.data());

  test::Guarded magnitude(Case::in_size);
  kernels::conv2d_backward_data_reference(g, test::absolute(data.w).data(), test::absolute(data.dy).data(),
                                          magnitude.data(), columns.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(g.filters * g.kernel * g.kernel), worst);
  CHECK(fast.guards_intact());
  CHECK(columns.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(conv2d_backward_data_test, ConvCases);

// backward_weights accumulates: dw and db start from non-zero random values, and each element is
// that value plus out_plane products.
TEST_CASE_TEMPLATE_DEFINE("kernel conv2d: conv2d_backward_weights matches conv2d_backward_weights_reference", Case,
                          conv2d_backward_weights_test) {
  constexpr Conv2dGeometry g = Case::geometry;
  const ConvData<Case> data;
  test::Guarded columns(Case::columns_size);
  const auto dw_start = test::random_buffer(Case::weight_size, 5, -2, 2);
  const auto db_start = test::random_buffer(g.filters, 6, -2, 2);
  auto fast_dw = test::copy_of(dw_start, Case::misalign), reference_dw = test::copy_of(dw_start);
  auto fast_db = test::copy_of(db_start, Case::misalign), reference_db = test::copy_of(db_start);
  kernels::conv2d_backward_weights(kernels::fixed<g>, data.x.data(), data.dy.data(), fast_dw.data(), fast_db.data(),
                                   columns.data());
  kernels::conv2d_backward_weights_reference(g, data.x.data(), data.dy.data(), reference_dw.data(), reference_db.data(),
                                             columns.data());

  auto magnitude_dw = test::absolute(dw_start);
  auto magnitude_db = test::absolute(db_start);
  kernels::conv2d_backward_weights_reference(g, test::absolute(data.x).data(), test::absolute(data.dy).data(),
                                             magnitude_dw.data(), magnitude_db.data(), columns.data());
  const auto worst_dw = test::max_relative_error(fast_dw.span(), reference_dw.span(), magnitude_dw.span());
  CHECK_MESSAGE(worst_dw.error <= test::sum_tolerance(g.out_plane() + 1), worst_dw);
  const auto worst_db = test::max_relative_error(fast_db.span(), reference_db.span(), magnitude_db.span());
  CHECK_MESSAGE(worst_db.error <= test::sum_tolerance(g.out_plane() + 1), worst_db);
  CHECK(fast_dw.guards_intact());
  CHECK(fast_db.guards_intact());
  CHECK(columns.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(conv2d_backward_weights_test, ConvCases);
