// Optimizers: each update rule on a one-layer net, against values worked out by hand and
// against a plain scalar re-implementation of PyTorch's rules in double (SGD with momentum,
// Nesterov and weight decay; Adam with bias correction; AdamW's decoupled decay; RMSprop with
// and without momentum). The gradients are set by hand, so only the update is under test.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <memory>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

// One parameter set: a Dense<2> on 3 inputs, 6 weights and 2 biases.
using Tiny = Net<Input<1, 1, 3>, Dense<2, Identity>>;
constexpr std::size_t parameter_count = 8;

void set_weights(Tiny& net, const std::vector<double>& w) {
  auto& layer = net.layer<0>();
  for (std::size_t i = 0; i < 6; ++i) layer.weight[i] = static_cast<float>(w[i]);
  for (std::size_t i = 0; i < 2; ++i) layer.bias[i] = static_cast<float>(w[6 + i]);
}
std::vector<double> weights(Tiny& net) {
  std::vector<double> w;
  for (std::size_t i = 0; i < 6; ++i) w.push_back(net.layer<0>().weight[i]);
  for (std::size_t i = 0; i < 2; ++i) w.push_back(net.layer<0>().bias[i]);
  return w;
}
std::unique_ptr<Tiny::layers> gradient(const std::vector<double>& g) {
  auto grad = std::make_unique<Tiny::layers>();
  for (std::size_t i = 0; i < 6; ++i) std::get<0>(*grad).weight[i] = static_cast<float>(g[i]);
  for (std::size_t i = 0; i < 2; ++i) std::get<0>(*grad).bias[i] = static_cast<float>(g[6 + i]);
  return grad;
}

// Initial weights and three steps of gradients with both signs and several magnitudes.
const std::vector<double> initial{0.5, -0.3, 0.8, -1.2, 0.05, 2.0, 0.1, -0.7};
const std::vector<std::vector<double>> gradients{{0.2, -0.1, 0.05, 1.5, -0.8, 0.3, -0.013, 0.6},
                                                 {0.1, 0.3, -0.2, 1.0, -0.5, -0.3, 0.02, 0.4},
                                                 {-0.4, 0.2, 0.1, 0.5, -0.9, 0.0, 0.03, 0.2}};

void check_weights(Tiny& net, const std::vector<double>& expected, double tolerance = 2e-6) {
  const auto got = weights(net);
  for (std::size_t i = 0; i < parameter_count; ++i) {
    CAPTURE(i);
    CHECK(got[i] == doctest::Approx(expected[i]).epsilon(tolerance).scale(1e-3));
  }
}

// PyTorch's torch.optim.SGD, scalar, in double.
struct ScalarSgd {
  double lr, momentum, weight_decay;
  bool nesterov;
  std::vector<double> buffer = std::vector<double>(parameter_count, 0.0);
  void step(std::vector<double>& w, const std::vector<double>& g) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      double d = g[i] + weight_decay * w[i];
      if (momentum != 0) {
        buffer[i] = momentum * buffer[i] + d;
        d = nesterov ? d + momentum * buffer[i] : buffer[i];
      }
      w[i] -= lr * d;
    }
  }
};

// torch.optim.Adam (L2 in the gradient) and AdamW (decoupled decay), scalar, in double.
struct ScalarAdam {
  double lr, beta1, beta2, epsilon, weight_decay;
  bool decoupled;
  int t = 0;
  std::vector<double> m = std::vector<double>(parameter_count, 0.0), v = std::vector<double>(parameter_count, 0.0);
  void step(std::vector<double>& w, const std::vector<double>& g) {
    ++t;
    for (std::size_t i = 0; i < w.size(); ++i) {
      double d = g[i];
      if (decoupled)
        w[i] *= 1 - lr * weight_decay;
      else
        d += weight_decay * w[i];
      m[i] = beta1 * m[i] + (1 - beta1) * d;
      v[i] = beta2 * v[i] + (1 - beta2) * d * d;
      const double m_hat = m[i] / (1 - std::pow(beta1, t)), v_hat = v[i] / (1 - std::pow(beta2, t));
      w[i] -= lr * m_hat / (std::sqrt(v_hat) + epsilon);
    }
  }
};

