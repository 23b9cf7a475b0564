// Interval bound propagation (robust/interval.hpp): on small random nets that use every layer
// kind, the bounds hold the outputs of every layer for random points and corners of the
// eps-ball, equal the forward pass at eps 0, widen with eps; the specification margins are
// sound and at least as tight as subtracting logit bounds; a certified image survives PGD.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <ratio>
#include <robust/bar_images.hpp>
#include <span>
#include <stdexcept>
#include <tuple>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/robust/attacks.hpp>
#include <ctnn/robust/interval.hpp>

namespace {
using namespace ctnn;

// Strided and same-padded convolutions, batch norm (with negative scales) before a standalone
// LeakyReLU, overlapping average pooling, Tanh, max pooling, dropout, a Sigmoid Dense, logits.
// clang-format off
using EveryLayerNet = Net<Input<2, 9, 9>,
                          Conv<4, 3, 2, same>, ReLU,
                          Conv<5, 3, 1, same>, BatchNorm<>, LeakyReLU<std::ratio<1, 10>>,
                          AvgPool<2, 1>,
                          Conv<3, 2>, Tanh, MaxPool<2, 1>, Dropout<>,
                          Dense<7, Sigmoid>,
                          Dense<4>>;
// Standalone activations (after pooling, after a fused one) and a batch-normalized Dense.
using StandaloneNet = Net<Input<1, 8, 8>,
                          Conv<3, 3>, BatchNorm<>, ReLU, MaxPool<2>, Tanh, Identity,
                          Dense<6>, BatchNorm<>, Sigmoid, ReLU,
                          Dense<5>>;
// clang-format on
// A last layer with an activation: no specification to fold, margins from the logit bounds.
using SquashedNet = Net<Input<1, 6, 6>, Conv<2, 3>, Dense<3>, Sigmoid>;

constexpr Normalization normalization{0.4f, 0.3f};

// Random batch-norm statistics and scales, about a third of them negative, so the layer is a
// real affine map that sometimes swaps the bounds.
template <class NetType>
void randomize_batch_norms(NetType& net, std::uint64_t seed) {
  Rng rng(seed);
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&](auto& layer) {
          if constexpr (requires { layer.running_variance; }) {
            for (std::size_t c = 0; c < layer.gamma.size; ++c) {
              layer.gamma[c] = rng.uniform(-1.0f, 2.0f);
              layer.beta[c] = rng.uniform(-0.5f, 0.5f);
              layer.running_mean[c] = rng.uniform(-0.5f, 0.5f);
              layer.running_variance[c] = rng.uniform(0.3f, 2.0f);
            }
          }
        }(net.template layer<I>()),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

template <class NetType>
NetType random_net(std::uint64_t seed) {
  NetType net(seed);
  randomize_batch_norms(net, seed + 1);
  return net;
}

template <class NetType>
std::vector<float> random_pixels(std::size_t images, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> pixels(images * NetType::in_shape::size);
  // Some pixels at 0 and 1 exactly, where the ball is clipped.
  for (float& pixel : pixels) pixel = std::clamp(rng.uniform(-0.2f, 1.2f), 0.0f, 1.0f);
  return pixels;
}

template <class NetType, std::size_t Batch>
void set_boxes(IntervalWorkspace<NetType, Batch>& ws, const std::vector<float>& pixels, float epsilon) {
  constexpr std::size_t size = NetType::in_shape::size;
  for (std::size_t b = 0; b < ws.count; ++b) {
    ws.set_input(b, std::span<const float>(pixels).subspan(b * size, size), normalization, epsilon);
    ws.labels[b] = b % NetType::classes;
  }
}

// Margin of error for float rounding: a few ulp of the values involved, summed over a layer.
bool inside(float value, float lower, float upper) {
  const float slack = 1e-4f * (1.0f + std::max(std::fabs(lower), std::fabs(upper)));
  return value >= lower - slack && value <= upper + slack;
}

// Forwards `points` inputs from image b's box (random points, then random corners) through
// the net and checks every layer's output against the bounds, and every logit difference
// against the margins. Returns the number of checks.
template <class NetType, std::size_t Batch>
std::size_t check_points(const NetType& net, IntervalWorkspace<NetType, Batch>& ws, std::size_t b, std::size_t points,
                         std::uint64_t seed) {
  using In = typename NetType::in_shape;
  auto buffers = std::make_unique<typename NetType::Inference>();
  Rng rng(seed);
  tensor_of<In> x;
  std::size_t checks = 0;
  for (std::size_t point = 0; point < points; ++point) {
    const bool corner = point >= points / 2;
    for (std::size_t i = 0; i < In::size; ++i) {
      const float lower = ws.input_lower(b)[i], upper = ws.input_upper(b)[i];
      x[i] = corner ? (rng.uniform() < 0.5f ? lower : upper) : rng.uniform(lower, upper);
    }
    net.forward(x, *buffers);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (
          [&] {
            const auto& y = std::get<I>(*buffers);
            for (std::size_t i = 0; i < y.size; ++i) {
              const bool ok = inside(y[i], ws.template lower<I + 1>(b)[i], ws.template upper<I + 1>(b)[i]);
              if (!ok)
                FAIL_CHECK("layer " << I << " output " << i << " = " << y[i] << " outside ["
                                    << ws.template lower<I + 1>(b)[i] << ", " << ws.template upper<I + 1>(b)[i] << "]");
              ++checks;
            }
          }(),
          ...);
    }
    (std::make_index_sequence<NetType::layer_count>{});
    const auto& logits = std::get<NetType::layer_count - 1>(*buffers);
    const std::size_t label = ws.labels[b];
    for (std::size_t k = 0; k < NetType::classes; ++k) {
      const float difference = logits[label] - logits[k];
      CHECK(difference >= ws.margins(b)[k] - 1e-4f * (1.0f + std::fabs(difference)));
      ++checks;
    }
  }
  return checks;
}

