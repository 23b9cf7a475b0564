// Conv: shapes and counts by hand, forward against a plain double-precision convolution, and
// the generic gradient check over padding, stride, kernel size, channels and fused activations.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <ratio>
#include <support/gradient_check.hpp>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {

using ctnn::Conv;
using ctnn::Shape;

template <class SpecType, class InType>
struct Case {
  using Spec = SpecType;
  using In = InType;
};

using Valid = Case<Conv<4, 3>, Shape<2, 7, 9>>;
using Same = Case<Conv<3, 3, 1, ctnn::same>, Shape<2, 6, 7>>;
using SameFive = Case<Conv<3, 5, 1, ctnn::same>, Shape<1, 9, 10>>;
using Stride2 = Case<Conv<3, 3, 2>, Shape<2, 9, 9>>;
using Stride2Same = Case<Conv<2, 3, 2, ctnn::same>, Shape<1, 8, 8>>;
using Stride2Wide = Case<Conv<2, 3, 2>, Shape<2, 5, 21>>;
using Stride3 = Case<Conv<2, 3, 3>, Shape<1, 10, 11>>;
using EvenKernel = Case<Conv<3, 2, 2>, Shape<2, 6, 8>>;
using OneByOne = Case<Conv<5, 1>, Shape<3, 4, 4>>;
using MultiChannel = Case<Conv<6, 3>, Shape<4, 6, 6>>;
using Wide = Case<Conv<2, 3>, Shape<1, 5, 21>>;
using WithReLU = Case<Conv<4, 3, 1, ctnn::valid, ctnn::ReLU>, Shape<2, 7, 9>>;
using WithTanh = Case<Conv<4, 3, 1, ctnn::valid, ctnn::Tanh>, Shape<2, 7, 9>>;
using WithSigmoid = Case<Conv<4, 3, 1, ctnn::valid, ctnn::Sigmoid>, Shape<2, 7, 9>>;
using WithLeaky = Case<Conv<4, 3, 1, ctnn::same, ctnn::LeakyReLU<std::ratio<1, 10>>>, Shape<2, 6, 7>>;
using WithReLUStride2Same = Case<Conv<3, 3, 2, ctnn::same, ctnn::ReLU>, Shape<3, 9, 17>>;

}  // namespace

TYPE_TO_STRING_AS("Conv<4, 3> on (2, 7, 9)", Valid);
TYPE_TO_STRING_AS("Conv<3, 3, 1, same> on (2, 6, 7)", Same);
TYPE_TO_STRING_AS("Conv<3, 5, 1, same> on (1, 9, 10)", SameFive);
TYPE_TO_STRING_AS("Conv<3, 3, 2> on (2, 9, 9)", Stride2);
TYPE_TO_STRING_AS("Conv<2, 3, 2, same> on (1, 8, 8)", Stride2Same);
TYPE_TO_STRING_AS("Conv<2, 3, 2> on (2, 5, 21)", Stride2Wide);
TYPE_TO_STRING_AS("Conv<2, 3, 3> on (1, 10, 11)", Stride3);
TYPE_TO_STRING_AS("Conv<3, 2, 2> on (2, 6, 8)", EvenKernel);
TYPE_TO_STRING_AS("Conv<5, 1> on (3, 4, 4)", OneByOne);
TYPE_TO_STRING_AS("Conv<6, 3> on (4, 6, 6)", MultiChannel);
TYPE_TO_STRING_AS("Conv<2, 3> on (1, 5, 21)", Wide);
TYPE_TO_STRING_AS("Conv<4, 3> + ReLU on (2, 7, 9)", WithReLU);
TYPE_TO_STRING_AS("Conv<4, 3> + Tanh on (2, 7, 9)", WithTanh);
TYPE_TO_STRING_AS("Conv<4, 3> + Sigmoid on (2, 7, 9)", WithSigmoid);
TYPE_TO_STRING_AS("Conv<4, 3, 1, same> + LeakyReLU<1/10> on (2, 6, 7)", WithLeaky);
TYPE_TO_STRING_AS("Conv<3, 3, 2, same> + ReLU on (3, 9, 17)", WithReLUStride2Same);

