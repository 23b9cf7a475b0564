// Integrated gradients (explain/integrated_gradients.hpp): completeness, sum(IG) = S(x) - S(x'),
// with S(x) and S(x') checked against the net's own forward pass; the closed form of a linear
// model, IG_i = (x_i - x'_i) w_i; the orders of convergence of the three path rules; and results
// that depend on neither the batch size nor the thread count.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/explain/integrated_gradients.hpp>

#include "explain/explain_test_support.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;

// Tanh everywhere: the score is smooth along the path, so only the quadrature is left.
using Smooth = Net<Conv<4, 3, 1, valid, Tanh>, Dense<16, Tanh>, Dense<5>>::bind<Shape<1, 8, 8>>;
// ReLU and max pooling: the score has kinks along the path.
using Rectified = Net<Conv<4, 3>, MaxPool<2>, Dense<12>, Dense<5>>::bind<Shape<1, 8, 8>>;
// Logits = W x_normalized + b.
using Linear = Net<Dense<3>>::bind<Shape<2, 4, 4>>;

constexpr Normalization normalization = test::explain_normalization;
using test::forward_score;
using test::random_image;

}  // namespace

TEST_CASE("Integrated gradients: completeness on a smooth net, for every score") {
  // The trapezoid rule's error is at most max|S''| / (12 m^2) along the path. Here |S''| is a few
  // units (the gap at m = 4 is about 2e-2), so at m = 256 the quadrature leaves about 5e-6; float
  // rounding of the forward and backward passes adds about 1e-7 per point. 2e-5 leaves room for
  // both, and a lost factor or a misplaced point is off by far more.
  Smooth net(3);
  Workspace<Smooth, 16> ws;
  const std::vector<float> image = random_image(Smooth::in_shape::size, 5);
  for (const Score score : {Score::logit, Score::probability, Score::log_probability}) {
    CAPTURE(score_name(score));
    for (const std::size_t target : {0u, 2u}) {
      CAPTURE(target);
      const IntegratedGradients ig =
          integrated_gradients(net, ws, image, {}, normalization, target, {.score = score, .steps = 256});
      const std::vector<float> black(image.size(), 0.0f);
      CHECK(ig.score ==
            doctest::Approx(forward_score(net, std::span<const float>(image), score, target)).epsilon(1e-6));
      CHECK(ig.baseline_score ==
            doctest::Approx(forward_score(net, std::span<const float>(black), score, target)).epsilon(1e-6));
      double sum = 0;
      for (const float attribution : ig.attribution) sum += attribution;
      CHECK(sum == doctest::Approx(ig.attribution_sum).epsilon(1e-6));
      CHECK(std::abs(ig.score - ig.baseline_score) > 1e-2);  // something to explain
      CHECK(std::abs(ig.completeness_gap()) < 2e-5);
    }
  }
}

TEST_CASE("Integrated gradients: the rules converge at their orders") {
  // On a smooth path the gap of the trapezoid and midpoint rules falls as 1/m^2 (16 times from
  // m = 16 to 64), the midpoint's being about minus half the trapezoid's, and the right Riemann
  // sum's as 1/m (4 times from m = 64 to 256, where its 1/m^2 term has faded).
  Smooth net(3);
  Workspace<Smooth, 16> ws;
  const std::vector<float> image = random_image(Smooth::in_shape::size, 5);
  const auto gap = [&](PathRule rule, std::size_t steps) {
    return integrated_gradients(net, ws, image, {}, normalization, 2, {.steps = steps, .rule = rule})
        .completeness_gap();
  };
  const double trapezoid = gap(PathRule::trapezoid, 16), midpoint = gap(PathRule::midpoint, 16);
  CHECK(trapezoid / gap(PathRule::trapezoid, 64) == doctest::Approx(16).epsilon(0.15));
  CHECK(midpoint / gap(PathRule::midpoint, 64) == doctest::Approx(16).epsilon(0.15));
  CHECK(midpoint / trapezoid == doctest::Approx(-0.5).epsilon(0.15));
  CHECK(gap(PathRule::right_riemann, 64) / gap(PathRule::right_riemann, 256) == doctest::Approx(4).epsilon(0.1));
}

