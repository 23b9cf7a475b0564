// Optimizers: SGD (momentum, Nesterov, weight decay), Adam, AdamW and RMSprop, with PyTorch's
// update rules so hyper-parameters carry over. Each walks the net's parameters, the gradient and
// its own state in parallel with for_each_parameter: no optimizer knows any layer. The state has
// the net's own layer types and is allocated once, at construction. Each optimizer's `mask`
// says which parameters it may change (update_mask.hpp): frozen layers, pruned weights.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/train/update_mask.hpp>

namespace ctnn {

struct SgdOptions {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;  // L2 penalty added to the gradient
};

// g' = g + wd w;  v = mu v + g';  w -= lr (nesterov ? g' + mu v : v)   (plain SGD when mu = 0)
template <class NetType>
class Sgd {
 public:
  using layers = typename NetType::layers;
  SgdOptions options;
  UpdateMask<NetType> mask;

  explicit Sgd(const NetType&, SgdOptions options = {}) : options(options), velocity_(std::make_unique<layers>()) {}

  void update(NetType& net, const layers& grad) {
    const SgdOptions o = options;
    for_each_parameter(
        [&o](auto& weight, const auto& gradient, auto& velocity, const auto& trainable) {
          for (std::size_t i = 0; i < weight.size; ++i) {
            if (trainable[i] == 0.0f) continue;
            float g = gradient[i] + o.weight_decay * weight[i];
            if (o.momentum != 0.0f) {
              velocity[i] = o.momentum * velocity[i] + g;
              g = o.nesterov ? g + o.momentum * velocity[i] : velocity[i];
            }
            weight[i] -= o.learning_rate * g;
          }
        },
        net.parameters(), grad, *velocity_, mask.flags());
  }

  // The optimizer's state, as sets of the net's own layer types (checkpoints save them).
  auto state() noexcept { return std::tie(*velocity_); }

 private:
  std::unique_ptr<layers> velocity_;
};

struct AdamOptions {
  float learning_rate = 0.001f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
  float weight_decay = 0.0f;  // Adam: L2 added to the gradient; AdamW: decoupled decay of w
};

namespace detail {
// Kingma & Ba (2015), algorithm 1, with bias correction; decoupled weight decay as in
// Loshchilov & Hutter (2019): w -= lr wd w before the Adam step.
template <class NetType, bool DecoupledDecay>
class AdamUpdate {
 public:
  using layers = typename NetType::layers;
  AdamOptions options;
  UpdateMask<NetType> mask;

  explicit AdamUpdate(const NetType&, AdamOptions options = {})
      : options(options), first_moment_(std::make_unique<layers>()), second_moment_(std::make_unique<layers>()) {}

  void update(NetType& net, const layers& grad) {
    ++step_;
    const AdamOptions o = options;
    const float first_correction = 1.0f - static_cast<float>(std::pow(o.beta1, static_cast<double>(step_)));
    const float second_correction = 1.0f - static_cast<float>(std::pow(o.beta2, static_cast<double>(step_)));
    for_each_parameter(
        [&](auto& weight, const auto& gradient, auto& m, auto& v, const auto& trainable) {
          for (std::size_t i = 0; i < weight.size; ++i) {
            if (trainable[i] == 0.0f) continue;
            float g = gradient[i];
            if constexpr (DecoupledDecay)
              weight[i] -= o.learning_rate * o.weight_decay * weight[i];
            else
              g += o.weight_decay * weight[i];
            m[i] = o.beta1 * m[i] + (1.0f - o.beta1) * g;
            v[i] = o.beta2 * v[i] + (1.0f - o.beta2) * g * g;
            const float m_hat = m[i] / first_correction;
            const float v_hat = v[i] / second_correction;
            weight[i] -= o.learning_rate * m_hat / (std::sqrt(v_hat) + o.epsilon);
          }
        },
        net.parameters(), grad, *first_moment_, *second_moment_, mask.flags());
  }

  // Updates so far: the bias correction depends on it, so checkpoints save it.
  std::uint64_t step() const noexcept { return step_; }
  void set_step(std::uint64_t step) noexcept { step_ = step; }
  auto state() noexcept { return std::tie(*first_moment_, *second_moment_); }

 private:
  std::unique_ptr<layers> first_moment_, second_moment_;
  std::uint64_t step_ = 0;
};
}  // namespace detail

template <class NetType>
class Adam : public detail::AdamUpdate<NetType, false> {
  using detail::AdamUpdate<NetType, false>::AdamUpdate;
};
template <class NetType>
Adam(const NetType&, AdamOptions = {}) -> Adam<NetType>;

template <class NetType>
class AdamW : public detail::AdamUpdate<NetType, true> {
  using detail::AdamUpdate<NetType, true>::AdamUpdate;
};
template <class NetType>
AdamW(const NetType&, AdamOptions = {}) -> AdamW<NetType>;

struct RmsPropOptions {
  float learning_rate = 0.01f;
  float alpha = 0.99f;  // decay of the squared-gradient average
  float epsilon = 1e-8f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
};

// Tieleman & Hinton (2012): s = a s + (1 - a) g^2;  step = g / (sqrt(s) + eps);
// with momentum b = mu b + step, w -= lr b; without, w -= lr step.
template <class NetType>
class RmsProp {
 public:
  using layers = typename NetType::layers;
  RmsPropOptions options;
  UpdateMask<NetType> mask;

  explicit RmsProp(const NetType&, RmsPropOptions options = {})
      : options(options), square_average_(std::make_unique<layers>()), momentum_buffer_(std::make_unique<layers>()) {}

  void update(NetType& net, const layers& grad) {
    const RmsPropOptions o = options;
    for_each_parameter(
        [&o](auto& weight, const auto& gradient, auto& square_average, auto& buffer, const auto& trainable) {
          for (std::size_t i = 0; i < weight.size; ++i) {
            if (trainable[i] == 0.0f) continue;
            const float g = gradient[i] + o.weight_decay * weight[i];
            square_average[i] = o.alpha * square_average[i] + (1.0f - o.alpha) * g * g;
            const float step = g / (std::sqrt(square_average[i]) + o.epsilon);
            if (o.momentum != 0.0f) {
              buffer[i] = o.momentum * buffer[i] + step;
              weight[i] -= o.learning_rate * buffer[i];
            } else {
              weight[i] -= o.learning_rate * step;
            }
          }
        },
        net.parameters(), grad, *square_average_, *momentum_buffer_, mask.flags());
  }

  auto state() noexcept { return std::tie(*square_average_, *momentum_buffer_); }

 private:
  std::unique_ptr<layers> square_average_, momentum_buffer_;
};

}  // namespace ctnn
