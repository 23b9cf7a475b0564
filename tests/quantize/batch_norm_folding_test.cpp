// quantize/batch_norm_folding.hpp: a convolution or dense layer with a BatchNorm folded into it
// computes what the layer followed by the BatchNorm computes in inference mode, for random
// weights and running statistics, within float rounding: each output is a sum of products
// rounded in a different order, so the bound is a few units of rounding (2 gamma(L), as in
// tests/kernels/kernel_check.hpp) of the sum of the magnitudes of its terms.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>

#include <ctnn/ctnn.hpp>
#include <ctnn/quantize/batch_norm_folding.hpp>

#include "kernels/kernel_check.hpp"

using namespace ctnn;

namespace {

template <class Norm>
void randomize_statistics(Norm& norm, Rng& rng) {
  for (std::size_t c = 0; c < Norm::channels; ++c) {
    norm.gamma[c] = rng.uniform(-1.5f, 1.5f);
    norm.beta[c] = rng.uniform(-0.5f, 0.5f);
    norm.running_mean[c] = rng.uniform(-1.0f, 1.0f);
    norm.running_variance[c] = rng.uniform(0.01f, 3.0f);
  }
}

// Compares layer-then-norm with the folded layer on `x`; `magnitude` runs layer-then-norm on
// |x| and |weights| and |bias| (with |gamma| / sqrt(var + eps) and |beta|, |mean|).
template <class Linear, class Norm>
void check_folding(const Linear& layer, const Norm& norm, const tensor_of<typename Linear::in_shape>& x,
                   std::size_t terms) {
  using Out = typename Linear::out_shape;
  tensor_of<Out> linear, normalized, folded_out;
  layer.forward(x, linear);
  norm.forward(linear, normalized);
  const auto folded = std::make_unique<Linear>(layer);
  fold_batch_norm(*folded, norm);
  folded->forward(x, folded_out);

  const auto absolute_layer = std::make_unique<Linear>(layer);
  for (auto& value : absolute_layer->weight.values) value = std::fabs(value);
  for (auto& value : absolute_layer->bias.values) value = std::fabs(value);
  tensor_of<typename Linear::in_shape> absolute_x = x;
  for (auto& value : absolute_x.values) value = std::fabs(value);
  tensor_of<Out> magnitude;
  absolute_layer->forward(absolute_x, magnitude);
  constexpr std::size_t plane = Out::height * Out::width;
  for (std::size_t c = 0; c < Out::channels; ++c) {
    const double scale = std::fabs(norm.gamma[c]) / std::sqrt(norm.running_variance[c] + Norm::epsilon);
    for (std::size_t p = 0; p < plane; ++p) {
      float& value = magnitude[c * plane + p];
      value = static_cast<float>(scale * (value + std::fabs(norm.running_mean[c])) + std::fabs(norm.beta[c]));
    }
  }
  const auto worst = test::max_relative_error(folded_out.span(), normalized.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(terms + 4), worst);
}

}  // namespace

TEST_CASE("batch norm folding: a convolution with its BatchNorm folded equals the two in inference mode") {
  using ConvLayer = Conv<5, 3, 1, same, Identity>::bind<Shape<3, 8, 7>>;
  using NormLayer = BatchNorm<>::bind<ConvLayer::out_shape>;
  Rng rng(53);
  ConvLayer conv;
  conv.init(rng);
  for (auto& value : conv.bias.values) value = rng.uniform(-0.3f, 0.3f);
  NormLayer norm;
  randomize_statistics(norm, rng);
  tensor_of<ConvLayer::in_shape> x;
  for (auto& value : x.values) value = rng.uniform(-1.0f, 2.0f);
  check_folding(conv, norm, x, 3 * 3 * 3 + 1);
}

TEST_CASE("batch norm folding: a dense layer with its BatchNorm folded equals the two in inference mode") {
  using DenseLayer = Dense<11, Identity>::bind<Shape<4, 3, 3>>;
  using NormLayer = BatchNorm<>::bind<DenseLayer::out_shape>;
  Rng rng(59);
  DenseLayer dense;
  dense.init(rng);
  for (auto& value : dense.bias.values) value = rng.uniform(-0.3f, 0.3f);
  NormLayer norm;
  randomize_statistics(norm, rng);
  tensor_of<DenseLayer::in_shape> x;
  for (auto& value : x.values) value = rng.uniform(-1.0f, 2.0f);
  check_folding(dense, norm, x, 36 + 1);
}