TEST_CASE("Integrated gradients: completeness on a ReLU net, within the kinks' bound") {
  // Along the path a ReLU net's logit is piecewise linear, so its derivative g(a) = dS/da is
  // piecewise constant: the trapezoid rule is exact between kinks and off by at most |jump| h / 2
  // over a step of length h that holds one. The bound used is the total variation of g measured
  // at the path's points, times h (twice that, for steps that hold several kinks), plus 1e-6 of
  // float rounding; g at each point comes from the same gradients, dotted with x - x'.
  Rectified net(3);
  Workspace<Rectified, 64> ws;
  const std::vector<float> image = random_image(Rectified::in_shape::size, 5);
  const std::vector<float> baseline = random_image(Rectified::in_shape::size, 6);
  constexpr std::size_t steps = 1024;
  for (const std::size_t target : {1u, 3u}) {
    CAPTURE(target);
    const IntegratedGradients ig =
        integrated_gradients(net, ws, image, baseline, normalization, target, {.steps = steps});
    std::vector<double> derivative(steps + 1);
    batched_score_gradients(
        net, ws, normalization, Score::logit, target, steps + 1,
        [&](std::size_t k, std::span<float> pixels) {
          const double alpha = static_cast<double>(k) / steps;
          for (std::size_t i = 0; i < pixels.size(); ++i)
            pixels[i] = static_cast<float>(baseline[i] + alpha * (static_cast<double>(image[i]) - baseline[i]));
        },
        [&](std::size_t k, double, std::span<const float> gradient) {
          for (std::size_t i = 0; i < gradient.size(); ++i)
            derivative[k] += gradient[i] * (static_cast<double>(image[i]) - baseline[i]);
        });
    double variation = 0;
    for (std::size_t k = 0; k < steps; ++k) variation += std::abs(derivative[k + 1] - derivative[k]);
    CHECK(variation > 0);  // the path crosses kinks: the bound is not trivially zero
    CHECK(std::abs(ig.completeness_gap()) <= variation / steps + 1e-6);
    CHECK(std::abs(ig.score - ig.baseline_score) > 1e-2);
    CHECK(ig.baseline_score ==
          doctest::Approx(forward_score(net, std::span<const float>(baseline), Score::logit, target)).epsilon(1e-6));
  }
}

TEST_CASE("Integrated gradients: a linear model's attributions are (x - x') w exactly, for any rule and steps") {
  // The logit k = sum_i W_ki (x_i - mean) / stddev + b_k has the constant gradient W_k / stddev
  // in pixels, so every quadrature is exact and IG_i = (x_i - x'_i) W_ki / stddev.
  Linear net(4);
  Rng rng(9);
  auto& dense = net.layer<0>();
  for (std::size_t k = 0; k < dense.bias.size; ++k) dense.bias[k] = rng.uniform(-1.0f, 1.0f);
  Workspace<Linear, 4> ws;
  constexpr std::size_t size = Linear::in_shape::size;
  const std::vector<float> image = random_image(size, 10), baseline = random_image(size, 11);
  for (const PathRule rule : {PathRule::trapezoid, PathRule::right_riemann, PathRule::midpoint})
    for (const std::size_t steps : {1u, 7u}) {
      CAPTURE(path_rule_name(rule));
      CAPTURE(steps);
      const std::size_t target = 1;
      const IntegratedGradients ig =
          integrated_gradients(net, ws, image, baseline, normalization, target, {.steps = steps, .rule = rule});
      double largest = 0, worst = 0;
      for (std::size_t i = 0; i < size; ++i) {
        const double expected =
            (static_cast<double>(image[i]) - baseline[i]) * dense.weight(target, i) / normalization.stddev;
        largest = std::max(largest, std::abs(expected));
        worst = std::max(worst, std::abs(ig.attribution[i] - expected));
      }
      CHECK(largest > 0.1);
      CHECK(worst <= 1e-6 * largest);
      CHECK(std::abs(ig.completeness_gap()) < 1e-5);
    }
}

TEST_CASE("Integrated gradients: the same bits for any batch size and thread count") {
  Rectified net(8);
  const std::vector<float> image = random_image(Rectified::in_shape::size, 12);
  const IntegratedGradientsOptions options{.score = Score::probability, .steps = 50};
  Workspace<Rectified, 64> large;
  Workspace<Rectified, 7> small;  // 51 points: seven full batches and a short one
  const IntegratedGradients reference = integrated_gradients(net, large, image, {}, normalization, 4, options);
  const IntegratedGradients again = integrated_gradients(net, large, image, {}, normalization, 4, options);
  const IntegratedGradients batched = integrated_gradients(net, small, image, {}, normalization, 4, options);
  CHECK(again.attribution == reference.attribution);
  CHECK(batched.attribution == reference.attribution);
  CHECK(batched.completeness_gap() == reference.completeness_gap());
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  for (const int count : {1, 2, 3}) {
    omp_set_num_threads(count);
    CHECK(integrated_gradients(net, small, image, {}, normalization, 4, options).attribution == reference.attribution);
  }
  omp_set_num_threads(threads);
#endif
}

TEST_CASE("Integrated gradients: refuses a wrong size, zero steps and a class the net does not have") {
  Linear net(4);
  Workspace<Linear, 4> ws;
  const std::vector<float> image(Linear::in_shape::size, 0.5f), short_image(Linear::in_shape::size - 1, 0.5f);
  CHECK_THROWS_AS(integrated_gradients(net, ws, short_image, {}, normalization, 0), std::invalid_argument);
  CHECK_THROWS_AS(integrated_gradients(net, ws, image, short_image, normalization, 0), std::invalid_argument);
  CHECK_THROWS_AS(integrated_gradients(net, ws, image, {}, normalization, 0, {.steps = 0}), std::invalid_argument);
  CHECK_THROWS_AS(integrated_gradients(net, ws, image, {}, normalization, 3), std::invalid_argument);
  CHECK_THROWS_AS(integrated_gradients(net, ws, image, {}, Normalization{0.0f, 0.0f}, 0), std::invalid_argument);
}
