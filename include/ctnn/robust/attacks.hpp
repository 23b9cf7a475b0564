// Gradient attacks on a typed net: FGSM (Goodfellow et al. 2015) and projected gradient descent
// (PGD, Madry et al. 2018) under the L-infinity or L2 norm, untargeted or targeted, with random
// starts and restarts. Budgets are in pixel units: the ball is taken around the image in [0, 1]
// before normalization and every iterate stays inside [0, 1]; the net sees the normalized image
// and the gradient is carried back through the normalization (a positive scale, so it changes
// neither the sign nor the direction of a step).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ctnn/core/net.hpp>
#include <ctnn/core/random.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

enum class Norm { linf, l2 };

struct AttackOptions {
  Norm norm = Norm::linf;
  float epsilon = 0.3f;     // radius of the ball, in pixel units (pixels in [0, 1])
  float step_size = 0.01f;  // per step, in pixel units (L2: the step's length)
  std::size_t steps = 40;
  std::size_t restarts = 1;     // each from its own random start; an image fooled once stays fooled
  bool random_start = true;     // uniform in the ball; otherwise the clean image
  bool targeted = false;        // the labels are targets to reach, not classes to leave
  bool stop_at_success = true;  // freeze an image once it is fooled (evaluation); training: false
  std::uint64_t seed = 1;
};

// One step of epsilon along the sign of the gradient, from the clean image.
inline AttackOptions fgsm(float epsilon) {
  return {.norm = Norm::linf, .epsilon = epsilon, .step_size = epsilon, .steps = 1, .random_start = false};
}

// `steps` steps of 2.5 epsilon / steps from a random start: enough to cross the ball and back
// (Madry et al.'s choice of step).
inline AttackOptions pgd(Norm norm, float epsilon, std::size_t steps = 50, std::size_t restarts = 1) {
  return {.norm = norm,
          .epsilon = epsilon,
          .step_size = steps ? 2.5f * epsilon / static_cast<float>(steps) : 0.0f,
          .steps = steps,
          .restarts = restarts};
}

inline std::string norm_name(Norm norm) { return norm == Norm::linf ? "linf" : "l2"; }

namespace detail {

inline void check_attack(const AttackOptions& options, Normalization normalization) {
  if (!(options.epsilon >= 0 && std::isfinite(options.epsilon)))
    throw std::invalid_argument("attack: epsilon must be finite and >= 0, not " + std::to_string(options.epsilon));
  if (!(options.step_size >= 0 && std::isfinite(options.step_size)))
    throw std::invalid_argument("attack: the step size must be finite and >= 0, not " +
                                std::to_string(options.step_size));
  if (options.restarts == 0) throw std::invalid_argument("attack: restarts must be at least 1");
  if (!(normalization.stddev > 0 && std::isfinite(normalization.stddev)))
    throw std::invalid_argument("attack: the normalization's stddev must be positive and finite");
}

// clean + epsilon (epsilon < 0: clean - |epsilon|) rounded towards clean: the float sum can round
// half an ulp past the ball's edge. The difference of two such floats is exact in double.
inline float ball_edge(float clean, float epsilon) noexcept {
  const float edge = clean + epsilon;
  return std::abs(static_cast<double>(edge) - clean) > std::abs(static_cast<double>(epsilon))
             ? std::nextafter(edge, clean)
             : edge;
}

// Moves `x` back into the epsilon-ball around `clean` and into [0, 1]. For L2 the box clip comes
// after the ball's: it moves every pixel towards the clean one, so the result stays in the ball.
inline void project(Norm norm, float epsilon, std::span<const float> clean, std::span<float> x) noexcept {
  if (norm == Norm::linf) {
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] =
          std::clamp(x[i], std::max(0.0f, ball_edge(clean[i], -epsilon)), std::min(1.0f, ball_edge(clean[i], epsilon)));
    return;
  }
  double squares = 0;
  for (std::size_t i = 0; i < x.size(); ++i) squares += static_cast<double>(x[i] - clean[i]) * (x[i] - clean[i]);
  const double length = std::sqrt(squares);
  const float shrink = length > epsilon ? static_cast<float>(epsilon / length) : 1.0f;
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = std::clamp(clean[i] + (x[i] - clean[i]) * shrink, 0.0f, 1.0f);
}

// A point drawn uniformly from the ball (L2: radius epsilon * u^(1/n) along a normal direction).
inline void random_start(Norm norm, float epsilon, std::span<const float> clean, std::span<float> x, Rng rng) {
  if (norm == Norm::linf) {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = clean[i] + rng.uniform(-epsilon, epsilon);
  } else {
    double squares = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = rng.normal();
      squares += static_cast<double>(x[i]) * x[i];
    }
    const double radius = epsilon * std::pow(static_cast<double>(rng.uniform()), 1.0 / static_cast<double>(x.size()));
    const float scale = squares > 0 ? static_cast<float>(radius / std::sqrt(squares)) : 0.0f;
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = clean[i] + x[i] * scale;
  }
  project(norm, epsilon, clean, x);
}