// torch.optim.RMSprop (centered = False), scalar, in double.
struct ScalarRmsProp {
  double lr, alpha, epsilon, momentum, weight_decay;
  std::vector<double> square = std::vector<double>(parameter_count, 0.0),
                      buffer = std::vector<double>(parameter_count, 0.0);
  void step(std::vector<double>& w, const std::vector<double>& g) {
    for (std::size_t i = 0; i < w.size(); ++i) {
      const double d = g[i] + weight_decay * w[i];
      square[i] = alpha * square[i] + (1 - alpha) * d * d;
      const double update = d / (std::sqrt(square[i]) + epsilon);
      if (momentum != 0) {
        buffer[i] = momentum * buffer[i] + update;
        w[i] -= lr * buffer[i];
      } else {
        w[i] -= lr * update;
      }
    }
  }
};

template <class Optimizer, class Options, class Scalar>
void compare_three_steps(Options options, Scalar scalar, double tolerance = 2e-6) {
  Tiny net;
  set_weights(net, initial);
  Optimizer optimizer(net, options);
  std::vector<double> expected = initial;
  for (std::size_t step = 0; step < gradients.size(); ++step) {
    CAPTURE(step);
    const auto grad = gradient(gradients[step]);
    const Tiny::layers before = *grad;
    optimizer.update(net, *grad);
    CHECK(std::get<0>(*grad).weight == std::get<0>(before).weight);  // the gradient is only read
    scalar.step(expected, gradients[step]);
    check_weights(net, expected, tolerance);
  }
}
}  // namespace

TEST_CASE("Sgd: plain, momentum, Nesterov and weight decay by hand") {
  // w = 1, g = 0.5, lr = 0.1 on every parameter.
  const std::vector<double> ones(parameter_count, 1.0), halves(parameter_count, 0.5);
  const auto run = [&](SgdOptions options, int steps) {
    Tiny net;
    set_weights(net, ones);
    Sgd<Tiny> sgd(net, options);
    const auto grad = gradient(halves);
    for (int step = 0; step < steps; ++step) sgd.update(net, *grad);
    return weights(net)[3];
  };
  CHECK(run({.learning_rate = 0.1f}, 1) == doctest::Approx(0.95));
  CHECK(run({.learning_rate = 0.1f}, 3) == doctest::Approx(0.85));
  // Momentum 0.9: v = 0.5, 0.95, 1.355; w = 0.95, 0.855, 0.7195.
  CHECK(run({.learning_rate = 0.1f, .momentum = 0.9f}, 1) == doctest::Approx(0.95));
  CHECK(run({.learning_rate = 0.1f, .momentum = 0.9f}, 2) == doctest::Approx(0.855));
  CHECK(run({.learning_rate = 0.1f, .momentum = 0.9f}, 3) == doctest::Approx(0.7195));
  // Nesterov: the step is g + mu v = 0.5 + 0.45 = 0.95, so w = 0.905; then v = 0.95,
  // step 0.5 + 0.855 = 1.355, w = 0.7695.
  CHECK(run({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true}, 1) == doctest::Approx(0.905));
  CHECK(run({.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true}, 2) == doctest::Approx(0.7695));
  // Weight decay 0.1 adds 0.1 w to the gradient: 0.6, w = 0.94.
  CHECK(run({.learning_rate = 0.1f, .weight_decay = 0.1f}, 1) == doctest::Approx(0.94));
}