template <class NetType>
void check_soundness(std::uint64_t seed) {
  const NetType net = random_net<NetType>(seed);
  constexpr std::size_t images = 3;
  const auto pixels = random_pixels<NetType>(images, seed + 2);
  for (const float epsilon : {0.01f, 0.1f, 0.3f}) {
    CAPTURE(epsilon);
    IntervalWorkspace<NetType, images> ws;
    set_boxes(ws, pixels, epsilon);
    interval_forward(net, ws);
    std::size_t checks = 0;
    for (std::size_t b = 0; b < images; ++b) checks += check_points(net, ws, b, 40, seed + 3 + b);
    CHECK(checks > 40 * images * NetType::classes);
  }
}

TEST_CASE("interval bounds hold every layer's outputs for points and corners of the ball") {
  SUBCASE("every layer kind") {
    check_soundness<EveryLayerNet>(1);
    check_soundness<EveryLayerNet>(2);
  }
  SUBCASE("standalone activations, batch-normalized Dense") { check_soundness<StandaloneNet>(3); }
  SUBCASE("a squashed last layer") { check_soundness<SquashedNet>(4); }
}

template <class NetType>
void check_zero_radius(std::uint64_t seed) {
  NetType net = random_net<NetType>(seed);
  constexpr std::size_t images = 3;
  const auto pixels = random_pixels<NetType>(images, seed + 2);
  IntervalWorkspace<NetType, images> ws;
  set_boxes(ws, pixels, 0.0f);
  interval_forward(net, ws);
  for (std::size_t b = 0; b < images; ++b) {
    tensor_of<typename NetType::in_shape> x;
    for (std::size_t i = 0; i < x.size; ++i)
      x[i] = (pixels[b * x.size + i] - normalization.mean) * (1.0f / normalization.stddev);
    CHECK(x == ws.input_lower(b));
    const auto& y = net.forward(x);
    for (std::size_t k = 0; k < NetType::classes; ++k) {
      CHECK(ws.output_lower(b)[k] == doctest::Approx(y[k]).epsilon(1e-6));
      CHECK(ws.output_upper(b)[k] == doctest::Approx(y[k]).epsilon(1e-6));
    }
    // Certified at eps 0 exactly when the label is the unique prediction.
    const std::size_t predicted = net.predict(x);
    CHECK(ws.certified(b) == (predicted == ws.labels[b]));
  }
}