// One ascent step on the loss (descent when targeted) along `gradient`, then the projection.
inline void step(const AttackOptions& options, std::span<const float> gradient, std::span<const float> clean,
                 std::span<float> x) noexcept {
  const float direction = options.targeted ? -options.step_size : options.step_size;
  if (options.norm == Norm::linf) {
    for (std::size_t i = 0; i < x.size(); ++i)
      x[i] += gradient[i] > 0 ? direction : gradient[i] < 0 ? -direction : 0.0f;
  } else {
    double squares = 0;
    for (const float g : gradient) squares += static_cast<double>(g) * g;
    if (squares == 0) return;  // a saturated softmax: no direction to follow
    const float scale = static_cast<float>(direction / std::sqrt(squares));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] += gradient[i] * scale;
  }
  project(options.norm, options.epsilon, clean, x);
}

template <class Tensor>
std::size_t arg_max(const Tensor& logits, std::size_t classes) noexcept {
  return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + classes) - logits.data());
}

}  // namespace detail

// In place: replaces the ws.count images of ws (normalized inputs, labels in ws.labels) by
// adversarial ones, inside the epsilon-ball around them in pixel space and inside [0, 1]. Each
// image ends as the first iterate that fooled the net (stop_at_success) or else the iterate of
// highest loss (lowest when targeted) over all restarts, the clean image included. Returns how
// many images are fooled: prediction != label, or == label when targeted. The net runs in eval
// mode with plain cross-entropy; ws's other contents (activations, gradients) are scratch.
// `pixels`, when not empty, holds the ws.count clean images in pixel space on entry (ws's inputs
// being their normalization) and the adversarial ones on exit: normalized inputs do not give
// pixels back exactly, and the ball is around these.
// Throws std::invalid_argument on a negative or non-finite budget or step, or zero restarts.
template <class NetType, std::size_t Batch>
std::size_t perturb(NetType& net, Workspace<NetType, Batch>& ws, Normalization normalization,
                    const AttackOptions& options, std::uint64_t seed, std::span<float> pixels = {}) {
  detail::check_attack(options, normalization);
  if (!pixels.empty() && pixels.size() != ws.count * NetType::in_shape::size)
    throw std::invalid_argument("perturb: room for " + std::to_string(pixels.size()) + " pixels, not " +
                                std::to_string(ws.count) + " images");
  constexpr std::size_t size = NetType::in_shape::size;
  const std::size_t count = ws.count;
  const float scale = 1.0f / normalization.stddev;
  const float smoothing = std::exchange(ws.loss.label_smoothing, 0.0f);

  std::vector<float> clean(count * size), current(count * size), best(count * size);
  const std::vector<std::size_t> labels(ws.labels.begin(), ws.labels.begin() + static_cast<std::ptrdiff_t>(count));
  if (pixels.empty()) {
    for (std::size_t b = 0; b < count; ++b)
      for (std::size_t i = 0; i < size; ++i)
        clean[b * size + i] = std::clamp(ws.input(b)[i] * normalization.stddev + normalization.mean, 0.0f, 1.0f);
  } else {
    std::copy(pixels.begin(), pixels.end(), clean.begin());
  }
  best = clean;
  current = clean;
  std::vector<float> best_score(count, -std::numeric_limits<float>::infinity());
  std::vector<char> fooled(count, 0);
  const auto image = [](std::vector<float>& images, std::size_t b) {
    return std::span<float>(images).subspan(b * size, size);
  };

  // Evaluates the iterates of the images in `active` and keeps each image's best.
  std::vector<std::size_t> active;
  const auto evaluate = [&] {
    ws.count = active.size();
    for (std::size_t j = 0; j < active.size(); ++j) {
      const float* x = current.data() + active[j] * size;
      auto& input = ws.input(j);
      for (std::size_t i = 0; i < size; ++i) input[i] = (x[i] - normalization.mean) * scale;
      ws.labels[j] = labels[active[j]];
    }
    net.forward(ws, Mode::eval);
    for (std::size_t j = 0; j < active.size(); ++j) {
      const std::size_t b = active[j];
      if (fooled[b] && options.stop_at_success) continue;
      const bool hit = (detail::arg_max(ws.output(j), NetType::classes) == labels[b]) == options.targeted;
      const float score = options.targeted ? -ws.losses[j] : ws.losses[j];
      if ((hit && !fooled[b]) || (score > best_score[b] && (!fooled[b] || hit))) {
        best_score[b] = score;
        std::copy_n(current.data() + b * size, size, best.data() + b * size);
      }
      fooled[b] = fooled[b] || hit;
    }
  };
  const auto still_active = [&] {
    if (!options.stop_at_success) return;
    std::erase_if(active, [&](std::size_t b) { return fooled[b] != 0; });
  };

  for (std::size_t b = 0; b < count; ++b) active.push_back(b);
  evaluate();  // the clean images: a misclassified one needs no attack
  for (std::size_t restart = 0; restart < options.restarts; ++restart) {
    active.clear();
    for (std::size_t b = 0; b < count; ++b)
      if (!(fooled[b] && options.stop_at_success)) active.push_back(b);
    if (active.empty()) break;
    for (const std::size_t b : active) {
      if (options.random_start)
        detail::random_start(options.norm, options.epsilon, image(clean, b), image(current, b),
                             Rng(derive_seed(derive_seed(seed, restart), b)));
      else
        std::copy_n(clean.data() + b * size, size, current.data() + b * size);
    }
    if (options.random_start) {
      evaluate();
      still_active();
    }
    for (std::size_t s = 0; s < options.steps && !active.empty(); ++s) {
      // The gradient at the iterates of the last evaluate(), which are still in ws.
      net.input_gradient(ws);
      const std::size_t moving = active.size();
#pragma omp parallel for schedule(static)
      for (std::size_t j = 0; j < moving; ++j)
        detail::step(options, ws.input_gradient(j).span(), image(clean, active[j]), image(current, active[j]));
      evaluate();
      still_active();
    }
  }

  ws.count = count;
  std::size_t fooled_count = 0;
  for (std::size_t b = 0; b < count; ++b) {
    auto& input = ws.input(b);
    for (std::size_t i = 0; i < size; ++i) input[i] = (best[b * size + i] - normalization.mean) * scale;
    ws.labels[b] = labels[b];
    fooled_count += fooled[b] != 0;
  }
  if (!pixels.empty()) std::copy(best.begin(), best.end(), pixels.begin());
  ws.loss.label_smoothing = smoothing;
  return fooled_count;
}

