// BatchNorm: shapes and counts, inference with the running statistics, training statistics and
// their running averages, and the gradient check in both modes: inference on one image, and
// training over a batch (the input gradient then carries the coupling through the statistics),
// after a convolution's shape and after a Dense's.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <ratio>
#include <span>
#include <support/gradient_check.hpp>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using ctnn::BatchNorm;
using ctnn::Shape;
using ConvShape = Shape<3, 4, 5>;
using DenseShape = Shape<6, 1, 1>;
using ConvBn = BatchNorm<>::bind<ConvShape>;

// Running statistics that are not the initial 0 and 1, so that using them matters.
struct RandomRunningStatistics {
  template <class L>
  void operator()(L& layer, ctnn::Rng& rng) const {
    for (std::size_t c = 0; c < L::channels; ++c) {
      layer.running_mean[c] = rng.uniform(-0.5f, 0.5f);
      layer.running_variance[c] = rng.uniform(0.5f, 2.0f);
    }
  }
};

template <class In>
std::vector<ctnn::tensor_of<In>> random_batch(std::size_t count, std::uint64_t seed, float offset) {
  ctnn::Rng rng(seed);
  std::vector<ctnn::tensor_of<In>> xs(count);
  for (auto& x : xs)
    for (std::size_t i = 0; i < In::size; ++i) x[i] = offset + rng.uniform(-1.0f, 2.0f);
  return xs;
}

// Mean and biased variance of channel c over the batch and the plane, in double.
template <class In>
std::pair<double, double> channel_statistics(const std::vector<ctnn::tensor_of<In>>& xs, std::size_t c) {
  constexpr std::size_t plane = In::height * In::width;
  double total = 0, squares = 0;
  for (const auto& x : xs)
    for (std::size_t i = 0; i < plane; ++i) total += x[c * plane + i];
  const double n = static_cast<double>(xs.size() * plane), mean = total / n;
  for (const auto& x : xs)
    for (std::size_t i = 0; i < plane; ++i) squares += (x[c * plane + i] - mean) * (x[c * plane + i] - mean);
  return {mean, squares / n};
}
}  // namespace

static_assert(std::is_same_v<ConvBn::out_shape, ConvShape>);
static_assert(ConvBn::param_count == 6);  // gamma and beta per channel
static_assert(ConvBn::flops == 120);      // one multiply-add per value
static_assert(BatchNorm<>::bind<DenseShape>::param_count == 12);
static_assert(ctnn::BatchLayer<ConvBn> && ctnn::StatefulLayer<ConvBn> && !ctnn::StochasticLayer<ConvBn>);

TEST_CASE("BatchNorm: inference applies gamma (x - running mean) / sqrt(running variance + eps) + beta") {
  ConvBn layer;
  ctnn::Rng rng(1);
  layer.init(rng);
  const float gamma[3] = {1.5f, -0.5f, 2.0f}, beta[3] = {0.25f, 1.0f, -3.0f};
  const float mean[3] = {0.5f, -1.0f, 0.0f}, variance[3] = {4.0f, 0.25f, 1.0f};
  for (std::size_t c = 0; c < 3; ++c) {
    layer.gamma[c] = gamma[c], layer.beta[c] = beta[c];
    layer.running_mean[c] = mean[c], layer.running_variance[c] = variance[c];
  }
  const auto xs = random_batch<ConvShape>(1, 2, 0.0f);
  ctnn::tensor_of<ConvShape> y;
  layer.forward(xs[0], y);
  for (std::size_t c = 0; c < 3; ++c)
    for (std::size_t i = 0; i < 20; ++i) {
      const double expected = gamma[c] * (xs[0][c * 20 + i] - mean[c]) / std::sqrt(variance[c] + 1e-5) + beta[c];
      CHECK(y[c * 20 + i] == doctest::Approx(expected).epsilon(1e-5));
    }
  // With the initial statistics (0 and 1) and parameters (1 and 0) inference is the identity, up to eps.
  ConvBn fresh;
  fresh.init(rng);
  fresh.forward(xs[0], y);
  for (std::size_t i = 0; i < ConvShape::size; ++i) CHECK(y[i] == doctest::Approx(xs[0][i] / std::sqrt(1 + 1e-5)));
}

