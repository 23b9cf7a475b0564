// DeepFool (robust/deepfool.hpp): on a linear classifier its one step is the closed-form
// distance to the nearest decision boundary, in pixels through the normalization; on the trained
// bar net (bar_images.hpp) its images really change the class, stay in [0, 1], and lie where
// PGD-L2 with a slightly larger ball finds adversarial images too.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <robust/bar_images.hpp>
#include <span>
#include <stdexcept>
#include <vector>

#include <ctnn/robust/attacks.hpp>
#include <ctnn/robust/deepfool.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;
using testing::bar_normalization;
using testing::BarNet;

// A linear model: one dense layer, the last, so without activation: logits = W z + b.
using Linear = Net<Dense<10>>::bind<Shape<1, 8, 8>>;
constexpr std::size_t linear_size = Linear::in_shape::size;
constexpr Normalization linear_normalization{0.1307f, 0.3081f};

// In pixels the model is logits = (W / stddev) x + b - (W / stddev) mean: row k's weights and
// offset, in double.
struct PixelModel {
  std::vector<double> weights, offsets;
  double logit(std::size_t k, std::span<const float> x) const {
    double sum = offsets[k];
    for (std::size_t i = 0; i < linear_size; ++i) sum += weights[k * linear_size + i] * x[i];
    return sum;
  }
};
PixelModel pixel_model(const Linear& net) {
  PixelModel model{std::vector<double>(10 * linear_size), std::vector<double>(10)};
  const auto& layer = net.layer<0>();
  for (std::size_t k = 0; k < 10; ++k) {
    model.offsets[k] = layer.bias[k];
    for (std::size_t i = 0; i < linear_size; ++i) {
      const double w = static_cast<double>(layer.weight[k * linear_size + i]) / linear_normalization.stddev;
      model.weights[k * linear_size + i] = w;
      model.offsets[k] -= w * linear_normalization.mean;
    }
  }
  return model;
}

// The distance from x to the boundary between classes `from` and `to`: |f(x)| / ||w||, with
// f = logit_to - logit_from and w its weights.
double boundary_distance(const PixelModel& model, std::span<const float> x, std::size_t from, std::size_t to) {
  double squares = 0;
  for (std::size_t i = 0; i < linear_size; ++i) {
    const double w = model.weights[to * linear_size + i] - model.weights[from * linear_size + i];
    squares += w * w;
  }
  return std::abs(model.logit(to, x) - model.logit(from, x)) / std::sqrt(squares);
}

// Images with pixels in [0.35, 0.65]: far enough from 0 and 1 that a short step is not clipped.
std::vector<float> mid_gray_images(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> pixels(count * linear_size);
  for (float& pixel : pixels) pixel = rng.uniform(0.35f, 0.65f);
  return pixels;
}

template <class NetType, std::size_t Batch>
void load_pixels(Workspace<NetType, Batch>& ws, std::span<const float> pixels, Normalization normalization) {
  const std::vector<std::uint8_t> labels(pixels.size() / NetType::in_shape::size, 0);
  load_batch(ws, pixels, std::span<const std::uint8_t>(labels), normalization);
}

template <class NetType, std::size_t Batch>
std::size_t predicted(const Workspace<NetType, Batch>& ws, std::size_t b) {
  const auto& logits = ws.output(b);
  return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + NetType::classes) - logits.data());
}

const Dataset& bar_test_images() {
  static const Dataset data = testing::bar_images(32, 29);
  return data;
}
}  // namespace

TEST_CASE("DeepFool: on a two-class linear model, its step is the distance to the boundary") {
  for (const std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    Linear net(seed);
    // Only classes 0 and 1 are in play: the others' biases are far below.
    for (std::size_t k = 2; k < 10; ++k) net.layer<0>().bias[k] = -1000.0f;
    net.layer<0>().bias[1] = 0.3f;
    const PixelModel model = pixel_model(net);
    constexpr std::size_t count = 8;
    std::vector<float> pixels = mid_gray_images(count, seed);
    const std::vector<float> clean = pixels;
    Workspace<Linear, count> ws;
    load_pixels(ws, pixels, linear_normalization);
    const std::vector<DeepFoolImage> results = deepfool(net, ws, linear_normalization, {}, std::span(pixels));
    REQUIRE(results.size() == count);
    for (std::size_t b = 0; b < count; ++b) {
      CAPTURE(b);
      const auto x = std::span<const float>(clean).subspan(b * linear_size, linear_size);
      const auto adversarial = std::span<const float>(pixels).subspan(b * linear_size, linear_size);
      const std::size_t from = model.logit(0, x) > model.logit(1, x) ? 0 : 1, to = 1 - from;
      CHECK(results[b].original == from);
      CHECK(results[b].adversarial == to);
      CHECK(results[b].iterations == 1);  // a linear model is crossed in one step
      // No pixel was clipped, so the step is (1 + overshoot) (distance + nudge) along w.
      CHECK(*std::min_element(adversarial.begin(), adversarial.end()) > 0.0f);
      CHECK(*std::max_element(adversarial.begin(), adversarial.end()) < 1.0f);
      const double expected = 1.02 * (boundary_distance(model, x, from, to) + 1e-4);
      CHECK(results[b].l2 == doctest::Approx(expected).epsilon(1e-4));
      // Along w = weights_to - weights_from: the cosine is 1.
      double dot = 0, step_squares = 0, w_squares = 0;
      for (std::size_t i = 0; i < linear_size; ++i) {
        const double step = static_cast<double>(adversarial[i]) - x[i];
        const double w = model.weights[to * linear_size + i] - model.weights[from * linear_size + i];
        dot += step * w;
        step_squares += step * step;
        w_squares += w * w;
      }
      CHECK(dot / std::sqrt(step_squares * w_squares) == doctest::Approx(1.0).epsilon(1e-5));
      // The image left in ws is the returned one, and it is classified as reported.
      net.forward(ws, Mode::eval);
      CHECK(predicted(ws, b) == to);
    }
  }
}

