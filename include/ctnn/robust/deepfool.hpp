// DeepFool (Moosavi-Dezfooli, Fawzi & Frossard 2016, algorithm 2): the smallest L2 perturbation
// that changes a net's prediction, found by linearizing the net around the current image and
// stepping to the nearest of the linearized decision boundaries, until the class flips. It
// measures robustness as a distance rather than an accuracy at a chosen budget.
//
// Units are pixels, as in attacks.hpp: images in [0, 1] before normalization, and every iterate
// clipped to [0, 1]. The net sees (x - mean) / stddev, so a gradient it returns is with respect
// to the normalized image and is scaled by 1 / stddev to become one in pixels: here, unlike for a
// sign or a direction, the scale matters, since the step's length is a margin divided by a
// gradient norm. Each candidate class costs one backward pass per iteration, through
// Net::input_gradient(ws, output_gradient) with d/dlogits = e_k - e_original.
//
// The clipping follows the authors' code and Foolbox: the steps are summed unclipped and only
// the iterate is clipped. On MNIST, whose background is 0, much of each step is clipped away, so
// LeNet-5 takes about 9 iterations instead of 3 unclipped; masking the blocked pixels out of the
// gradient takes 3 again, but lands about 8% farther (median L2 1.26 against 1.17).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/core/net.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

struct DeepFoolOptions {
  float overshoot = 0.02f;          // the summed steps are scaled by 1 + overshoot, to cross the boundary
  std::size_t max_iterations = 50;  // linearizations before giving up on an image
  std::size_t candidates = 0;       // classes tried besides the original: the top ones by logit at the
                                    // clean image; 0: all of them
};

// One image's outcome. The norms are those of the returned image minus the clean one, in pixels.
struct DeepFoolImage {
  std::size_t original = 0;                           // the net's class on the clean image
  std::size_t adversarial = 0;                        // its class on the returned image; the original when not flipped
  std::size_t iterations = 0;                         // linearization steps taken
  float l2 = std::numeric_limits<float>::infinity();  // infinity when not flipped
  float linf = std::numeric_limits<float>::infinity();  // infinity when not flipped
  bool flipped() const noexcept { return adversarial != original; }
};

namespace detail {

// Added to each step's length (pixels) so that a step from a point on the boundary still moves,
// as in the authors' code.
inline constexpr float deepfool_nudge = 1e-4f;

inline void check_deepfool(const DeepFoolOptions& options, std::size_t classes, Normalization normalization) {
  if (!(options.overshoot >= 0 && std::isfinite(options.overshoot)))
    throw std::invalid_argument("deepfool: the overshoot must be finite and >= 0, not " +
                                std::to_string(options.overshoot));
  if (options.candidates >= classes)
    throw std::invalid_argument("deepfool: " + std::to_string(options.candidates) +
                                " candidate classes, but the net has only " + std::to_string(classes - 1) +
                                " besides the original (0: all of them)");
  if (!(normalization.stddev > 0 && std::isfinite(normalization.stddev)))
    throw std::invalid_argument("deepfool: the normalization's stddev must be positive and finite");
}

}  // namespace detail