TEST_CASE("BatchNorm: training normalizes each channel over the batch and the plane") {
  ConvBn layer;
  ctnn::Rng rng(3);
  layer.init(rng);
  layer.gamma[1] = 2.0f, layer.beta[1] = -1.0f;
  layer.running_mean.fill(1e3f);  // training must not read the running statistics
  layer.running_variance.fill(1e-3f);
  const auto xs = random_batch<ConvShape>(4, 4, 3.0f);
  std::vector<ctnn::tensor_of<ConvShape>> ys(4);
  layer.forward_batch(std::span<const ctnn::tensor_of<ConvShape>>(xs), std::span(ys));
  for (std::size_t c = 0; c < 3; ++c) {
    const auto [mean, variance] = channel_statistics<ConvShape>(ys, c);
    const auto [x_mean, x_variance] = channel_statistics<ConvShape>(xs, c);
    const double gamma = c == 1 ? 2.0 : 1.0, beta = c == 1 ? -1.0 : 0.0;
    CHECK(mean == doctest::Approx(beta).scale(1.0).epsilon(1e-5));
    CHECK(variance == doctest::Approx(gamma * gamma * x_variance / (x_variance + 1e-5)).epsilon(1e-4));
  }
}

TEST_CASE("BatchNorm: running statistics move toward the batch's by the momentum, with the unbiased variance") {
  const auto check_momentum = [](auto layer_type, double momentum) {
    using Layer = typename decltype(layer_type)::type;
    using In = typename Layer::in_shape;
    constexpr std::size_t plane = In::height * In::width;
    auto layer = std::make_unique<Layer>();
    ctnn::Rng rng(5);
    layer->init(rng);
    for (std::size_t c = 0; c < Layer::channels; ++c) layer->running_mean[c] = 0.3f, layer->running_variance[c] = 2.0f;
    const auto xs = random_batch<In>(5, 6, 1.0f);
    std::vector<ctnn::tensor_of<In>> ys(5);
    double mean_before = 0.3, variance_before = 2.0;
    for (int step = 0; step < 3; ++step) {  // the same batch three times: geometric approach
      layer->forward_batch(std::span<const ctnn::tensor_of<In>>(xs), std::span(ys));
      const auto [mean, biased] = channel_statistics<In>(xs, 0);
      const double n = static_cast<double>(5 * plane);
      const double expected_mean = (1 - momentum) * mean_before + momentum * mean;
      const double expected_variance = (1 - momentum) * variance_before + momentum * biased * n / (n - 1);
      CAPTURE(step);
      CHECK(layer->running_mean[0] == doctest::Approx(expected_mean).epsilon(1e-5));
      CHECK(layer->running_variance[0] == doctest::Approx(expected_variance).epsilon(1e-5));
      mean_before = layer->running_mean[0], variance_before = layer->running_variance[0];
    }
  };
  check_momentum(std::type_identity<ConvBn>{}, 0.1);
  check_momentum(std::type_identity<BatchNorm<std::ratio<1, 4>>::bind<DenseShape>>{}, 0.25);
  check_momentum(std::type_identity<BatchNorm<std::ratio<1, 1>>::bind<ConvShape>>{}, 1.0);
}

TEST_CASE("BatchNorm: after training on a fixed batch, inference reproduces the training output") {
  // Momentum 1 copies the batch statistics (unbiased variance): inference on an image of the
  // batch then matches training up to the n / (n - 1) factor, undone here through gamma.
  using Layer = BatchNorm<std::ratio<1, 1>, std::ratio<1, 1000000000>>::bind<ConvShape>;
  Layer layer;
  ctnn::Rng rng(7);
  layer.init(rng);
  const auto xs = random_batch<ConvShape>(4, 8, -2.0f);
  std::vector<ctnn::tensor_of<ConvShape>> ys(4);
  layer.forward_batch(std::span<const ctnn::tensor_of<ConvShape>>(xs), std::span(ys));
  const double n = 4.0 * 20.0;
  for (std::size_t c = 0; c < 3; ++c) layer.gamma[c] = static_cast<float>(std::sqrt(n / (n - 1)));
  ctnn::tensor_of<ConvShape> y;
  layer.forward(xs[2], y);
  for (std::size_t i = 0; i < ConvShape::size; ++i) CHECK(y[i] == doctest::Approx(ys[2][i]).epsilon(1e-4).scale(1e-3));
}

TEST_CASE("BatchNorm: inference gradients match finite differences") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_gradients<BatchNorm<>, ConvShape>(seed, {}, RandomRunningStatistics{}).passed());
    CHECK(ctnn::testing::check_gradients<BatchNorm<>, DenseShape>(seed, {}, RandomRunningStatistics{}).passed());
  }
}

TEST_CASE("BatchNorm: training gradients over a batch match finite differences") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    CHECK(ctnn::testing::check_batch_gradients<BatchNorm<>, ConvShape, 4>(seed).passed());   // after a conv
    CHECK(ctnn::testing::check_batch_gradients<BatchNorm<>, DenseShape, 5>(seed).passed());  // after a dense
    CHECK(ctnn::testing::check_batch_gradients<BatchNorm<>, Shape<2, 3, 3>, 1>(seed)
              .passed());  // one image: plane statistics
  }
}

TEST_CASE("BatchNorm: label") { CHECK(ConvBn::label() == "BatchNorm"); }
