// SoftmaxCrossEntropy: stable log-sum-exp, hand-computed losses with and without label
// smoothing, and the gradient against finite differences in double.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <span>

#include <ctnn/ctnn.hpp>

namespace {
using ctnn::SoftmaxCrossEntropy;

// The loss in double from its definition, for finite differences: -sum_k t_k log softmax(z)_k.
double loss_in_double(std::span<const double> z, std::size_t label, double smoothing) {
  double top = z[0];
  for (double v : z) top = std::max(top, v);
  double total = 0;
  for (double v : z) total += std::exp(v - top);
  const double lse = top + std::log(total);
  double loss = 0;
  for (std::size_t k = 0; k < z.size(); ++k) {
    const double target = smoothing / static_cast<double>(z.size()) + (k == label ? 1 - smoothing : 0);
    loss -= target * (z[k] - lse);
  }
  return loss;
}
}  // namespace

TEST_CASE("SoftmaxCrossEntropy: hand-computed losses") {
  SoftmaxCrossEntropy loss;
  // Equal logits: log K.
  const std::array<float, 4> equal{0.5f, 0.5f, 0.5f, 0.5f};
  CHECK(loss.loss(equal, 2) == doctest::Approx(std::log(4.0)));
  // z = (1, 2, 3), label 2: log(e + e^2 + e^3) - 3 = log(1 + e^-1 + e^-2) = 0.40760596.
  const std::array<float, 3> z{1.0f, 2.0f, 3.0f};
  CHECK(loss.loss(z, 2) == doctest::Approx(0.40760596).epsilon(1e-6));
  CHECK(loss.loss(z, 0) == doctest::Approx(2.40760596).epsilon(1e-6));
}

TEST_CASE("SoftmaxCrossEntropy: label smoothing on a hand-computed case") {
  // s = 0.1, K = 3, label 0: targets (0.9 + 0.1/3, 0.1/3, 0.1/3).
  // loss = lse - sum t z = 3.40760596 - (0.93333 * 1 + 0.03333 * 2 + 0.03333 * 3) = 3.40760596 - 1.1.
  SoftmaxCrossEntropy loss{0.1f};
  const std::array<float, 3> z{1.0f, 2.0f, 3.0f};
  CHECK(loss.loss(z, 0) == doctest::Approx(2.30760596).epsilon(1e-6));
  // Smoothing raises the loss of a confident right answer and lowers that of a confident wrong one.
  const std::array<float, 3> confident{10.0f, 0.0f, 0.0f};
  CHECK(loss.loss(confident, 0) > SoftmaxCrossEntropy{}.loss(confident, 0));
  CHECK(loss.loss(confident, 1) < SoftmaxCrossEntropy{}.loss(confident, 1));
  // Gradient: softmax - target; softmax(1, 2, 3) = (0.09003057, 0.24472847, 0.66524096).
  std::array<float, 3> gradient{};
  loss.gradient(z, 0, 1.0f, gradient);
  CHECK(gradient[0] == doctest::Approx(0.09003057 - (0.9 + 0.1 / 3)).epsilon(1e-5));
  CHECK(gradient[1] == doctest::Approx(0.24472847 - 0.1 / 3).epsilon(1e-5));
  CHECK(gradient[2] == doctest::Approx(0.66524096 - 0.1 / 3).epsilon(1e-5));
}