TEST_CASE("Sgd: three steps against the scalar rule") {
  compare_three_steps<Sgd<Tiny>>(SgdOptions{.learning_rate = 0.1f}, ScalarSgd{0.1, 0.0, 0.0, false});
  compare_three_steps<Sgd<Tiny>>(SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f}, ScalarSgd{0.1, 0.9, 0.0, false});
  compare_three_steps<Sgd<Tiny>>(SgdOptions{.learning_rate = 0.05f, .momentum = 0.8f, .nesterov = true},
                                 ScalarSgd{0.05, 0.8, 0.0, true});
  compare_three_steps<Sgd<Tiny>>(SgdOptions{.learning_rate = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f},
                                 ScalarSgd{0.1, 0.9, 0.01, false});
  compare_three_steps<Sgd<Tiny>>(
      SgdOptions{.learning_rate = 0.1f, .momentum = 0.5f, .nesterov = true, .weight_decay = 0.05f},
      ScalarSgd{0.1, 0.5, 0.05, true});
}

TEST_CASE("Adam: bias correction makes the first step lr in the gradient's direction") {
  // m_hat = g and v_hat = g^2 after one step: w -= lr g / (|g| + eps). Without the correction
  // the step would be lr (1 - beta1) / sqrt(1 - beta2) = 3.16 lr.
  Tiny net;
  set_weights(net, initial);
  Adam<Tiny> adam(net, {.learning_rate = 0.01f});
  adam.update(net, *gradient(gradients[0]));
  std::vector<double> expected = initial;
  for (std::size_t i = 0; i < parameter_count; ++i)
    expected[i] -= 0.01 * gradients[0][i] / (std::abs(gradients[0][i]) + 1e-8);
  check_weights(net, expected);
  // A constant gradient keeps m_hat / sqrt(v_hat) = sign(g): after three steps w moved 3 lr.
  Tiny constant;
  set_weights(constant, initial);
  Adam<Tiny> steady(constant, {.learning_rate = 0.01f});
  const auto grad = gradient(gradients[0]);
  for (int step = 0; step < 3; ++step) steady.update(constant, *grad);
  for (std::size_t i = 0; i < parameter_count; ++i)
    expected[i] = initial[i] - 3 * 0.01 * gradients[0][i] / (std::abs(gradients[0][i]) + 1e-8);
  check_weights(constant, expected, 1e-5);
}

TEST_CASE("Adam: three steps against the scalar rule, with and without L2") {
  compare_three_steps<Adam<Tiny>>(AdamOptions{.learning_rate = 0.01f}, ScalarAdam{0.01, 0.9, 0.999, 1e-8, 0.0, false});
  compare_three_steps<Adam<Tiny>>(AdamOptions{.learning_rate = 0.05f, .beta1 = 0.8f, .beta2 = 0.99f, .epsilon = 1e-3f},
                                  ScalarAdam{0.05, 0.8, 0.99, 1e-3, 0.0, false});
  compare_three_steps<Adam<Tiny>>(AdamOptions{.learning_rate = 0.01f, .weight_decay = 0.1f},
                                  ScalarAdam{0.01, 0.9, 0.999, 1e-8, 0.1, false});
}

TEST_CASE("AdamW: decoupled decay, which differs from Adam's L2") {
  compare_three_steps<AdamW<Tiny>>(AdamOptions{.learning_rate = 0.01f, .weight_decay = 0.1f},
                                   ScalarAdam{0.01, 0.9, 0.999, 1e-8, 0.1, true});
  compare_three_steps<AdamW<Tiny>>(AdamOptions{.learning_rate = 0.1f, .weight_decay = 0.5f},
                                   ScalarAdam{0.1, 0.9, 0.999, 1e-8, 0.5, true});
  // The same options through Adam and AdamW give different weights; without decay, the same.
  const auto after_one_step = [](auto tag, AdamOptions options) {
    using Optimizer = typename decltype(tag)::type;
    Tiny net;
    set_weights(net, initial);
    Optimizer optimizer(net, options);
    optimizer.update(net, *gradient(gradients[0]));
    return weights(net);
  };
  const AdamOptions decayed{.learning_rate = 0.1f, .weight_decay = 0.5f};
  const auto adam = after_one_step(std::type_identity<Adam<Tiny>>{}, decayed);
  const auto adamw = after_one_step(std::type_identity<AdamW<Tiny>>{}, decayed);
  std::size_t differing = 0;
  for (std::size_t i = 0; i < parameter_count; ++i) differing += std::abs(adam[i] - adamw[i]) > 1e-4;
  CHECK(differing == parameter_count);
  // By hand for w = 2.0 (index 5), g = 0.3: Adam's first step only sees sign(g + 0.5 w) = +1:
  // 2 - 0.1 = 1.9. AdamW decays first, 2 (1 - 0.05) = 1.9, then steps by sign(g): 1.8.
  CHECK(adam[5] == doctest::Approx(1.9));
  CHECK(adamw[5] == doctest::Approx(1.8));
  const AdamOptions plain{.learning_rate = 0.1f};
  CHECK(after_one_step(std::type_identity<Adam<Tiny>>{}, plain) ==
        after_one_step(std::type_identity<AdamW<Tiny>>{}, plain));
}