TEST_CASE("DeepFool: on a ten-class linear model, it reaches the nearest of the boundaries") {
  Linear net(4);
  const PixelModel model = pixel_model(net);
  constexpr std::size_t count = 16;
  std::vector<float> pixels = mid_gray_images(count, 4);
  const std::vector<float> clean = pixels;
  Workspace<Linear, count> ws;
  load_pixels(ws, pixels, linear_normalization);
  const std::vector<DeepFoolImage> results = deepfool(net, ws, linear_normalization, {}, std::span(pixels));
  std::size_t clear_cases = 0;
  for (std::size_t b = 0; b < count; ++b) {
    CAPTURE(b);
    const auto x = std::span<const float>(clean).subspan(b * linear_size, linear_size);
    std::size_t from = 0;
    for (std::size_t k = 1; k < 10; ++k)
      if (model.logit(k, x) > model.logit(from, x)) from = k;
    std::vector<double> distances(10, std::numeric_limits<double>::infinity());
    for (std::size_t k = 0; k < 10; ++k)
      if (k != from) distances[k] = boundary_distance(model, x, from, k);
    const auto nearest =
        static_cast<std::size_t>(std::min_element(distances.begin(), distances.end()) - distances.begin());
    const double nearest_distance = distances[nearest];
    distances[nearest] = std::numeric_limits<double>::infinity();
    const double second = *std::min_element(distances.begin(), distances.end());
    CHECK(results[b].original == from);
    CHECK(results[b].flipped());
    CHECK(results[b].iterations == 1);
    CHECK(results[b].l2 == doctest::Approx(1.02 * (nearest_distance + 1e-4)).epsilon(1e-4));
    // The overshoot may carry it past a second boundary just behind the first.
    if (second > 1.05 * nearest_distance) {
      CHECK(results[b].adversarial == nearest);
      ++clear_cases;
    }
  }
  CHECK(clear_cases >= count / 2);
}

TEST_CASE("DeepFool: its images change the class, stay in [0, 1] and report their own norms") {
  BarNet net = testing::trained_bar_net();
  const Dataset& data = bar_test_images();
  Workspace<BarNet, 32> ws;
  const DeepFoolResult result = deepfool_dataset(net, ws, data, bar_normalization, {}, 0, true);
  REQUIRE(result.images == data.size());
  CHECK(result.clean_correct >= 28);
  CHECK(result.flipped == result.clean_correct);  // 50 iterations flip every one of them
  constexpr std::size_t size = BarNet::in_shape::size;
  Dataset adversarial = data;
  adversarial.images = result.adversarial;
  std::vector<double> distances;
  for (std::size_t n = 0; n < data.size(); ++n) {
    CAPTURE(n);
    const DeepFoolImage& image = result.per_image[n];
    double squares = 0, largest = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const float pixel = result.adversarial[n * size + i];
      CHECK((pixel >= 0.0f && pixel <= 1.0f));
      const double difference = static_cast<double>(pixel) - data.images[n * size + i];
      squares += difference * difference;
      largest = std::max(largest, std::abs(difference));
    }
    if (!image.flipped()) {
      CHECK(squares == 0);
      CHECK(std::isinf(image.l2));
      continue;
    }
    CHECK(image.l2 == doctest::Approx(std::sqrt(squares)).epsilon(1e-6));
    CHECK(image.linf == doctest::Approx(largest).epsilon(1e-6));
    CHECK(image.l2 > 0.0f);
    if (image.original == data.labels[n]) distances.push_back(image.l2);
  }
  // The net's class on every returned image is the one reported.
  const Evaluation after = evaluate(net, ws, adversarial, bar_normalization);
  for (std::size_t n = 0; n < data.size(); ++n) CHECK(after.predictions[n] == result.per_image[n].adversarial);
  // The summary is the median and mean of those distances.
  std::sort(distances.begin(), distances.end());
  const std::size_t middle = distances.size() / 2;
  const double median = distances.size() % 2 ? distances[middle] : (distances[middle - 1] + distances[middle]) / 2;
  CHECK(result.median_l2 == doctest::Approx(median));
  double sum = 0;
  for (const double d : distances) sum += d;
  CHECK(result.mean_l2 == doctest::Approx(sum / static_cast<double>(distances.size())));
  CHECK(result.flipped_fraction() == 1.0f);
}

