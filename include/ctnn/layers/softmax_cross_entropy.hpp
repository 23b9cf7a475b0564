// Softmax cross-entropy on a vector of K logits, with optional label smoothing (Szegedy et al.
// 2016): the target is (1 - s) onehot(label) + s / K. Computed through log-sum-exp, so large
// logits neither overflow nor lose the loss to rounding.
//
// Optional soft targets for knowledge distillation (Hinton, Vinyals & Dean 2015): with a
// teacher's logits v for the image, the student's logits z, p_T = softmax(z / T) and
// q_T = softmax(v / T) at temperature T,
//   loss     = alpha T^2 KL(q_T || p_T) + (1 - alpha) CE(target, softmax(z))
//   dloss/dz = alpha T (p_T - q_T)      + (1 - alpha) (softmax(z) - target)
// The T^2 keeps the soft term's gradient on the scale of the hard one whatever T (their section 2).
// Without soft targets the loss is the plain one above, computed exactly as before.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace ctnn {

// The teacher's logits for the images of one mini-batch. A Net calls its loss image by image with
// only the logits and the label, so an image is recognized by where its logits lie: image b's are
// at student_logits[b] (the workspace's output buffer). Each image's targets serve one forward and
// one backward: the gradient consumes them, so an evaluation that reuses the workspace afterwards
// measures the plain cross-entropy.
struct SoftTargets {
  float temperature = 1.0f;
  float alpha = 0.0f;  // weight of the teacher's term; 0 gives the plain loss
  std::size_t classes = 0;
  std::vector<const float*> student_logits;  // per image: where the net writes its logits
  std::vector<float> teacher_logits;         // classes per image
  std::vector<unsigned char> pending;        // per image: not yet consumed by a gradient

  // The teacher's logits of the image whose logits lie at `logits`, or null if there are none.
  const float* teacher_of(const float* logits) const noexcept {
    for (std::size_t b = 0; b < student_logits.size(); ++b)
      if (student_logits[b] == logits) return pending[b] ? teacher_logits.data() + b * classes : nullptr;
    return nullptr;
  }
  // Images differ, so concurrent calls for different images touch different flags.
  void consume(const float* logits) noexcept {
    for (std::size_t b = 0; b < student_logits.size(); ++b)
      if (student_logits[b] == logits) pending[b] = 0;
  }
};

struct SoftmaxCrossEntropy {
  float label_smoothing = 0.0f;
  SoftTargets* soft_targets = nullptr;  // distillation: set and owned by the caller (train/distillation.hpp)

  // In double: near |z| = 1000 a float keeps only 6e-5 of absolute precision.
  static double log_sum_exp(std::span<const float> logits) noexcept {
    const double top = *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (float z : logits) total += std::exp(z - top);
    return top + std::log(total);
  }

  // loss = log sum_k exp z_k - sum_k target_k z_k
  float loss(std::span<const float> logits, std::size_t label) const noexcept {
    if (const float* teacher = soft_targets ? soft_targets->teacher_of(logits.data()) : nullptr)
      return distillation_loss(logits, std::span(teacher, logits.size()), label, soft_targets->temperature,
                               soft_targets->alpha);
    return static_cast<float>(hard_loss(logits, label));
  }

  // dloss/dz_k = softmax(z)_k - target_k, times scale (1 / batch size for a mean loss).
  void gradient(std::span<const float> logits, std::size_t label, float scale,
                std::span<float> dlogits) const noexcept {
    if (const float* teacher = soft_targets ? soft_targets->teacher_of(logits.data()) : nullptr) {
      distillation_gradient(logits, std::span(teacher, logits.size()), label, soft_targets->temperature,
                            soft_targets->alpha, scale, dlogits);
      soft_targets->consume(logits.data());
      return;
    }
    const double lse = log_sum_exp(logits);
    for (std::size_t k = 0; k < logits.size(); ++k)
      dlogits[k] = static_cast<float>(scale * (std::exp(logits[k] - lse) - target(k, label, logits.size())));
  }

  // The distillation loss and gradient of the header comment for one image, from the student's
  // logits and the teacher's; the hard target is smoothed as the plain loss's is. With alpha = 0
  // they are the plain loss and gradient, bit for bit.
  float distillation_loss(std::span<const float> logits, std::span<const float> teacher_logits, std::size_t label,
                          float temperature, float alpha) const noexcept {
    const double t = temperature;
    return static_cast<float>(alpha * t * t * soft_divergence(logits, teacher_logits, t) +
                              (1.0 - alpha) * hard_loss(logits, label));
  }
  void distillation_gradient(std::span<const float> logits, std::span<const float> teacher_logits, std::size_t label,
                             float temperature, float alpha, float scale, std::span<float> dlogits) const noexcept {
    const double t = temperature;
    const double lse = log_sum_exp(logits);
    const double student_lse = scaled_log_sum_exp(logits, 1.0 / t),
                 teacher_lse = scaled_log_sum_exp(teacher_logits, 1.0 / t);
    for (std::size_t k = 0; k < logits.size(); ++k) {
      const double soft = std::exp(logits[k] / t - student_lse) - std::exp(teacher_logits[k] / t - teacher_lse);
      const double hard = std::exp(logits[k] - lse) - target(k, label, logits.size());
      dlogits[k] = static_cast<float>(scale * ((1.0 - alpha) * hard + alpha * t * soft));
    }
  }

  static void probabilities(std::span<const float> logits, std::span<float> out) noexcept {
    const double lse = log_sum_exp(logits);
    for (std::size_t k = 0; k < logits.size(); ++k) out[k] = static_cast<float>(std::exp(logits[k] - lse));
  }

 private:
  // The smoothed one-hot target of class k.
  double target(std::size_t k, std::size_t label, std::size_t classes) const noexcept {
    const double smooth = static_cast<double>(label_smoothing) / static_cast<double>(classes);
    return smooth + (k == label ? 1.0 - label_smoothing : 0.0);
  }

  double hard_loss(std::span<const float> logits, std::size_t label) const noexcept {
    double target_dot = 0;
    for (std::size_t k = 0; k < logits.size(); ++k) target_dot += target(k, label, logits.size()) * logits[k];
    return log_sum_exp(logits) - target_dot;
  }

  // log sum_k exp(scale z_k), in double.
  static double scaled_log_sum_exp(std::span<const float> logits, double scale) noexcept {
    const double top = scale * *std::max_element(logits.begin(), logits.end());
    double total = 0;
    for (float z : logits) total += std::exp(scale * z - top);
    return top + std::log(total);
  }

  // KL(q_T || p_T) = sum_k q_k (log q_k - log p_k), with log p_k = z_k / T - logsumexp(z / T):
  // no logarithm of a probability that underflowed.
  static double soft_divergence(std::span<const float> logits, std::span<const float> teacher_logits,
                                double temperature) noexcept {
    const double student_lse = scaled_log_sum_exp(logits, 1.0 / temperature);
    const double teacher_lse = scaled_log_sum_exp(teacher_logits, 1.0 / temperature);
    double divergence = 0;
    for (std::size_t k = 0; k < logits.size(); ++k) {
      const double log_q = teacher_logits[k] / temperature - teacher_lse;
      divergence += std::exp(log_q) * (log_q - (logits[k] / temperature - student_lse));
    }
    return divergence;
  }
};

}  // namespace ctnn
