// Interval training (robust/interval.hpp): the parameter gradient of the worst-case loss
// against central differences on small random nets (strided and same-padded convolutions with
// fused ReLU and Tanh, average and max pooling, standalone activations, Dense), its
// accumulation and weighting, and a full training step that is the same bit for bit whatever
// the number of threads.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <ratio>
#include <span>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/robust/interval.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;

// clang-format off
using PiecewiseNet = Net<Input<1, 7, 7>,
                         Conv<3, 3, 2, same>, AvgPool<2, 1>,
                         Conv<4, 2>, MaxPool<2>, LeakyReLU<std::ratio<1, 10>>,
                         Dense<6>,
                         Dense<3>>;
using SmoothNet = Net<Input<2, 6, 6>,
                      Conv<3, 3, 1, same, Tanh>, AvgPool<2>,
                      Conv<4, 2>, Sigmoid, Identity,
                      Dense<5, Tanh>,
                      Dense<4>>;
// clang-format on

constexpr Normalization normalization{0.5f, 0.25f};
constexpr std::size_t images = 5;

template <class NetType>
void fill_boxes(IntervalWorkspace<NetType, images>& ws, std::uint64_t seed, float epsilon) {
  Rng rng(seed);
  std::vector<float> pixels(NetType::in_shape::size);
  for (std::size_t b = 0; b < images; ++b) {
    for (float& pixel : pixels) pixel = rng.uniform();
    ws.set_input(b, pixels, normalization, epsilon);
    ws.labels[b] = rng.below(NetType::classes);
  }
}

// Every parameter's analytic gradient against central differences of the mean worst-case loss
// L, Richardson-extrapolated, D = (4 D(h/2) - D(h)) / 3 with D(h) = (L(w + h) - L(w - h)) / 2h,
// so that the curvature of Tanh, Sigmoid and the cross-entropy (the h^2 term) cancels. Weights
// enter the radii as |w|, which has a kink at 0: they are first moved at least 3h away from it.
// The loss is a float pass, whose rounding of a few ulp of L becomes a noise of about
// ulp(L) / h in a difference quotient: entries below that floor are not measured.
template <class NetType>
void check_gradient(std::uint64_t seed, float epsilon) {
  NetType net(seed);
  constexpr float h = 4e-3f;
  for_each_parameter(
      [](auto& tensor) {
        for (std::size_t i = 0; i < tensor.size; ++i)
          tensor[i] = std::copysign(std::max(std::fabs(tensor[i]), 3 * h), tensor[i]);
      },
      net.parameters());
  IntervalWorkspace<NetType, images> ws;
  fill_boxes(ws, seed + 1, epsilon);
  const float loss = interval_forward(net, ws);
  CAPTURE(loss);
  auto grad = std::make_unique<typename NetType::layers>();
  interval_backward(net, ws, 1.0f, *grad);

  auto loss_at = [&](float& parameter, float value) {
    const float saved = parameter;
    parameter = value;
    const float result = interval_forward(net, ws);
    parameter = saved;
    return static_cast<double>(result);
  };
  const double noise = 16 * 1.2e-7 * loss / h;
  std::size_t checked = 0;
  double worst = 0;
  for_each_parameter(
      [&](auto& tensor, const auto& analytic) {
        for (std::size_t i = 0; i < tensor.size; ++i) {
          const auto difference = [&](float step) {
            const float plus = tensor[i] + step, minus = tensor[i] - step;
            return (loss_at(tensor[i], plus) - loss_at(tensor[i], minus)) / static_cast<double>(plus - minus);
          };
          const double numeric = (4 * difference(h / 2) - difference(h)) / 3;
          const double error = std::fabs(numeric - analytic[i]);
          const double allowed = 1e-2 * std::max(std::fabs(numeric), std::fabs(double{analytic[i]})) + noise;
          worst = std::max(worst, error / allowed);
          if (error > allowed) FAIL_CHECK("parameter " << i << ": analytic " << analytic[i] << ", numeric " << numeric);
          ++checked;
        }
      },
      net.parameters(), *grad);
  CHECK(checked == NetType::param_count);
  MESSAGE("worst error / allowed: " << worst << " (noise floor " << noise << ")");
}