// In place: replaces each of the ws.count images of ws (normalized inputs) by the first iterate
// whose class differs from the clean image's, or leaves it clean when none does within
// max_iterations (or when every candidate's gradient vanishes). Labels are not read (ws.labels
// are kept); the class to leave is the net's own on the clean image. ws's other contents are
// scratch. `pixels`, when not empty, holds the clean images in pixel space on entry (ws's inputs
// being their normalization) and the returned ones on exit, as for perturb (attacks.hpp).
// Throws std::invalid_argument on a negative or non-finite overshoot, more candidates than the
// net has other classes, or a non-positive stddev.
template <class NetType, std::size_t Batch>
std::vector<DeepFoolImage> deepfool(NetType& net, Workspace<NetType, Batch>& ws, Normalization normalization,
                                    const DeepFoolOptions& options = {}, std::span<float> pixels = {}) {
  constexpr std::size_t size = NetType::in_shape::size;
  constexpr std::size_t classes = NetType::classes;
  detail::check_deepfool(options, classes, normalization);
  if (!pixels.empty() && pixels.size() != ws.count * size)
    throw std::invalid_argument("deepfool: room for " + std::to_string(pixels.size()) + " pixels, not " +
                                std::to_string(ws.count) + " images");
  const std::size_t count = ws.count;
  const std::size_t candidate_count = options.candidates ? options.candidates : classes - 1;
  const float scale = 1.0f / normalization.stddev;
  const std::vector<std::size_t> labels(ws.labels.begin(), ws.labels.begin() + static_cast<std::ptrdiff_t>(count));

  std::vector<float> clean(count * size), current(count * size), total(count * size, 0.0f);
  if (pixels.empty()) {
    for (std::size_t b = 0; b < count; ++b)
      for (std::size_t i = 0; i < size; ++i)
        clean[b * size + i] = std::clamp(ws.input(b)[i] * normalization.stddev + normalization.mean, 0.0f, 1.0f);
  } else {
    std::copy(pixels.begin(), pixels.end(), clean.begin());
  }
  current = clean;
  std::vector<DeepFoolImage> results(count);
  std::vector<std::size_t> candidates(count * candidate_count);

  // Row j of ws holds image active[j]. Per row, the nearest linearized boundary found so far:
  // its direction w (pixels), ||w|| and the distance |margin| / ||w||.
  std::vector<std::size_t> active(count);
  std::iota(active.begin(), active.end(), std::size_t{0});
  std::vector<float> nearest_direction(count * size);
  std::vector<double> nearest_norm(count), nearest_distance(count);
  std::vector<char> moving(count);

  for (std::size_t iteration = 0;; ++iteration) {
    ws.count = active.size();
    for (std::size_t j = 0; j < active.size(); ++j) {
      const float* x = current.data() + active[j] * size;
      auto& input = ws.input(j);
      for (std::size_t i = 0; i < size; ++i) input[i] = (x[i] - normalization.mean) * scale;
      ws.labels[j] = iteration ? results[active[j]].original : 0;
    }
    net.forward(ws, Mode::eval);
    bool any_moving = false;
    for (std::size_t j = 0; j < active.size(); ++j) {
      const std::size_t b = active[j];
      const auto& logits = ws.output(j);
      const auto predicted =
          static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + classes) - logits.data());
      if (iteration == 0) {
        // The candidates: the other classes by decreasing logit (ties by index).
        results[b].original = results[b].adversarial = predicted;
        std::vector<std::size_t> order(classes);
        std::iota(order.begin(), order.end(), std::size_t{0});
        std::stable_sort(order.begin(), order.end(),
                         [&](std::size_t p, std::size_t q) { return logits[p] > logits[q]; });
        std::erase(order, predicted);
        std::copy_n(order.begin(), candidate_count,
                    candidates.begin() + static_cast<std::ptrdiff_t>(b * candidate_count));
      } else if (predicted != results[b].original) {
        results[b].adversarial = predicted;
      }
      results[b].iterations = iteration;
      moving[j] = !results[b].flipped() && iteration < options.max_iterations;
      any_moving = any_moving || moving[j];
      nearest_distance[j] = std::numeric_limits<double>::infinity();
      nearest_norm[j] = 0;
    }
    if (!any_moving) break;

    // One backward pass per candidate slot: row j's gradient of logit_k - logit_original.
    for (std::size_t slot = 0; slot < candidate_count; ++slot) {
      net.input_gradient(ws, [&](std::size_t j, std::span<const float>, std::span<float> dlogits) {
        std::fill(dlogits.begin(), dlogits.end(), 0.0f);
        if (!moving[j]) return;
        const std::size_t b = active[j];
        dlogits[candidates[b * candidate_count + slot]] = 1.0f;
        dlogits[results[b].original] = -1.0f;
      });
      const std::size_t rows = active.size();
#pragma omp parallel for schedule(static)
      for (std::size_t j = 0; j < rows; ++j) {
        if (!moving[j]) continue;
        const std::size_t b = active[j];
        const auto& gradient = ws.input_gradient(j);
        double squares = 0;
        for (std::size_t i = 0; i < size; ++i) {
          const double w = static_cast<double>(gradient[i]) * scale;
          squares += w * w;
        }
        const auto& logits = ws.output(j);
        const double margin = static_cast<double>(logits[candidates[b * candidate_count + slot]]) -
                              static_cast<double>(logits[results[b].original]);
        const double norm = std::sqrt(squares);
        if (norm == 0 || !(std::abs(margin) / norm < nearest_distance[j])) continue;
        nearest_distance[j] = std::abs(margin) / norm;
        nearest_norm[j] = norm;
        for (std::size_t i = 0; i < size; ++i) nearest_direction[j * size + i] = gradient[i] * scale;
      }
    }

    // The step to that boundary: r = (distance + nudge) w / ||w||, summed over the iterations;
    // the iterate is the clean image plus (1 + overshoot) times the sum, clipped to [0, 1].
    const std::size_t rows = active.size();
    const float stretch = 1.0f + options.overshoot;
