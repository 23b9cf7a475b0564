// MaxPool and AvgPool: shapes by hand, forward against the definition, the routing of ties, and
// the generic gradient check over window/stride combinations, overlapping 3/2 included.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <memory>
#include <support/gradient_check.hpp>
#include <type_traits>

#include <ctnn/ctnn.hpp>

namespace {

using ctnn::AvgPool;
using ctnn::MaxPool;
using ctnn::Shape;

template <std::size_t WindowSize, std::size_t StrideSize, class InType>
struct Case {
  static constexpr std::size_t window = WindowSize, stride = StrideSize;
  using In = InType;
  using Max = MaxPool<WindowSize, StrideSize>;
  using Avg = AvgPool<WindowSize, StrideSize>;
};

using Two = Case<2, 2, Shape<3, 8, 8>>;
using ThreeTwo = Case<3, 2, Shape<2, 9, 9>>;  // overlapping windows
using TwoOne = Case<2, 1, Shape<1, 5, 6>>;    // overlapping, stride 1
using Three = Case<3, 3, Shape<2, 6, 9>>;
using TwoWide = Case<2, 2, Shape<2, 4, 40>>;       // 20 outputs per row: whole SIMD batches and a tail
using ThreeTwoWide = Case<3, 2, Shape<1, 5, 37>>;  // 18 outputs per row, overlapping
using Whole = Case<4, 4, Shape<2, 4, 4>>;          // one window covers the image

}  // namespace

TYPE_TO_STRING_AS("2/2 on (3, 8, 8)", Two);
TYPE_TO_STRING_AS("3/2 on (2, 9, 9)", ThreeTwo);
TYPE_TO_STRING_AS("2/1 on (1, 5, 6)", TwoOne);
TYPE_TO_STRING_AS("3/3 on (2, 6, 9)", Three);
TYPE_TO_STRING_AS("2/2 on (2, 4, 40)", TwoWide);
TYPE_TO_STRING_AS("3/2 on (1, 5, 37)", ThreeTwoWide);
TYPE_TO_STRING_AS("4/4 on (2, 4, 4)", Whole);

// Output (C, (H - window) / S + 1, (W - window) / S + 1); no parameters. By hand.
static_assert(std::is_same_v<MaxPool<2>::bind<Shape<3, 8, 8>>::out_shape, Shape<3, 4, 4>>);
static_assert(std::is_same_v<MaxPool<3, 2>::bind<Shape<2, 9, 9>>::out_shape, Shape<2, 4, 4>>);
static_assert(std::is_same_v<MaxPool<2, 1>::bind<Shape<1, 5, 6>>::out_shape, Shape<1, 4, 5>>);
static_assert(std::is_same_v<MaxPool<3>::bind<Shape<2, 6, 9>>::out_shape, Shape<2, 2, 3>>);
static_assert(std::is_same_v<MaxPool<3, 2>::bind<Shape<1, 5, 37>>::out_shape, Shape<1, 2, 18>>);
static_assert(std::is_same_v<MaxPool<2>::bind<Shape<6, 24, 24>>::out_shape, Shape<6, 12, 12>>);
static_assert(std::is_same_v<AvgPool<3, 2>::bind<Shape<2, 9, 9>>::out_shape, Shape<2, 4, 4>>);
static_assert(std::is_same_v<AvgPool<4>::bind<Shape<2, 4, 4>>::out_shape, Shape<2, 1, 1>>);
static_assert(MaxPool<2>::bind<Shape<3, 8, 8>>::param_count == 0 && MaxPool<2>::bind<Shape<3, 8, 8>>::flops == 0);
static_assert(AvgPool<2>::bind<Shape<3, 8, 8>>::param_count == 0);
static_assert(ctnn::Layer<MaxPool<3, 2>::bind<Shape<2, 9, 9>>> && ctnn::Layer<AvgPool<3, 2>::bind<Shape<2, 9, 9>>>);

namespace {

// y[c,oh,ow] = max (or mean) over i, j < window of x[c, oh S + i, ow S + j], from the definition.
template <class C, bool Max>
double pooled(const ctnn::tensor_of<typename C::In>& x, std::size_t c, std::size_t oh, std::size_t ow) {
  double best = -std::numeric_limits<double>::infinity(), total = 0;
  for (std::size_t i = 0; i < C::window; ++i)
    for (std::size_t j = 0; j < C::window; ++j) {
      const double v = x(c, oh * C::stride + i, ow * C::stride + j);
      best = std::max(best, v);
      total += v;
    }
  return Max ? best : total / static_cast<double>(C::window * C::window);
}

template <class C, bool Max, class Spec>
void check_forward() {
  using L = typename Spec::template bind<typename C::In>;
  using Out = typename L::out_shape;
  ctnn::Rng rng(3);
  ctnn::tensor_of<typename C::In> x;
  for (std::size_t i = 0; i < x.size; ++i) x[i] = rng.uniform(-2.0f, 2.0f);
  ctnn::tensor_of<Out> y;
  y.fill(1e6f);
  L layer;
  layer.forward(x, y);
  for (std::size_t c = 0; c < Out::channels; ++c)
    for (std::size_t oh = 0; oh < Out::height; ++oh)
      for (std::size_t ow = 0; ow < Out::width; ++ow) {
        CAPTURE(c);
        CAPTURE(oh);
        CAPTURE(ow);
        CHECK(y(c, oh, ow) == doctest::Approx(pooled<C, Max>(x, c, oh, ow)).epsilon(1e-6));
      }
}

}  // namespace