struct AttackResult {
  std::size_t images = 0;
  std::size_t clean_correct = 0;
  std::size_t robust_correct = 0;  // correct on the clean image and after the attack
  double seconds = 0;
  std::vector<float> adversarial;         // images * image size pixels in [0, 1], when asked for
  std::vector<std::uint8_t> predictions;  // the net's class for each adversarial image

  float clean_accuracy() const noexcept {
    return images ? static_cast<float>(clean_correct) / static_cast<float>(images) : 0.0f;
  }
  float robust_accuracy() const noexcept {
    return images ? static_cast<float>(robust_correct) / static_cast<float>(images) : 0.0f;
  }
};

// Untargeted attack on the first `limit` images of `dataset` (0: all of them), batch by batch;
// batch k draws its random starts from derive_seed(options.seed, k). progress(done, total), when
// given, is called after every batch.
template <class NetType, std::size_t Batch>
AttackResult attack_dataset(NetType& net, Workspace<NetType, Batch>& ws, const Dataset& dataset,
                            Normalization normalization, AttackOptions options, std::size_t limit = 0,
                            bool keep_images = false,
                            const std::function<void(std::size_t, std::size_t)>& progress = {}) {
  check_input_shape<NetType>(dataset);
  detail::check_attack(options, normalization);
  options.targeted = false;
  constexpr std::size_t size = NetType::in_shape::size;
  const auto start = std::chrono::steady_clock::now();
  AttackResult result;
  result.images = limit ? std::min(limit, dataset.size()) : dataset.size();
  result.predictions.resize(result.images);
  if (keep_images) result.adversarial.resize(result.images * size);
  for (std::size_t first = 0; first < result.images; first += Batch) {
    const std::size_t count = std::min(Batch, result.images - first);
    load_batch(ws, std::span(dataset.images).subspan(first * size, count * size),
               std::span(dataset.labels).subspan(first, count), normalization);
    net.forward(ws, Mode::eval);
    std::vector<char> clean_correct(count);
    for (std::size_t b = 0; b < count; ++b)
      clean_correct[b] = detail::arg_max(ws.output(b), NetType::classes) == ws.labels[b];
    const auto clean = std::span(dataset.images).subspan(first * size, count * size);
    std::vector<float> pixels(clean.begin(), clean.end());
    perturb(net, ws, normalization, options, derive_seed(options.seed, first / Batch), std::span(pixels));
    if (keep_images)
      std::copy(pixels.begin(), pixels.end(), result.adversarial.begin() + static_cast<std::ptrdiff_t>(first * size));
    net.forward(ws, Mode::eval);
    for (std::size_t b = 0; b < count; ++b) {
      const std::size_t prediction = detail::arg_max(ws.output(b), NetType::classes);
      result.predictions[first + b] = static_cast<std::uint8_t>(prediction);
      result.clean_correct += clean_correct[b] != 0;
      result.robust_correct += clean_correct[b] && prediction == ws.labels[b];
    }
    if (progress) progress(first + count, result.images);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ctnn
