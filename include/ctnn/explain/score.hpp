// The quantity an explanation explains: one class's logit, softmax probability or log-probability
// as a function of the net's logits, its gradient with respect to them, and the batched passes
// that evaluate it (and its input gradient) at many images at once.
//
// Images are in pixel units, as in robust/attacks.hpp: values in [0, 1] before normalization. The
// net sees (x - mean) / stddev, and Net::input_gradient returns d/d(normalized input); times
// 1 / stddev that is d/d(pixel), the unit every attribution here is stated in. The passes run in
// eval mode and hand their results over in input order from one thread, so that sums over them
// do not depend on the thread count.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ctnn/core/net.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>

namespace ctnn {

enum class Score {
  logit,            // z_k: the unnormalized class score (Simonyan et al. 2014)
  probability,      // p_k = softmax(z)_k
  log_probability,  // log p_k = z_k - log sum_j exp z_j
};

inline std::string_view score_name(Score score) noexcept {
  switch (score) {
    case Score::logit:
      return "logit";
    case Score::probability:
      return "probability";
    case Score::log_probability:
      return "log-probability";
  }
  return "?";
}

// The score of class k, in double (log-sum-exp: no overflow for large logits).
inline double score_value(Score score, std::span<const float> logits, std::size_t k) noexcept {
  if (score == Score::logit) return logits[k];
  const double log_probability = logits[k] - SoftmaxCrossEntropy::log_sum_exp(logits);
  return score == Score::log_probability ? log_probability : std::exp(log_probability);
}

// d(score of class k)/d(logits): e_k for the logit, e_k - p for the log-probability and
// p_k (e_k - p) for the probability.
inline void score_gradient(Score score, std::span<const float> logits, std::size_t k,
                           std::span<float> dlogits) noexcept {
  if (score == Score::logit) {
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
    dlogits[k] = 1.0f;
    return;
  }
  const double lse = SoftmaxCrossEntropy::log_sum_exp(logits);
  const double scale = score == Score::probability ? std::exp(logits[k] - lse) : 1.0;
  for (std::size_t j = 0; j < logits.size(); ++j)
    dlogits[j] = static_cast<float>(scale * ((j == k ? 1.0 : 0.0) - std::exp(logits[j] - lse)));
}

namespace detail {

inline void check_explanation(std::size_t target, std::size_t classes, Normalization normalization) {
  if (target >= classes)
    throw std::invalid_argument("explain: class " + std::to_string(target) + " is not a class of the network (0.." +
                                std::to_string(classes - 1) + ")");
  if (!(normalization.stddev > 0 && std::isfinite(normalization.stddev)))
    throw std::invalid_argument("explain: the normalization's stddev must be positive and finite");
}

inline void check_image_size(const char* what, std::size_t found, std::size_t expected) {
  if (found != expected)
    throw std::invalid_argument(std::string("explain: ") + what + " has " + std::to_string(found) +
                                " values, the network reads " + std::to_string(expected));
}

// Loads images first, first + 1, ... of make(j, pixels) into ws, as many as fit, normalized as
// load_batch normalizes (times 1 / stddev: the same inputs as evaluate's), labelled `target`.
template <class NetType, std::size_t Batch, class Make>
void load_explained_batch(Workspace<NetType, Batch>& ws, Normalization normalization, std::size_t target,
                          std::size_t first, std::size_t count, Make& make, std::vector<float>& pixels) {
  const float scale = 1.0f / normalization.stddev;
  ws.count = std::min(Batch, count - first);
  for (std::size_t b = 0; b < ws.count; ++b) {
    make(first + b, std::span<float>(pixels));
    auto& input = ws.input(b);
    for (std::size_t i = 0; i < pixels.size(); ++i) input[i] = (pixels[i] - normalization.mean) * scale;
    ws.labels[b] = target;
  }
}

}  // namespace detail

// The score of class `target` at `count` images, ws's batch at a time: make(j, pixels) writes
// image j (pixel units) into `pixels`, then use(j, score) receives its score, for j = 0, 1, ...
// in order. ws's contents are scratch.
template <class NetType, std::size_t Batch, class Make, class Use>
void batched_scores(NetType& net, Workspace<NetType, Batch>& ws, Normalization normalization, Score score,
                    std::size_t target, std::size_t count, Make&& make, Use&& use) {
  detail::check_explanation(target, NetType::classes, normalization);
  std::vector<float> pixels(NetType::in_shape::size);
  for (std::size_t first = 0; first < count; first += Batch) {
    detail::load_explained_batch(ws, normalization, target, first, count, make, pixels);
    net.forward(ws, Mode::eval);
    for (std::size_t b = 0; b < ws.count; ++b) use(first + b, score_value(score, ws.output(b).span(), target));
  }
}

// As batched_scores, and use(j, score, gradient) also receives d(score)/d(pixels) of image j.
template <class NetType, std::size_t Batch, class Make, class Use>
void batched_score_gradients(NetType& net, Workspace<NetType, Batch>& ws, Normalization normalization, Score score,
                             std::size_t target, std::size_t count, Make&& make, Use&& use) {
  detail::check_explanation(target, NetType::classes, normalization);
  constexpr std::size_t size = NetType::in_shape::size;
  const float scale = 1.0f / normalization.stddev;
  std::vector<float> pixels(size), gradient(size);
  std::vector<double> scores(Batch);
  for (std::size_t first = 0; first < count; first += Batch) {
    detail::load_explained_batch(ws, normalization, target, first, count, make, pixels);
    net.forward(ws, Mode::eval);
    net.input_gradient(ws, [&](std::size_t b, std::span<const float> logits, std::span<float> dlogits) {
      scores[b] = score_value(score, logits, target);
      score_gradient(score, logits, target, dlogits);
    });
    for (std::size_t b = 0; b < ws.count; ++b) {
      const auto& normalized = ws.input_gradient(b);
      for (std::size_t i = 0; i < size; ++i) gradient[i] = normalized[i] * scale;
      use(first + b, scores[b], std::span<const float>(gradient));
    }
  }
}

}  // namespace ctnn