TEST_CASE_TEMPLATE("MaxPool: forward takes the maximum of each window", C, Two, ThreeTwo, TwoOne, Three, TwoWide,
                   ThreeTwoWide, Whole) {
  check_forward<C, true, typename C::Max>();
}

TEST_CASE_TEMPLATE("AvgPool: forward takes the mean of each window", C, Two, ThreeTwo, TwoOne, Three, TwoWide,
                   ThreeTwoWide, Whole) {
  check_forward<C, false, typename C::Avg>();
}

TEST_CASE_TEMPLATE("MaxPool: gradients match finite differences", C, Two, ThreeTwo, TwoOne, Three, TwoWide,
                   ThreeTwoWide, Whole) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_gradients<typename C::Max, typename C::In>(seed).passed());
  }
}

TEST_CASE_TEMPLATE("AvgPool: gradients match finite differences", C, Two, ThreeTwo, TwoOne, Three, TwoWide,
                   ThreeTwoWide, Whole) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_gradients<typename C::Avg, typename C::In>(seed).passed());
  }
}

TEST_CASE_TEMPLATE("MaxPool: a tied window sends its gradient to one position, the first in row-major order", C, Two,
                   Three, TwoWide) {
  // A window of equal values (zeros after a ReLU) must not multiply the gradient: each dy goes to
  // exactly one input, the window's first (top-left) one.
  using L = typename C::Max::template bind<typename C::In>;
  using Out = typename L::out_shape;
  L layer;
  ctnn::tensor_of<typename C::In> x, dx;
  ctnn::tensor_of<Out> y, dy;
  x.fill(0.0f);
  layer.forward(x, y);
  for (std::size_t i = 0; i < dy.size; ++i) dy[i] = static_cast<float>(i + 1);
  dx.fill(-7.0f);
  layer.backward(x, y, dy, &dx, layer);
  for (std::size_t c = 0; c < Out::channels; ++c)
    for (std::size_t oh = 0; oh < Out::height; ++oh)
      for (std::size_t ow = 0; ow < Out::width; ++ow)
        for (std::size_t i = 0; i < C::window; ++i)
          for (std::size_t j = 0; j < C::window; ++j) {
            const float expected =
                i == 0 && j == 0 ? static_cast<float>((c * Out::height + oh) * Out::width + ow + 1) : 0.0f;
            CHECK(dx(c, oh * C::stride + i, ow * C::stride + j) == expected);
          }
}

TEST_CASE_TEMPLATE("MaxPool: overlapping windows add the gradients of every window an input wins", C, ThreeTwo,
                   ThreeTwoWide) {
  // With stride 2 and window 3, column 2 belongs to the windows at ow = 0 and ow = 1. Make one
  // input the maximum of all four windows that contain it.
  using L = typename C::Max::template bind<typename C::In>;
  using Out = typename L::out_shape;
  L layer;
  ctnn::tensor_of<typename C::In> x, dx;
  ctnn::tensor_of<Out> y, dy;
  for (std::size_t i = 0; i < x.size; ++i) x[i] = -static_cast<float>(i % 7);
  x(0, 2, 2) = 10.0f;
  layer.forward(x, y);
  dy.fill(1.0f);
  layer.backward(x, y, dy, &dx, layer);
  CHECK(dx(0, 2, 2) == 4.0f);  // windows (0, 0), (0, 1), (1, 0), (1, 1)
  double total = 0;
  for (std::size_t i = 0; i < dx.size; ++i) total += dx[i];
  CHECK(total == doctest::Approx(static_cast<double>(Out::size)));  // each window routes its dy once
}

TEST_CASE("AvgPool: backward spreads dy / window^2 over every window position") {
  using L = AvgPool<3, 2>::bind<Shape<1, 5, 5>>;  // windows overlap on rows and columns 2
  L layer;
  ctnn::tensor_of<Shape<1, 5, 5>> x, dx;
  ctnn::tensor_of<Shape<1, 2, 2>> y, dy;
  x.fill(0.0f);
  layer.forward(x, y);
  dy.fill(9.0f);  // each window position receives 9 / 9 = 1 per window it lies in
  dx.fill(-3.0f);
  layer.backward(x, y, dy, &dx, layer);
  CHECK(dx(0, 0, 0) == doctest::Approx(1.0));
  CHECK(dx(0, 0, 2) == doctest::Approx(2.0));
  CHECK(dx(0, 2, 2) == doctest::Approx(4.0));
  CHECK(dx(0, 4, 4) == doctest::Approx(1.0));
  CHECK(dx(0, 1, 3) == doctest::Approx(1.0));
}

TEST_CASE("Pool: labels") {
  CHECK(MaxPool<2>::bind<Shape<1, 4, 4>>::label() == "MaxPool<2>");
  CHECK(MaxPool<3, 2>::bind<Shape<1, 5, 5>>::label() == "MaxPool<3, 2>");
  CHECK(AvgPool<2>::bind<Shape<1, 4, 4>>::label() == "AvgPool<2>");
}
