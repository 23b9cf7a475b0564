// Dense: shapes and counts by hand, the implicit flatten after a convolution's shape, forward
// against the definition in double, and the generic gradient check with every activation.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <ratio>
#include <support/gradient_check.hpp>
#include <type_traits>

#include <ctnn/ctnn.hpp>

namespace {

using ctnn::Dense;
using ctnn::Shape;

template <class SpecType, class InType>
struct Case {
  using Spec = SpecType;
  using In = InType;
};

using Flat = Case<Dense<7>, Shape<13, 1, 1>>;
using AfterConv = Case<Dense<10>, Shape<4, 5, 5>>;
using AfterConvReLU = Case<Dense<6, ctnn::ReLU>, Shape<3, 4, 4>>;
using WithTanh = Case<Dense<5, ctnn::Tanh>, Shape<3, 4, 4>>;
using WithSigmoid = Case<Dense<5, ctnn::Sigmoid>, Shape<17, 1, 1>>;
using WithLeaky = Case<Dense<9, ctnn::LeakyReLU<>>, Shape<2, 3, 3>>;
using WithIdentity = Case<Dense<3, ctnn::Identity>, Shape<1, 1, 1>>;
using OneUnit = Case<Dense<1, ctnn::ReLU>, Shape<33, 1, 1>>;

}  // namespace

TYPE_TO_STRING_AS("Dense<7> on (13, 1, 1)", Flat);
TYPE_TO_STRING_AS("Dense<10> on (4, 5, 5)", AfterConv);
TYPE_TO_STRING_AS("Dense<6> + ReLU on (3, 4, 4)", AfterConvReLU);
TYPE_TO_STRING_AS("Dense<5> + Tanh on (3, 4, 4)", WithTanh);
TYPE_TO_STRING_AS("Dense<5> + Sigmoid on (17, 1, 1)", WithSigmoid);
TYPE_TO_STRING_AS("Dense<9> + LeakyReLU on (2, 3, 3)", WithLeaky);
TYPE_TO_STRING_AS("Dense<3> + Identity on (1, 1, 1)", WithIdentity);
TYPE_TO_STRING_AS("Dense<1> + ReLU on (33, 1, 1)", OneUnit);

// Output Shape<Units, 1, 1>; parameters Units (In::size + 1); FLOPs 2 Units In::size. By hand.
static_assert(std::is_same_v<Dense<7>::bind<Shape<13, 1, 1>>::out_shape, Shape<7, 1, 1>>);
static_assert(Dense<7>::bind<Shape<13, 1, 1>>::param_count == 98);
static_assert(Dense<7>::bind<Shape<13, 1, 1>>::flops == 182);
static_assert(std::is_same_v<Dense<10>::bind<Shape<4, 5, 5>>::out_shape, Shape<10, 1, 1>>);
static_assert(Dense<10>::bind<Shape<4, 5, 5>>::param_count == 1010);
static_assert(Dense<10>::bind<Shape<4, 5, 5>>::flops == 2000);
// LeNet-5's classifier on the 16 x 5 x 5 map of a 32 x 32 input, and the design card's.
static_assert(Dense<120>::bind<Shape<16, 5, 5>>::param_count == 48120);
static_assert(Dense<120>::bind<Shape<16, 8, 8>>::param_count == 123000);
static_assert(Dense<120>::bind<Shape<16, 8, 8>>::flops == 245760);
static_assert(Dense<10>::bind<Shape<120, 1, 1>>::param_count == 1210);
static_assert(ctnn::Layer<Dense<10>::bind<Shape<4, 5, 5>>>);

