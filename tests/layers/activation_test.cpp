// Activation layers: each one's values and derivative, in-place use, and the generic gradient
// check (inputs kept away from ReLU's kink by the check's distinct-grid input).
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <ratio>
#include <support/gradient_check.hpp>
#include <type_traits>

#include <ctnn/ctnn.hpp>

namespace {

using ctnn::Shape;
using Leaky = ctnn::LeakyReLU<std::ratio<1, 5>>;

double expected_value(double x, std::string_view name, double slope) {
  if (name == "ReLU") return x > 0 ? x : 0;
  if (name == "LeakyReLU") return x > 0 ? x : slope * x;
  if (name == "Tanh") return std::tanh(x);
  if (name == "Sigmoid") return 1 / (1 + std::exp(-x));
  return x;
}
double expected_derivative(double x, std::string_view name, double slope) {
  if (name == "ReLU") return x > 0 ? 1 : 0;
  if (name == "LeakyReLU") return x > 0 ? 1 : slope;
  if (name == "Tanh") return 1 - std::tanh(x) * std::tanh(x);
  if (name == "Sigmoid") {
    const double s = 1 / (1 + std::exp(-x));
    return s * (1 - s);
  }
  return 1;
}

}  // namespace

TYPE_TO_STRING_AS("LeakyReLU<1/5>", Leaky);
TYPE_TO_STRING(ctnn::ReLU);
TYPE_TO_STRING(ctnn::Tanh);
TYPE_TO_STRING(ctnn::Sigmoid);
TYPE_TO_STRING(ctnn::Identity);

static_assert(std::is_same_v<ctnn::ReLU::bind<Shape<3, 5, 7>>::out_shape, Shape<3, 5, 7>>);
static_assert(ctnn::Tanh::bind<Shape<3, 5, 7>>::param_count == 0);
static_assert(ctnn::Sigmoid::bind<Shape<3, 5, 7>>::flops == 0);
static_assert(ctnn::Layer<ctnn::ReLU::bind<Shape<3, 5, 7>>>);
static_assert(Leaky::slope == 0.2f);
static_assert(ctnn::LeakyReLU<>::slope == 0.01f);

TEST_CASE_TEMPLATE("Activation: values and derivatives against the formulas", A, ctnn::ReLU, Leaky, ctnn::Tanh,
                   ctnn::Sigmoid, ctnn::Identity) {
  // 37 values: whole SIMD batches and a scalar tail, spanning both signs and the saturation.
  using In = Shape<37, 1, 1>;
  using L = typename A::template bind<In>;
  double slope = 0;
  if constexpr (requires { A::slope; }) slope = A::slope;
  L layer;
  ctnn::tensor_of<In> x, y, dy, dx;
  for (std::size_t i = 0; i < In::size; ++i) {
    x[i] = -6.0f + 12.0f * static_cast<float>(i) / 36.0f + 0.01f;  // never exactly 0
    dy[i] = 1.0f + 0.1f * static_cast<float>(i);
  }
  layer.forward(x, y);
  dx.fill(std::nanf(""));
  layer.backward(x, y, dy, &dx, layer);
  // The derivative is computed from y, so near saturation (tanh' = 1 - y^2 with y ~ 1) it carries
  // an absolute error of a few float ulps of 1: hence the absolute floor of 1e-6 on dx.
  for (std::size_t i = 0; i < In::size; ++i) {
    CAPTURE(x[i]);
    CHECK(y[i] == doctest::Approx(expected_value(x[i], A::name, slope)).epsilon(1e-5).scale(1e-3));
    CHECK(dx[i] == doctest::Approx(dy[i] * expected_derivative(x[i], A::name, slope)).epsilon(1e-4).scale(1e-2));
  }
}

TEST_CASE_TEMPLATE("Activation: in place (y == x, dx == dy) gives the same results", A, ctnn::ReLU, Leaky, ctnn::Tanh,
                   ctnn::Sigmoid) {
  // Conv and Dense apply their fused activation in place, so the kernels must allow aliasing.
  using In = Shape<2, 3, 7>;
  ctnn::Rng rng(9);
  ctnn::tensor_of<In> x, y, dy, dx;
  for (std::size_t i = 0; i < In::size; ++i) x[i] = rng.uniform(-3.0f, 3.0f), dy[i] = rng.uniform(-1.0f, 1.0f);
  A::apply(In::size, x.data(), y.data());
  A::derivative(In::size, y.data(), dy.data(), dx.data());
  ctnn::tensor_of<In> in_place = x, grad_in_place = dy;
  A::apply(In::size, in_place.data(), in_place.data());
  A::derivative(In::size, in_place.data(), grad_in_place.data(), grad_in_place.data());
  CHECK(in_place == y);
  CHECK(grad_in_place == dx);
}

TEST_CASE_TEMPLATE("Activation: gradients match finite differences", A, ctnn::ReLU, Leaky, ctnn::Tanh, ctnn::Sigmoid,
                   ctnn::Identity) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_gradients<A, Shape<3, 5, 7>>(seed).passed());
    CHECK(ctnn::testing::check_gradients<A, Shape<23, 1, 1>>(seed).passed());
  }
  // Wider inputs reach the saturated parts of Tanh and Sigmoid.
  ctnn::testing::GradientCheckOptions wide;
  wide.input_range = 4.0;
  CHECK(ctnn::testing::check_gradients<A, Shape<2, 4, 9>>(4, wide).passed());
}

TEST_CASE("Activation: ReLU's derivative at exactly zero is zero") {
  // The derivative is read from y: y = 0 means the unit is off, whatever the sign of x was.
  ctnn::ReLU::bind<Shape<4, 1, 1>> layer;
  ctnn::tensor_of<Shape<4, 1, 1>> x, y, dy, dx;
  x[0] = 0.0f, x[1] = -0.0f, x[2] = 1e-30f, x[3] = -1e-30f;
  dy.fill(1.0f);
  layer.forward(x, y);
  layer.backward(x, y, dy, &dx, layer);
  CHECK(dx[0] == 0.0f);
  CHECK(dx[1] == 0.0f);
  CHECK(dx[2] == 1.0f);
  CHECK(dx[3] == 0.0f);
}

TEST_CASE("Activation: Sigmoid and Tanh stay finite for large inputs") {
  ctnn::tensor_of<Shape<4, 1, 1>> x, y;
  x[0] = 100.0f, x[1] = -100.0f, x[2] = 1e30f, x[3] = -1e30f;
  ctnn::Sigmoid::bind<Shape<4, 1, 1>>{}.forward(x, y);
  CHECK(y[0] == doctest::Approx(1.0));
  CHECK(y[1] == doctest::Approx(0.0));
  CHECK(y[2] == doctest::Approx(1.0));
  CHECK(y[3] == doctest::Approx(0.0));
  ctnn::Tanh::bind<Shape<4, 1, 1>>{}.forward(x, y);
  CHECK(y[0] == doctest::Approx(1.0));
  CHECK(y[1] == doctest::Approx(-1.0));
  CHECK(y[2] == doctest::Approx(1.0));
  CHECK(y[3] == doctest::Approx(-1.0));
}