#pragma omp parallel for schedule(static)
    for (std::size_t j = 0; j < rows; ++j) {
      if (!moving[j] || nearest_norm[j] == 0) continue;
      const std::size_t b = active[j];
      const auto length = static_cast<float>((nearest_distance[j] + detail::deepfool_nudge) / nearest_norm[j]);
      for (std::size_t i = 0; i < size; ++i) {
        total[b * size + i] += length * nearest_direction[j * size + i];
        current[b * size + i] = std::clamp(clean[b * size + i] + stretch * total[b * size + i], 0.0f, 1.0f);
      }
    }
    // Images without a direction (every candidate's gradient vanished) stop where they are.
    std::vector<std::size_t> still;
    for (std::size_t j = 0; j < rows; ++j)
      if (moving[j] && nearest_norm[j] > 0) still.push_back(active[j]);
    active = std::move(still);
    if (active.empty()) break;
  }

  ws.count = count;
  for (std::size_t b = 0; b < count; ++b) {
    DeepFoolImage& result = results[b];
    float* x = current.data() + b * size;
    if (!result.flipped()) {
      std::copy_n(clean.data() + b * size, size, x);
    } else {
      double squares = 0, largest = 0;
      for (std::size_t i = 0; i < size; ++i) {
        const double difference = static_cast<double>(x[i]) - clean[b * size + i];
        squares += difference * difference;
        largest = std::max(largest, std::abs(difference));
      }
      result.l2 = static_cast<float>(std::sqrt(squares));
      result.linf = static_cast<float>(largest);
    }
    auto& input = ws.input(b);
    for (std::size_t i = 0; i < size; ++i) input[i] = (x[i] - normalization.mean) * scale;
    ws.labels[b] = labels[b];
  }
  if (!pixels.empty()) std::copy(current.begin(), current.end(), pixels.begin());
  return results;
}

struct DeepFoolResult {
  std::size_t images = 0;
  std::size_t clean_correct = 0;
  std::size_t flipped = 0;  // of the correctly classified images
  // Over the correctly classified images, not flipped ones counting as infinitely far: infinity
  // when fewer than half were flipped; NaN when none was classified right.
  double median_l2 = std::numeric_limits<double>::quiet_NaN();
  // Over the flipped ones among them; NaN when none was.
  double mean_l2 = std::numeric_limits<double>::quiet_NaN();
  double mean_linf = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;
  std::vector<DeepFoolImage> per_image;  // every image, in the data set's order
  std::vector<float> adversarial;        // images * image size pixels in [0, 1], when asked for

  float clean_accuracy() const noexcept {
    return images ? static_cast<float>(clean_correct) / static_cast<float>(images) : 0.0f;
  }
  float flipped_fraction() const noexcept {
    return clean_correct ? static_cast<float>(flipped) / static_cast<float>(clean_correct) : 0.0f;
  }
};

// DeepFool on the first `limit` images of `dataset` (0: all of them), batch by batch, with the
// figures over the images the net classifies right. progress(done, total), when given, is
// called after every batch.
template <class NetType, std::size_t Batch>
DeepFoolResult deepfool_dataset(NetType& net, Workspace<NetType, Batch>& ws, const Dataset& dataset,
                                Normalization normalization, const DeepFoolOptions& options = {}, std::size_t limit = 0,
                                bool keep_images = false,
                                const std::function<void(std::size_t, std::size_t)>& progress = {}) {
  check_input_shape<NetType>(dataset);
  detail::check_deepfool(options, NetType::classes, normalization);
  constexpr std::size_t size = NetType::in_shape::size;
  const auto start = std::chrono::steady_clock::now();
  DeepFoolResult result;
  result.images = limit ? std::min(limit, dataset.size()) : dataset.size();
  result.per_image.reserve(result.images);
  if (keep_images) result.adversarial.resize(result.images * size);
  for (std::size_t first = 0; first < result.images; first += Batch) {
    const std::size_t count = std::min(Batch, result.images - first);
    const auto clean = std::span(dataset.images).subspan(first * size, count * size);
    load_batch(ws, clean, std::span(dataset.labels).subspan(first, count), normalization);
    std::vector<float> pixels(clean.begin(), clean.end());
    const std::vector<DeepFoolImage> batch = deepfool(net, ws, normalization, options, std::span(pixels));
    result.per_image.insert(result.per_image.end(), batch.begin(), batch.end());
    if (keep_images)
      std::copy(pixels.begin(), pixels.end(), result.adversarial.begin() + static_cast<std::ptrdiff_t>(first * size));
    if (progress) progress(first + count, result.images);
  }
  std::vector<double> distances;
  double l2_sum = 0, linf_sum = 0;
  for (std::size_t n = 0; n < result.images; ++n) {
    const DeepFoolImage& image = result.per_image[n];
    if (image.original != dataset.labels[n]) continue;
    ++result.clean_correct;
    distances.push_back(image.l2);
    if (!image.flipped()) continue;
    ++result.flipped;
    l2_sum += image.l2;
    linf_sum += image.linf;
  }
  if (!distances.empty()) {
    std::sort(distances.begin(), distances.end());
    const std::size_t middle = distances.size() / 2;
    result.median_l2 = distances.size() % 2 ? distances[middle] : (distances[middle - 1] + distances[middle]) / 2;
  }
  if (result.flipped) {
    result.mean_l2 = l2_sum / static_cast<double>(result.flipped);
    result.mean_linf = linf_sum / static_cast<double>(result.flipped);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace ctnn
