// Learning-rate schedules as functions of training progress (epochs done, fractional), so the
// rate is set every step and a resumed run continues on the same curve.
//   constant   lr
//   step       lr * gamma^floor(epoch / step_epochs)
//   cosine     min + (lr - min) (1 + cos(pi t)) / 2, t = progress / epochs (Loshchilov & Hutter 2017)
//   one_cycle  linear warm-up from lr / 25 to lr over the first 30%, then cosine annealing down
//              to lr / 1e4 (Smith & Topin 2019, PyTorch's OneCycleLR defaults)
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <stdexcept>
#include <string>
#include <string_view>

namespace ctnn {

struct Schedule {
  enum class Kind { constant, step, cosine, one_cycle };
  Kind kind = Kind::constant;
  float learning_rate = 0.01f;    // the base (constant, step, cosine) or peak (one_cycle) rate
  std::size_t step_epochs = 10;   // step: epochs between decays
  float step_gamma = 0.1f;        // step: factor per decay
  float minimum_rate = 0.0f;      // cosine: the final rate
  float warmup_fraction = 0.3f;   // one_cycle: share of training spent rising
  float initial_divisor = 25.0f;  // one_cycle: start at learning_rate / initial_divisor
  float final_divisor = 1e4f;     // one_cycle: end at learning_rate / final_divisor

  static Kind parse_kind(std::string_view name) {
    if (name == "constant") return Kind::constant;
    if (name == "step") return Kind::step;
    if (name == "cosine") return Kind::cosine;
    if (name == "one-cycle" || name == "one_cycle") return Kind::one_cycle;
    throw std::invalid_argument("unknown learning-rate schedule '" + std::string(name) +
                                "' (expected constant, step, cosine or one-cycle)");
  }

  // The rate at `progress` epochs (e.g. 2.5 = halfway through the third) of `epochs` in all.
  float rate_at(double progress, std::size_t epochs) const noexcept {
    const double t = epochs ? std::min(1.0, progress / static_cast<double>(epochs)) : 1.0;
    const auto cosine_between = [](double from, double to, double fraction) {
      return to + (from - to) * (1.0 + std::cos(std::numbers::pi * fraction)) / 2.0;
    };
    switch (kind) {
      case Kind::constant:
        return learning_rate;
      case Kind::step:
        return learning_rate *
               static_cast<float>(
                   std::pow(step_gamma, std::floor(progress / static_cast<double>(step_epochs ? step_epochs : 1))));
      case Kind::cosine:
        return static_cast<float>(cosine_between(learning_rate, minimum_rate, t));
      case Kind::one_cycle: {
        const double start = learning_rate / initial_divisor, end = learning_rate / final_divisor;
        if (t < warmup_fraction) return static_cast<float>(start + (learning_rate - start) * t / warmup_fraction);
        return static_cast<float>(cosine_between(learning_rate, end, (t - warmup_fraction) / (1.0 - warmup_fraction)));
      }
    }
    return learning_rate;
  }
};

}  // namespace ctnn