TEST_CASE("at eps 0 the bounds are the forward pass") {
  check_zero_radius<EveryLayerNet>(5);
  check_zero_radius<StandaloneNet>(6);
}

TEST_CASE("bounds widen and margins shrink as eps grows") {
  const EveryLayerNet net = random_net<EveryLayerNet>(7);
  constexpr std::size_t images = 2;
  const auto pixels = random_pixels<EveryLayerNet>(images, 8);
  IntervalWorkspace<EveryLayerNet, images> narrow, wide;
  for (const auto& [small, large] : {std::pair{0.0f, 0.02f}, std::pair{0.02f, 0.1f}, std::pair{0.1f, 0.4f}}) {
    set_boxes(narrow, pixels, small);
    set_boxes(wide, pixels, large);
    interval_forward(net, narrow);
    interval_forward(net, wide);
    std::size_t strictly_wider = 0;
    for (std::size_t b = 0; b < images; ++b) {
      [&]<std::size_t... I>(std::index_sequence<I...>) {
        (
            [&] {
              const auto &inner_lower = narrow.template lower<I>(b), &inner_upper = narrow.template upper<I>(b);
              const auto &outer_lower = wide.template lower<I>(b), &outer_upper = wide.template upper<I>(b);
              for (std::size_t i = 0; i < inner_lower.size; ++i) {
                CHECK(inside(inner_lower[i], outer_lower[i], outer_upper[i]));
                CHECK(inside(inner_upper[i], outer_lower[i], outer_upper[i]));
                strictly_wider += outer_upper[i] - outer_lower[i] > inner_upper[i] - inner_lower[i];
              }
            }(),
            ...);
      }
      (std::make_index_sequence<EveryLayerNet::layer_count + 1>{});
      for (std::size_t k = 0; k < EveryLayerNet::classes; ++k)
        CHECK(wide.margins(b)[k] <= narrow.margins(b)[k] + 1e-5f);
    }
    CHECK(strictly_wider > 0);
  }
}

TEST_CASE("the specification margins are at least as tight as subtracting logit bounds") {
  const StandaloneNet net = random_net<StandaloneNet>(9);
  constexpr std::size_t images = 4;
  const auto pixels = random_pixels<StandaloneNet>(images, 10);
  IntervalWorkspace<StandaloneNet, images> ws;
  set_boxes(ws, pixels, 0.05f);
  interval_forward(net, ws);
  std::size_t tighter = 0;
  for (std::size_t b = 0; b < images; ++b) {
    const std::size_t label = ws.labels[b];
    for (std::size_t k = 0; k < StandaloneNet::classes; ++k) {
      if (k == label) continue;
      const float naive = ws.output_lower(b)[label] - ws.output_upper(b)[k];
      CHECK(ws.margins(b)[k] >= naive - 1e-5f);
      tighter += ws.margins(b)[k] > naive + 1e-4f;
    }
  }
  CHECK(tighter > 0);
}