TEST_CASE("SoftmaxCrossEntropy: logits of +-1000 give a finite loss and gradient") {
  SoftmaxCrossEntropy loss;
  const std::array<float, 4> z{1000.0f, -1000.0f, 0.0f, 999.0f};
  // log(e^1000 + e^-1000 + 1 + e^999) - z_label = 1000 + log(1 + e^-1) - z_label, to double precision.
  const double lse = 1000.0 + std::log1p(std::exp(-1.0));
  CHECK(std::isfinite(loss.loss(z, 0)));
  CHECK(loss.loss(z, 0) == doctest::Approx(lse - 1000.0).epsilon(1e-6));
  CHECK(loss.loss(z, 3) == doctest::Approx(lse - 999.0).epsilon(1e-6));
  CHECK(loss.loss(z, 1) == doctest::Approx(lse + 1000.0).epsilon(1e-6));
  CHECK(SoftmaxCrossEntropy::log_sum_exp(z) == doctest::Approx(lse).epsilon(1e-12));
  const std::array<float, 3> low{-1000.0f, -1000.0f, -1001.0f};
  CHECK(std::isfinite(loss.loss(low, 2)));
  CHECK(loss.loss(low, 2) == doctest::Approx(1.0 + std::log(2.0 + std::exp(-1.0))).epsilon(1e-6));
  // log_sum_exp is taken in double, so even next to 1000 (where a float's ulp is 6e-5) the
  // probabilities and the gradient keep float precision.
  std::array<float, 4> gradient{};
  loss.gradient(z, 1, 1.0f, gradient);
  for (float g : gradient) CHECK(std::isfinite(g));
  const double p0 = 1.0 / (1.0 + std::exp(-1.0));
  CHECK(gradient[0] == doctest::Approx(p0).epsilon(1e-6));
  CHECK(gradient[1] == doctest::Approx(-1.0).epsilon(1e-6));
  CHECK(gradient[3] == doctest::Approx(1 - p0).epsilon(1e-6));
  CHECK(std::abs(gradient[0] + gradient[1] + gradient[2] + gradient[3]) < 1e-6);
  std::array<float, 4> probabilities{};
  SoftmaxCrossEntropy::probabilities(z, probabilities);
  CHECK(probabilities[0] + probabilities[1] + probabilities[2] + probabilities[3] ==
        doctest::Approx(1.0).epsilon(1e-6));
}

TEST_CASE("SoftmaxCrossEntropy: the gradient matches finite differences and sums to zero") {
  ctnn::Rng rng(1);
  for (float smoothing : {0.0f, 0.1f, 0.3f}) {
    for (int trial = 0; trial < 5; ++trial) {
      SoftmaxCrossEntropy loss{smoothing};
      std::array<float, 10> z{};
      for (float& v : z) v = rng.normal(0.0f, 3.0f);
      const std::size_t label = rng.below(10);
      const float scale = 0.25f;  // the 1 / batch factor of a mean loss
      std::array<float, 10> gradient{};
      loss.gradient(z, label, scale, gradient);
      double total = 0;
      for (std::size_t k = 0; k < 10; ++k) {
        // Central differences in double of the definition (and of the float loss, h large enough).
        std::array<double, 10> plus{}, minus{};
        for (std::size_t j = 0; j < 10; ++j) plus[j] = minus[j] = z[j];
        const double h = 1e-4;
        plus[k] += h, minus[k] -= h;
        const double numerical =
            scale * (loss_in_double(plus, label, smoothing) - loss_in_double(minus, label, smoothing)) / (2 * h);
        CAPTURE(smoothing);
        CAPTURE(k);
        CHECK(gradient[k] == doctest::Approx(numerical).epsilon(1e-4).scale(1e-3));
        std::array<float, 10> zf = z;
        zf[k] = z[k] + 0.01f;
        const double float_plus = loss.loss(zf, label);
        zf[k] = z[k] - 0.01f;
        const double float_minus = loss.loss(zf, label);
        CHECK(gradient[k] ==
              doctest::Approx(scale * (float_plus - float_minus) / (static_cast<double>(z[k] + 0.01f) - (z[k] - 0.01f)))
                  .epsilon(1e-2)
                  .scale(1e-2));
        total += gradient[k];
      }
      CHECK(std::abs(total) < 1e-6);
      // The float loss agrees with the definition in double.
      std::array<double, 10> zd{};
      for (std::size_t j = 0; j < 10; ++j) zd[j] = z[j];
      CHECK(loss.loss(z, label) == doctest::Approx(loss_in_double(zd, label, smoothing)).epsilon(1e-5));
    }
  }
}