TEST_CASE("Dense: reads a (C, H, W) input as one flat vector in CHW order") {
  // y[m] = b[m] + sum_n w[m, n] x[n] with n = (c H + h) W + w: the implicit flatten.
  using L = Dense<3, ctnn::Identity>::bind<Shape<2, 2, 3>>;
  auto layer = std::make_unique<L>();
  ctnn::tensor_of<Shape<2, 2, 3>> x;
  for (std::size_t c = 0; c < 2; ++c)
    for (std::size_t h = 0; h < 2; ++h)
      for (std::size_t w = 0; w < 3; ++w) x(c, h, w) = static_cast<float>(1 + (c * 2 + h) * 3 + w);  // 1 .. 12
  // Unit 0 picks x(1, 0, 2) = 9, unit 1 sums everything (78), unit 2 is 2 x(0, 1, 0) - x(1, 1, 2) = 8 - 12.
  layer->weight(0, 8) = 1.0f;
  for (std::size_t n = 0; n < 12; ++n) layer->weight(1, n) = 1.0f;
  layer->weight(2, 3) = 2.0f;
  layer->weight(2, 11) = -1.0f;
  layer->bias[0] = 0.5f;
  layer->bias[1] = -1.0f;
  ctnn::tensor_of<L::out_shape> y;
  y.fill(1e6f);
  layer->forward(x, y);
  CHECK(y[0] == 9.5f);
  CHECK(y[1] == 77.0f);
  CHECK(y[2] == -4.0f);
}

TEST_CASE_TEMPLATE("Dense: forward equals the definition computed in double", C, Flat, AfterConv, AfterConvReLU,
                   WithTanh, WithSigmoid, WithLeaky, WithIdentity, OneUnit) {
  using L = typename C::Spec::template bind<typename C::In>;
  using A = typename L::activation;
  ctnn::Rng rng(5);
  auto layer = std::make_unique<L>();
  layer->init(rng);
  for (std::size_t m = 0; m < layer->bias.size; ++m) layer->bias[m] = rng.uniform(-0.5f, 0.5f);
  ctnn::tensor_of<typename C::In> x;
  for (std::size_t i = 0; i < x.size; ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  ctnn::tensor_of<typename L::out_shape> y;
  layer->forward(x, y);
  for (std::size_t m = 0; m < L::out_shape::size; ++m) {
    double z = layer->bias[m];
    for (std::size_t n = 0; n < C::In::size; ++n) z += static_cast<double>(layer->weight(m, n)) * x[n];
    double expected = z;
    if constexpr (std::is_same_v<A, ctnn::ReLU>)
      expected = std::max(z, 0.0);
    else if constexpr (std::is_same_v<A, ctnn::Tanh>)
      expected = std::tanh(z);
    else if constexpr (std::is_same_v<A, ctnn::Sigmoid>)
      expected = 1 / (1 + std::exp(-z));
    else if constexpr (requires { A::slope; })
      expected = z > 0 ? z : A::slope * z;
    CAPTURE(m);
    CHECK(y[m] == doctest::Approx(expected).epsilon(1e-5).scale(1.0));
  }
}

TEST_CASE_TEMPLATE("Dense: gradients match finite differences", C, Flat, AfterConv, AfterConvReLU, WithTanh,
                   WithSigmoid, WithLeaky, WithIdentity, OneUnit) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_gradients<typename C::Spec, typename C::In>(seed).passed());
  }
}

TEST_CASE("Dense: the gradient of a large layer, sampled") {
  // LeNet-5's Dense<120> on the 16 x 5 x 5 map: 48,120 weights; 200 sampled per tensor.
  ctnn::testing::GradientCheckOptions options;
  options.samples_per_tensor = 200;
  const auto report = ctnn::testing::check_gradients<Dense<120, ctnn::ReLU>, Shape<16, 5, 5>>(7, options);
  CHECK(report.passed());
  REQUIRE(report.tensors.size() == 3);
  CHECK(report.tensors[1].checked == 200);
}

TEST_CASE("Dense: label") {
  CHECK(Dense<120>::bind<Shape<16, 5, 5>>::label() == "Dense<120>");
  CHECK(Dense<120, ctnn::ReLU>::bind<Shape<16, 5, 5>>::label() == "Dense<120> + ReLU");
}