// Output shapes: (H + 2P - K) / S + 1; parameters F (C K K + 1); FLOPs 2 x out.size x C K K.
// Every number below was worked out by hand.
static_assert(std::is_same_v<Conv<4, 3>::bind<Shape<2, 7, 9>>::out_shape, Shape<4, 5, 7>>);
static_assert(Conv<4, 3>::bind<Shape<2, 7, 9>>::param_count == 76);
static_assert(Conv<4, 3>::bind<Shape<2, 7, 9>>::flops == 5040);
static_assert(std::is_same_v<Conv<3, 3, 1, ctnn::same>::bind<Shape<2, 6, 7>>::out_shape, Shape<3, 6, 7>>);
static_assert(Conv<3, 3, 1, ctnn::same>::bind<Shape<2, 6, 7>>::param_count == 57);
static_assert(Conv<3, 3, 1, ctnn::same>::bind<Shape<2, 6, 7>>::flops == 4536);
static_assert(std::is_same_v<Conv<3, 5, 1, ctnn::same>::bind<Shape<1, 9, 10>>::out_shape, Shape<3, 9, 10>>);
static_assert(Conv<3, 5, 1, ctnn::same>::bind<Shape<1, 9, 10>>::param_count == 78);
static_assert(std::is_same_v<Conv<3, 3, 2>::bind<Shape<2, 9, 9>>::out_shape, Shape<3, 4, 4>>);
static_assert(Conv<3, 3, 2>::bind<Shape<2, 9, 9>>::flops == 1728);
static_assert(std::is_same_v<Conv<2, 3, 2, ctnn::same>::bind<Shape<1, 8, 8>>::out_shape, Shape<2, 4, 4>>);
static_assert(Conv<2, 3, 2, ctnn::same>::bind<Shape<1, 8, 8>>::param_count == 20);
static_assert(std::is_same_v<Conv<2, 3, 2>::bind<Shape<2, 5, 21>>::out_shape, Shape<2, 2, 10>>);
static_assert(std::is_same_v<Conv<2, 3, 3>::bind<Shape<1, 10, 11>>::out_shape, Shape<2, 3, 3>>);
static_assert(std::is_same_v<Conv<3, 2, 2>::bind<Shape<2, 6, 8>>::out_shape, Shape<3, 3, 4>>);
static_assert(Conv<3, 2, 2>::bind<Shape<2, 6, 8>>::param_count == 27);
static_assert(std::is_same_v<Conv<5, 1>::bind<Shape<3, 4, 4>>::out_shape, Shape<5, 4, 4>>);
static_assert(Conv<5, 1>::bind<Shape<3, 4, 4>>::param_count == 20);
static_assert(Conv<5, 1>::bind<Shape<3, 4, 4>>::flops == 480);
static_assert(std::is_same_v<Conv<6, 3>::bind<Shape<4, 6, 6>>::out_shape, Shape<6, 4, 4>>);
static_assert(Conv<6, 3>::bind<Shape<4, 6, 6>>::param_count == 222);
static_assert(Conv<6, 3>::bind<Shape<4, 6, 6>>::flops == 6912);
static_assert(Conv<6, 5>::bind<Shape<1, 28, 28>>::param_count == 156);
static_assert(std::is_same_v<Conv<6, 5>::bind<Shape<1, 28, 28>>::out_shape, Shape<6, 24, 24>>);
// The activation does not change shapes or counts.
static_assert(Conv<4, 3, 1, ctnn::valid, ctnn::Tanh>::bind<Shape<2, 7, 9>>::param_count == 76);
static_assert(ctnn::Layer<Conv<4, 3>::bind<Shape<2, 7, 9>>>);

namespace {

double activate(double z, std::string_view name, double slope) {
  if (name == "ReLU") return z > 0 ? z : 0;
  if (name == "LeakyReLU") return z > 0 ? z : slope * z;
  if (name == "Tanh") return std::tanh(z);
  if (name == "Sigmoid") return 1 / (1 + std::exp(-z));
  return z;
}

// y[f,oh,ow] = act(b[f] + sum_{c,i,j} w[f,c,i,j] x[c, oh S + i - P, ow S + j - P]), written from the
// definition in double, with the padding as explicit zeros.
template <class L>
std::vector<double> naive_conv(const L& layer, const ctnn::tensor_of<typename L::in_shape>& x, std::size_t stride,
                               std::size_t padding) {
  using In = typename L::in_shape;
  using Out = typename L::out_shape;
  constexpr std::size_t K = std::remove_cvref_t<decltype(layer.weight)>::dims[2];
  using A = typename L::activation;
  double slope = 0;
  if constexpr (requires { A::slope; }) slope = A::slope;
  std::vector<double> y(Out::size);
  for (std::size_t f = 0; f < Out::channels; ++f)
    for (std::size_t oh = 0; oh < Out::height; ++oh)
      for (std::size_t ow = 0; ow < Out::width; ++ow) {
        double z = layer.bias[f];
        for (std::size_t c = 0; c < In::channels; ++c)
          for (std::size_t i = 0; i < K; ++i)
            for (std::size_t j = 0; j < K; ++j) {
              const long row = static_cast<long>(oh * stride + i) - static_cast<long>(padding);
              const long col = static_cast<long>(ow * stride + j) - static_cast<long>(padding);
              if (row < 0 || col < 0 || row >= static_cast<long>(In::height) || col >= static_cast<long>(In::width))
                continue;
              z += static_cast<double>(layer.weight(f, c, i, j)) * x(c, row, col);
            }
        y[(f * Out::height + oh) * Out::width + ow] = activate(z, A::name, slope);
      }
  return y;
}

template <class Spec>
struct conv_settings;
template <std::size_t F, std::size_t K, std::size_t S, ctnn::Padding P, class A>
struct conv_settings<Conv<F, K, S, P, A>> {
  static constexpr std::size_t stride = S;
  static constexpr std::size_t padding = P == ctnn::same ? K / 2 : 0;
};

}  // namespace