// The bar net, fine-tuned by interval training with eps ramped up to `epsilon` (Gowal et al.'s
// loss, kappa 1/2), so that the bounds certify part of the images at an eps where PGD fools others.
testing::BarNet interval_trained_bar_net(float epsilon) {
  testing::BarNet net = testing::trained_bar_net();
  const Dataset train = testing::bar_images(256, 11);
  constexpr std::size_t batch = 32;
  Adam optimizer(net, {.learning_rate = 0.003f});
  Workspace<testing::BarNet, batch> ws;
  IntervalWorkspace<testing::BarNet, batch> bounds;
  const std::size_t size = train.image_size();
  for (std::size_t epoch = 0; epoch < 6; ++epoch)
    for (std::size_t first = 0; first < train.size(); first += batch) {
      const auto pixels = std::span(train.images).subspan(first * size, batch * size);
      load_batch(ws, pixels, std::span(train.labels).subspan(first, batch), testing::bar_normalization);
      ws.zero_grad();
      net.forward(ws, Mode::train);
      net.backward(ws);
      for (std::size_t b = 0; b < batch; ++b) {
        bounds.set_input(b, pixels.subspan(b * size, size), testing::bar_normalization,
                         epsilon * static_cast<float>(epoch + 1) / 6);
        bounds.labels[b] = train.labels[first + b];
      }
      interval_forward(net, bounds);
      interval_backward(net, bounds, 1.0f, ws.grad());
      optimizer.update(net, ws.grad());
    }
  return net;
}

TEST_CASE("a certified image is never broken by PGD") {
  constexpr float epsilon = 0.05f;
  testing::BarNet net = interval_trained_bar_net(2 * epsilon);
  const Dataset images = testing::bar_images(64, 31);
  const Verification verification = verify(net, images, testing::bar_normalization, epsilon);
  REQUIRE(verification.images == 64);
  CHECK(verification.verified <= verification.clean_correct);
  REQUIRE(verification.verified >= 8);  // the check below needs certified images to attack

  Workspace<testing::BarNet, 64> ws;
  load_batch(ws, images.images, images.labels, testing::bar_normalization);
  AttackOptions options = pgd(Norm::linf, epsilon, 20);
  options.stop_at_success = false;
  std::vector<float> adversarial = images.images;  // the ball is around these exact pixels
  perturb(net, ws, testing::bar_normalization, options, 5, adversarial);
  std::size_t fooled = 0;
  for (std::size_t b = 0; b < ws.count; ++b) {
    const auto& logits = net.forward(ws.input(b));
    const bool correct = static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + 4) - logits.data()) ==
                         images.labels[b];
    if (verification.certified[b]) CHECK(correct);
    fooled += !correct;
  }
  CHECK(fooled > 0);  // the attack has teeth here: it breaks some of the images left uncertified
  MESSAGE(verification.verified << " of 64 certified at eps " << epsilon << "; PGD fooled " << fooled);
}

TEST_CASE("verify and the interval workspace refuse bad input") {
  const SquashedNet net(1);
  IntervalWorkspace<SquashedNet, 2> ws;
  const std::vector<float> pixels(SquashedNet::in_shape::size, 0.5f);
  CHECK_THROWS_AS(ws.set_input(0, std::span<const float>(pixels).first(5), normalization, 0.1f), std::invalid_argument);
  CHECK_THROWS_AS(ws.set_input(0, pixels, normalization, -0.1f), std::invalid_argument);
  ws.set_input(0, pixels, normalization, 0.1f);
  ws.set_input(1, pixels, normalization, 0.1f);
  ws.labels = {0, 3};
  CHECK_THROWS_AS(interval_forward(net, ws), std::out_of_range);
  ws.labels = {0, 1};
  ws.count = 3;
  CHECK_THROWS_AS(interval_forward(net, ws), std::out_of_range);
  const Dataset wrong_shape{"wrong", 1, 5, 5, std::vector<float>(25, 0.5f), {0}};
  CHECK_THROWS_AS(verify(net, wrong_shape, normalization, 0.1f), std::invalid_argument);
  const Dataset right_shape{"right", 1, 6, 6, pixels, {0}};
  CHECK_THROWS_AS(verify(net, right_shape, normalization, -1.0f), std::invalid_argument);
}

}  // namespace
