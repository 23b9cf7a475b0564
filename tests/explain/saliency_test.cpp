// Saliency maps (explain/saliency.hpp): the map is the gradient of the score with respect to the
// pixels, checked against central differences of the net's own forward pass for each score;
// SmoothGrad is the mean of the plain maps at its noisy copies, equals the plain map for a linear
// model or zero noise, and depends on neither the batch size nor the thread count.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/explain/saliency.hpp>

#include "explain/explain_test_support.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;

// Smooth (Tanh), so that central differences have no kinks to straddle.
using Smooth = Net<Conv<4, 3, 1, valid, Tanh>, MaxPool<2>, Dense<12, Sigmoid>, Dense<5>>::bind<Shape<2, 8, 8>>;
using Linear = Net<Dense<3>>::bind<Shape<1, 6, 6>>;

constexpr Normalization normalization = test::explain_normalization;
using test::forward_score;
using test::random_image;

}  // namespace

TEST_CASE("Saliency: the gradient of the score matches central differences, for every score") {
  // The tolerance of tests/support/gradient_check.hpp, per pixel:
  //   |analytic - numerical| <= 5e-3 max(|analytic|, |numerical|) + 5e-4 (largest |analytic|).
  // The forward runs in float, so each score carries a rounding error of about 1e-7 relative,
  // which over a step of 2h = 2e-2 is about 1e-5 of the gradient (the absolute term is there for
  // pixels of tiny gradient); the truncation error h^2 S''' / 6 is of the same order for this
  // net. Max pooling has kinks where two inputs of a window tie; random pixels are far from ties
  // at this step.
  Smooth net(2);
  Workspace<Smooth, 8> ws;
  std::vector<float> image = random_image(Smooth::in_shape::size, 3);
  for (const Score score : {Score::logit, Score::probability, Score::log_probability}) {
    CAPTURE(score_name(score));
    const std::size_t target = 3;
    const Saliency map = saliency(net, ws, image, normalization, target, {.score = score});
    CHECK(map.score == doctest::Approx(forward_score(net, std::span<const float>(image), score, target)).epsilon(1e-6));
    double largest = 0;
    for (const float g : map.gradient) largest = std::max(largest, static_cast<double>(std::abs(g)));
    CHECK(largest > 1e-2);
    double worst = 0;
    for (std::size_t i = 0; i < image.size(); ++i) {
      const float original = image[i];
      const float plus = original + 1e-2f, minus = original - 1e-2f;
      image[i] = plus;
      const double up = forward_score(net, std::span<const float>(image), score, target);
      image[i] = minus;
      const double down = forward_score(net, std::span<const float>(image), score, target);
      image[i] = original;
      const double numerical = (up - down) / (static_cast<double>(plus) - minus);
      const double analytic = map.gradient[i];
      const double allowed = 5e-3 * std::max(std::abs(analytic), std::abs(numerical)) + 5e-4 * largest;
      worst = std::max(worst, std::abs(analytic - numerical) / allowed);
    }
    CHECK(worst < 1);  // the worst pixel, as a fraction of its allowance
  }
}

TEST_CASE("Saliency: SmoothGrad is the mean of the plain maps at its noisy copies") {
  // The header's promise: copy s adds noise * N(0, 1) drawn from Rng(derive_seed(seed, s)).
  Smooth net(2);
  Workspace<Smooth, 4> ws;
  const std::vector<float> image = random_image(Smooth::in_shape::size, 4);
  const SaliencyOptions options{.samples = 6, .noise = 0.2f, .seed = 17};
  const Saliency smooth = saliency(net, ws, image, normalization, 1, options);
  std::vector<double> mean(image.size(), 0.0);
  for (std::size_t s = 0; s < options.samples; ++s) {
    Rng rng(derive_seed(options.seed, s));
    std::vector<float> noisy(image.size());
    for (std::size_t i = 0; i < image.size(); ++i) noisy[i] = image[i] + options.noise * rng.normal();
    const Saliency plain = saliency(net, ws, noisy, normalization, 1);
    for (std::size_t i = 0; i < image.size(); ++i) mean[i] += plain.gradient[i] / static_cast<double>(options.samples);
  }
  double worst = 0, largest = 0;
  for (std::size_t i = 0; i < image.size(); ++i) {
    worst = std::max(worst, std::abs(smooth.gradient[i] - mean[i]));
    largest = std::max(largest, std::abs(mean[i]));
  }
  CHECK(largest > 1e-2);
  CHECK(worst <= 1e-6 * largest);
  // The score is the clean image's, not a noisy copy's.
  CHECK(smooth.score == saliency(net, ws, image, normalization, 1).score);
}

TEST_CASE("Saliency: SmoothGrad of a linear model, or with zero noise, is the plain gradient") {
  Linear net(5);
  Workspace<Linear, 4> ws;
  const std::vector<float> image = random_image(Linear::in_shape::size, 6);
  const Saliency plain = saliency(net, ws, image, normalization, 2);
  const Saliency smooth = saliency(net, ws, image, normalization, 2, {.samples = 9, .noise = 0.3f});
  for (std::size_t i = 0; i < image.size(); ++i) {
    // d logit_2 / d pixel_i = W_2i / stddev, whatever the pixels.
    CHECK(plain.gradient[i] == doctest::Approx(net.layer<0>().weight(2, i) / normalization.stddev).epsilon(1e-6));
    CHECK(smooth.gradient[i] == doctest::Approx(plain.gradient[i]).epsilon(1e-6));
  }
  Smooth curved(2);
  Workspace<Smooth, 4> curved_ws;
  const std::vector<float> curved_image = random_image(Smooth::in_shape::size, 7);
  CHECK(saliency(curved, curved_ws, curved_image, normalization, 0, {.samples = 5, .noise = 0.0f}).gradient ==
        saliency(curved, curved_ws, curved_image, normalization, 0).gradient);
}

TEST_CASE("Saliency: the same bits for any batch size and thread count") {
  Smooth net(9);
  const std::vector<float> image = random_image(Smooth::in_shape::size, 10);
  const SaliencyOptions options{.score = Score::probability, .samples = 11};
  Workspace<Smooth, 16> large;
  Workspace<Smooth, 3> small;
  const Saliency reference = saliency(net, large, image, normalization, 4, options);
  CHECK(saliency(net, large, image, normalization, 4, options).gradient == reference.gradient);
  CHECK(saliency(net, small, image, normalization, 4, options).gradient == reference.gradient);
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  for (const int count : {1, 2, 3}) {
    omp_set_num_threads(count);
    CHECK(saliency(net, small, image, normalization, 4, options).gradient == reference.gradient);
  }
  omp_set_num_threads(threads);
#endif
}

TEST_CASE("Saliency: refuses a wrong size, a bad noise and a class the net does not have") {
  Linear net(5);
  Workspace<Linear, 4> ws;
  const std::vector<float> image(Linear::in_shape::size, 0.5f), short_image(Linear::in_shape::size - 1, 0.5f);
  CHECK_THROWS_AS(saliency(net, ws, short_image, normalization, 0), std::invalid_argument);
  CHECK_THROWS_AS(saliency(net, ws, image, normalization, 3), std::invalid_argument);
  CHECK_THROWS_AS(saliency(net, ws, image, normalization, 0, {.samples = 2, .noise = -0.1f}), std::invalid_argument);
  CHECK_THROWS_AS(saliency(net, ws, image, Normalization{0.0f, -1.0f}, 0), std::invalid_argument);
}
