// Softmax cross-entropy on a vector of K logits, with optional label smoothing (Szegedy et al.
// 2016): the target is (1 - s) onehot(label) + s / K. Computed through log-sum-exp, so large
// logits neither overflow nor lose the loss to rounding.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>

namespace ctnn {

struct SoftmaxCrossEntropy {
  float label_smoothing = 0.0f;

  static float log_sum_exp(std::span<const float> logits) noexcept {
    const float top = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (float z : logits) total += std::exp(static_cast<double>(z - top));
    return top + static_cast<float>(std::log(total));
  }

  // loss = log sum_k exp z_k - sum_k target_k z_k
  float loss(std::span<const float> logits, std::size_t label) const noexcept {
    const float smooth = label_smoothing / static_cast<float>(logits.size());
    double target_dot = 0;
    for (std::size_t k = 0; k < logits.size(); ++k)
      target_dot += (smooth + (k == label ? 1.0f - label_smoothing : 0.0f)) * logits[k];
    return log_sum_exp(logits) - static_cast<float>(target_dot);
  }

  // dloss/dz_k = softmax(z)_k - target_k, times scale (1 / batch size for a mean loss).
  void gradient(std::span<const float> logits, std::size_t label, float scale, std::span<float> dlogits) const noexcept {
    const float lse = log_sum_exp(logits);
    const float smooth = label_smoothing / static_cast<float>(logits.size());
    for (std::size_t k = 0; k < logits.size(); ++k) {
      const float target = smooth + (k == label ? 1.0f - label_smoothing : 0.0f);
      dlogits[k] = scale * (std::exp(logits[k] - lse) - target);
    }
  }

  static void probabilities(std::span<const float> logits, std::span<float> out) noexcept {
    const float lse = log_sum_exp(logits);
    for (std::size_t k = 0; k < logits.size(); ++k) out[k] = std::exp(logits[k] - lse);
  }
};

}  // namespace ctnn
