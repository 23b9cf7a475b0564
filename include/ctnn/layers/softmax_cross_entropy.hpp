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

  // In double: near |z| = 1000 a float keeps only 6e-5 of absolute precision.
  static double log_sum_exp(std::span<const float> logits) noexcept {
    const double top = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (float z : logits) total += std::exp(z - top);
    return top + std::log(total);
  }

  // loss = log sum_k exp z_k - sum_k target_k z_k
  float loss(std::span<const float> logits, std::size_t label) const noexcept {
    const double smooth = static_cast<double>(label_smoothing) / static_cast<double>(logits.size());
    double target_dot = 0;
    for (std::size_t k = 0; k < logits.size(); ++k)
      target_dot += (smooth + (k == label ? 1.0 - label_smoothing : 0.0)) * logits[k];
    return static_cast<float>(log_sum_exp(logits) - target_dot);
  }

  // dloss/dz_k = softmax(z)_k - target_k, times scale (1 / batch size for a mean loss).
  void gradient(std::span<const float> logits, std::size_t label, float scale,
                std::span<float> dlogits) const noexcept {
    const double lse = log_sum_exp(logits);
    const double smooth = static_cast<double>(label_smoothing) / static_cast<double>(logits.size());
    for (std::size_t k = 0; k < logits.size(); ++k) {
      const double target = smooth + (k == label ? 1.0 - label_smoothing : 0.0);
      dlogits[k] = static_cast<float>(scale * (std::exp(logits[k] - lse) - target));
    }
  }

  static void probabilities(std::span<const float> logits, std::span<float> out) noexcept {
    const double lse = log_sum_exp(logits);
    for (std::size_t k = 0; k < logits.size(); ++k) out[k] = static_cast<float>(std::exp(logits[k] - lse));
  }
};

}  // namespace ctnn