TEST_CASE("the interval loss gradient matches central differences") {
  SUBCASE("piecewise linear") {
    check_gradient<PiecewiseNet>(3, 0.05f);
    check_gradient<PiecewiseNet>(4, 0.2f);
  }
  SUBCASE("smooth") {
    check_gradient<SmoothNet>(5, 0.05f);
    check_gradient<SmoothNet>(6, 0.2f);
  }
}

TEST_CASE("interval_backward accumulates its weight times the gradient") {
  const PiecewiseNet net(8);
  IntervalWorkspace<PiecewiseNet, images> ws;
  fill_boxes(ws, 9, 0.1f);
  interval_forward(net, ws);
  auto once = std::make_unique<PiecewiseNet::layers>();
  auto twice = std::make_unique<PiecewiseNet::layers>();
  interval_backward(net, ws, 1.0f, *once);
  interval_backward(net, ws, 0.25f, *twice);
  interval_backward(net, ws, 0.75f, *twice);
  std::size_t nonzero = 0;
  for_each_parameter(
      [&](const auto& a, const auto& b) {
        for (std::size_t i = 0; i < a.size; ++i) {
          CHECK(b[i] == doctest::Approx(a[i]).epsilon(1e-5).scale(1e-6));
          nonzero += a[i] != 0.0f;
        }
      },
      *once, *twice);
  CHECK(nonzero > PiecewiseNet::param_count / 2);
}

// One step of Gowal et al.'s loss: kappa times the clean gradient plus (1 - kappa) times the
// worst-case one, then Adam.
std::unique_ptr<PiecewiseNet> train_step(int threads) {
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  auto net = std::make_unique<PiecewiseNet>(11);
  constexpr std::size_t batch = 24;
  Workspace<PiecewiseNet, batch> ws;
  IntervalWorkspace<PiecewiseNet, batch> bounds;
  Rng rng(12);
  std::vector<float> pixels(batch * PiecewiseNet::in_shape::size);
  std::vector<std::uint8_t> labels(batch);
  for (float& pixel : pixels) pixel = rng.uniform();
  for (auto& label : labels) label = static_cast<std::uint8_t>(rng.below(3));
  Adam optimizer(*net, {.learning_rate = 0.01f});
  for (std::size_t step = 0; step < 2; ++step) {
    load_batch(ws, pixels, labels, normalization);
    ws.zero_grad();
    net->forward(ws, Mode::train);
    net->backward(ws);
    for_each_parameter(
        [](auto& tensor) {
          for (std::size_t i = 0; i < tensor.size; ++i) tensor[i] *= 0.5f;
        },
        ws.grad());
    for (std::size_t b = 0; b < batch; ++b) {
      bounds.set_input(b, std::span<const float>(pixels).subspan(b * 49, 49), normalization, 0.1f);
      bounds.labels[b] = labels[b];
    }
    interval_forward(*net, bounds);
    interval_backward(*net, bounds, 0.5f, ws.grad());
    optimizer.update(*net, ws.grad());
  }
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
  return net;
}

bool same_weights(const PiecewiseNet& a, const PiecewiseNet& b) {
  bool same = true;
  for_each_parameter(
      [&same](const auto& x, const auto& y) {
        for (std::size_t i = 0; i < x.size; ++i) same = same && x[i] == y[i];
      },
      a.parameters(), b.parameters());
  return same;
}

TEST_CASE("an interval training step is the same bit for bit with 1 or 2 threads") {
  const auto one = train_step(1);
  const auto two = train_step(2);
  const auto again = train_step(2);
  CHECK(same_weights(*one, *two));
  CHECK(same_weights(*two, *again));
  CHECK_FALSE(same_weights(*one, PiecewiseNet(11)));
}

}  // namespace