TEST_CASE("DeepFool: PGD-L2 with a ball a little larger than DeepFool's step fools the image too") {
  BarNet net = testing::trained_bar_net();
  const Dataset& data = bar_test_images();
  constexpr std::size_t size = BarNet::in_shape::size;
  Workspace<BarNet, 1> ws;
  // PGD from the clean image with `label` as the class to leave (or to reach, when targeted);
  // returns whether it succeeded, after checking that it kept to its ball.
  const auto pgd_fools = [&](std::size_t n, std::size_t label, float epsilon, bool targeted) {
    load_batch(ws, data.image(n), std::span(data.labels).subspan(n, 1), bar_normalization);
    ws.labels[0] = label;
    std::vector<float> pixels(data.image(n).begin(), data.image(n).end());
    AttackOptions options = pgd(Norm::l2, epsilon, 100);
    options.targeted = targeted;
    const bool fooled = perturb(net, ws, bar_normalization, options, 1, std::span(pixels)) == 1;
    double squares = 0;
    for (std::size_t i = 0; i < size; ++i)
      squares += (static_cast<double>(pixels[i]) - data.image(n)[i]) * (pixels[i] - data.image(n)[i]);
    CHECK(std::sqrt(squares) <= static_cast<double>(epsilon) * (1 + 1e-6));
    return fooled;
  };
  for (std::size_t n = 0; n < 8; ++n) {
    CAPTURE(n);
    load_batch(ws, data.image(n), std::span(data.labels).subspan(n, 1), bar_normalization);
    const DeepFoolImage found = deepfool(net, ws, bar_normalization)[0];
    REQUIRE(found.flipped());
    // The ball holds DeepFool's image, so PGD towards its class can reach that class.
    CHECK(pgd_fools(n, found.adversarial, 1.1f * found.l2, true));
    // Leaving the class, the loss's ascent may head for a farther class than DeepFool's (one of
    // these eight images needs 1.5 times DeepFool's norm).
    CHECK(pgd_fools(n, found.original, 1.5f * found.l2, false));
  }
}

TEST_CASE("DeepFool: top-k candidates, iteration limits, determinism and bad options") {
  BarNet net = testing::trained_bar_net();
  const Dataset& data = bar_test_images();
  Workspace<BarNet, 16> ws;
  const auto run = [&](const DeepFoolOptions& options, int threads) {
#ifdef _OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    DeepFoolResult result = deepfool_dataset(net, ws, data, bar_normalization, options, 0, true);
#ifdef _OPENMP
    omp_set_num_threads(previous);
#endif
    return result;
  };
  const DeepFoolResult all = run({}, 2);
  // Every other class as a candidate is the default; one thread gives the same images.
  CHECK(run({.candidates = 3}, 2).adversarial == all.adversarial);
  CHECK(run({}, 1).adversarial == all.adversarial);
  // Fewer candidates can only find the same or a farther boundary, but still flip.
  const DeepFoolResult top1 = run({.candidates = 1}, 2);
  CHECK(top1.flipped == top1.clean_correct);
  CHECK(top1.median_l2 >= all.median_l2 * (1 - 1e-6));
  // Without iterations nothing moves; with one, only some images flip.
  const DeepFoolResult none = run({.max_iterations = 0}, 2);
  CHECK(none.flipped == 0);
  CHECK(none.adversarial == data.images);
  CHECK(std::isinf(none.median_l2));
  CHECK(std::isnan(none.mean_l2));
  for (const DeepFoolImage& image : none.per_image) CHECK(std::isinf(image.l2));
  // No overshoot: the step ends just past the linearized boundary, so the norms shrink.
  CHECK(run({.overshoot = 0.0f}, 2).median_l2 < all.median_l2);

  load_batch(ws, std::span(data.images).subspan(0, 4 * BarNet::in_shape::size), std::span(data.labels).subspan(0, 4),
             bar_normalization);
  CHECK_THROWS_AS(deepfool(net, ws, bar_normalization, {.overshoot = -0.1f}), std::invalid_argument);
  CHECK_THROWS_AS(deepfool(net, ws, bar_normalization, {.overshoot = std::numeric_limits<float>::quiet_NaN()}),
                  std::invalid_argument);
  CHECK_THROWS_AS(deepfool(net, ws, bar_normalization, {.candidates = 4}), std::invalid_argument);
  CHECK_THROWS_AS(deepfool(net, ws, Normalization{0.0f, 0.0f}), std::invalid_argument);
  std::vector<float> too_few(3 * BarNet::in_shape::size);
  CHECK_THROWS_AS(deepfool(net, ws, bar_normalization, {}, std::span(too_few)), std::invalid_argument);
  CHECK_NOTHROW(deepfool(net, ws, bar_normalization, {.candidates = 3}));
}