TEST_CASE_TEMPLATE("Conv: forward equals the definition computed in double", C, Valid, Same, SameFive, Stride2,
                   Stride2Same, Stride2Wide, Stride3, EvenKernel, OneByOne, MultiChannel, Wide, WithReLU, WithTanh,
                   WithSigmoid, WithLeaky, WithReLUStride2Same) {
  using L = typename C::Spec::template bind<typename C::In>;
  ctnn::Rng rng(11);
  auto layer = std::make_unique<L>();
  layer->init(rng);
  for (std::size_t f = 0; f < layer->bias.size; ++f) layer->bias[f] = rng.uniform(-0.5f, 0.5f);
  ctnn::tensor_of<typename C::In> x;
  for (std::size_t i = 0; i < x.size; ++i) x[i] = rng.uniform(-1.0f, 1.0f);
  ctnn::tensor_of<typename L::out_shape> y;
  y.fill(12345.0f);
  layer->forward(x, y);
  const auto expected =
      naive_conv(*layer, x, conv_settings<typename C::Spec>::stride, conv_settings<typename C::Spec>::padding);
  double worst = 0;
  std::size_t worst_index = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double error = std::abs(y[i] - expected[i]) / (1.0 + std::abs(expected[i]));
    if (error > worst) worst = error, worst_index = i;
  }
  INFO(L::label() << ": worst at flat index " << worst_index << ": got " << y[worst_index] << ", expected "
                  << expected[worst_index]);
  CHECK(worst < 1e-5);
}

TEST_CASE_TEMPLATE("Conv: gradients match finite differences", C, Valid, Same, SameFive, Stride2, Stride2Same,
                   Stride2Wide, Stride3, EvenKernel, OneByOne, MultiChannel, Wide, WithReLU, WithTanh, WithSigmoid,
                   WithLeaky, WithReLUStride2Same) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    const auto report = ctnn::testing::check_gradients<typename C::Spec, typename C::In>(seed);
    CHECK(report.passed());
  }
}

TEST_CASE("Conv: the gradient check catches a wrong gradient") {
  // The check must be able to fail: perturb one analytic gradient entry by 2% and compare.
  ctnn::testing::GradientCheckOptions options;
  const std::vector<std::size_t> indices{0, 1, 2};
  const std::vector<double> numerical{0.5, -0.25, 1.0};
  std::vector<double> analytic = numerical;
  CHECK(ctnn::testing::compare_gradients("t", {3}, indices, analytic, numerical, options).passed());
  analytic[1] *= 1.02;
  const auto report = ctnn::testing::compare_gradients("t", {3}, indices, analytic, numerical, options);
  CHECK_FALSE(report.passed());
  CHECK(report.worst_index == 1);
}

TEST_CASE("Conv: labels name the kernel, stride, padding and fused activation") {
  CHECK(Conv<6, 5>::bind<Shape<1, 28, 28>>::label() == "Conv<6, 5>");
  CHECK(Conv<6, 5, 1, ctnn::valid, ctnn::ReLU>::bind<Shape<1, 28, 28>>::label() == "Conv<6, 5> + ReLU");
  const std::string strided = Conv<3, 3, 2, ctnn::same, ctnn::Tanh>::bind<Shape<1, 8, 8>>::label();
  CHECK(strided.find("2") != std::string::npos);
  CHECK(strided.find("same") != std::string::npos);
  CHECK(strided.find("Tanh") != std::string::npos);
}