TEST_CASE("RmsProp: by hand, and three steps against the scalar rule with and without momentum") {
  // First step: s = (1 - alpha) g^2, so the step is lr g / (sqrt(1 - alpha) |g|) = 10 lr sign(g).
  Tiny net;
  set_weights(net, initial);
  RmsProp<Tiny> rmsprop(net, {.learning_rate = 0.001f});
  rmsprop.update(net, *gradient(gradients[0]));
  std::vector<double> expected = initial;
  for (std::size_t i = 0; i < parameter_count; ++i)
    expected[i] -= 0.001 * gradients[0][i] / (std::sqrt(0.01 * gradients[0][i] * gradients[0][i]) + 1e-8);
  check_weights(net, expected);
  CHECK(weights(net)[3] == doctest::Approx(-1.2 - 0.01));

  compare_three_steps<RmsProp<Tiny>>(RmsPropOptions{.learning_rate = 0.01f}, ScalarRmsProp{0.01, 0.99, 1e-8, 0.0, 0.0});
  compare_three_steps<RmsProp<Tiny>>(RmsPropOptions{.learning_rate = 0.01f, .alpha = 0.9f, .momentum = 0.9f},
                                     ScalarRmsProp{0.01, 0.9, 1e-8, 0.9, 0.0});
  compare_three_steps<RmsProp<Tiny>>(
      RmsPropOptions{.learning_rate = 0.01f, .epsilon = 1e-2f, .momentum = 0.5f, .weight_decay = 0.1f},
      ScalarRmsProp{0.01, 0.99, 1e-2, 0.5, 0.1});
}

TEST_CASE("Optimizers: every trained tensor of every layer moves, running statistics do not") {
  using Deep = Net<Input<1, 6, 6>, Conv<2, 3>, BatchNorm<>, ReLU, Dense<3>>;
  Deep net(1);
  Workspace<Deep, 4> ws;
  Rng rng(2);
  for (std::size_t b = 0; b < 4; ++b) {
    for (std::size_t i = 0; i < 36; ++i) ws.input(b)[i] = rng.uniform();
    ws.labels[b] = b % 3;
  }
  net.forward(ws, Mode::eval);  // eval: the running statistics stay put
  ws.zero_grad();
  net.backward(ws);
  const auto mean_before = net.layer<1>().running_mean, variance_before = net.layer<1>().running_variance;
  const Deep before = net;
  Adam<Deep> adam(net, {.learning_rate = 0.01f});
  adam.update(net, ws.grad());
  std::size_t moved = 0, tensors = 0;
  for_each_parameter(
      [&](const auto& now, const auto& then) {
        ++tensors;
        moved += !(now == then);
      },
      net.parameters(), const_cast<Deep&>(before).parameters());
  CHECK(tensors == 6);
  CHECK(moved == 6);
  CHECK(net.layer<1>().running_mean == mean_before);
  CHECK(net.layer<1>().running_variance == variance_before);
}
