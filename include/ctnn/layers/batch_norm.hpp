// BatchNorm<Momentum, Epsilon>: per-channel batch normalization (Ioffe & Szegedy 2015). After a
// convolution it normalizes each channel over the batch and the image plane; after a Dense it
// normalizes each unit over the batch. Training uses the batch's statistics and updates running
// averages (weight Momentum, unbiased variance, as PyTorch); inference uses the running averages.
// Statistics are recomputed in backward rather than cached, keeping the layer parameters-only.
// Sums are taken per image in float and across images in double, in a fixed order. Interval
// bounds use the inference form, a per-channel affine map (no interval training through it).
#pragma once

#include <cmath>
#include <cstddef>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/batch_norm.hpp>
#include <ctnn/kernels/interval.hpp>
#include <ctnn/kernels/vector.hpp>

namespace ctnn {

template <class Momentum = std::ratio<1, 10>, class Epsilon = std::ratio<1, 100000>>
struct BatchNorm {
  static constexpr std::string_view name = "BatchNorm";
  static constexpr bool is_normalization = true;

  template <class In>
  struct bind {
    static_assert(Momentum::num > 0 && Momentum::num <= Momentum::den, "BatchNorm: the momentum must be in (0, 1]");
    static_assert(Epsilon::num > 0, "BatchNorm: epsilon must be positive");

    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t channels = In::channels;
    static constexpr std::size_t plane = In::height * In::width;
    static constexpr std::size_t param_count = 2 * channels;
    static constexpr std::size_t flops = 2 * In::size;
    static constexpr double momentum = static_cast<double>(Momentum::num) / Momentum::den;
    static constexpr double epsilon = static_cast<double>(Epsilon::num) / Epsilon::den;

    static std::string label() { return "BatchNorm"; }

    Tensor<channels> gamma, beta;
    Tensor<channels> running_mean, running_variance;

    void init(Rng&) noexcept {
      gamma.fill(1.0f);
      beta.fill(0.0f);
      running_mean.fill(0.0f);
      running_variance.fill(1.0f);
    }
    auto parameters() noexcept { return std::tie(gamma, beta); }
    auto parameters() const noexcept { return std::tie(gamma, beta); }
    auto state() noexcept { return std::tie(running_mean, running_variance); }
    auto state() const noexcept { return std::tie(running_mean, running_variance); }

    // Inference: y = gamma (x - running_mean) / sqrt(running_variance + eps) + beta.
    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      for (std::size_t c = 0; c < channels; ++c) {
        const auto [scale, shift] = eval_affine(c);
        kernels::scale_shift(plane, scale, shift, x.data() + c * plane, y.data() + c * plane);
      }
    }
    // The gradient of the inference form, with the running statistics held fixed.
    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>&, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind& grad) const noexcept {
      for (std::size_t c = 0; c < channels; ++c) {
        const float* x_plane = x.data() + c * plane;
        const float* dy_plane = dy.data() + c * plane;
        const float inv_std = static_cast<float>(1.0 / std::sqrt(running_variance[c] + epsilon));
        const float dy_sum = kernels::sum(plane, dy_plane);
        grad.beta[c] += dy_sum;
        grad.gamma[c] += inv_std * (kernels::dot(plane, dy_plane, x_plane) - running_mean[c] * dy_sum);
        if (dx) kernels::scale_shift(plane, gamma[c] * inv_std, 0.0f, dy_plane, dx->data() + c * plane);
      }
    }

    // Interval bounds of a chunk of images through the inference form; a negative scale (gamma)
    // swaps the bounds.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      for (std::size_t c = 0; c < channels; ++c) {
        const auto [scale, shift] = eval_affine(c);
        for (std::size_t i = 0; i < lower.size(); ++i)
          kernels::interval_scale_shift(plane, scale, shift, lower[i].data() + c * plane, upper[i].data() + c * plane,
                                        out_lower[i].data() + c * plane, out_upper[i].data() + c * plane);
      }
    }

    // Training: normalize with the batch's mean and (biased) variance; update running averages.
    void forward_batch(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) noexcept {
      const double count = static_cast<double>(xs.size() * plane);
#pragma omp parallel for schedule(static)
      for (std::size_t c = 0; c < channels; ++c) {
        const auto [mean, variance] = batch_statistics(xs, c);
        const double inv_std = 1.0 / std::sqrt(variance + epsilon);
        const float scale = static_cast<float>(gamma[c] * inv_std);
        const float shift = static_cast<float>(beta[c] - mean * gamma[c] * inv_std);
        for (std::size_t b = 0; b < xs.size(); ++b)
          kernels::scale_shift(plane, scale, shift, xs[b].data() + c * plane, ys[b].data() + c * plane);
        const double unbiased = count > 1 ? variance * count / (count - 1) : variance;
        running_mean[c] = static_cast<float>((1 - momentum) * running_mean[c] + momentum * mean);
        running_variance[c] = static_cast<float>((1 - momentum) * running_variance[c] + momentum * unbiased);
      }
    }

    // With xhat = (x - mean) inv_std and N values per channel:
    //   dbeta = sum dy, dgamma = sum dy xhat,
    //   dx = gamma inv_std (dy - dbeta / N - xhat dgamma / N),
    // applied as one pass dx = a dy + b x + c.
    void backward_batch(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>>,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs,
                        bind& grad) const noexcept {
      const double count = static_cast<double>(xs.size() * plane);
#pragma omp parallel for schedule(static)
      for (std::size_t c = 0; c < channels; ++c) {
        const auto [mean, variance] = batch_statistics(xs, c);
        const double inv_std = 1.0 / std::sqrt(variance + epsilon);
        double dy_sum = 0, dy_x_sum = 0;
        for (std::size_t b = 0; b < xs.size(); ++b) {
          dy_sum += kernels::sum(plane, dys[b].data() + c * plane);
          dy_x_sum += kernels::dot(plane, dys[b].data() + c * plane, xs[b].data() + c * plane);
        }
        const double dgamma = inv_std * (dy_x_sum - mean * dy_sum);
        grad.beta[c] += static_cast<float>(dy_sum);
        grad.gamma[c] += static_cast<float>(dgamma);
        if (dxs.empty()) continue;
        const double a = gamma[c] * inv_std;
        const double b = -a * inv_std * dgamma / count;
        const double shift = -a * dy_sum / count - b * mean;
        for (std::size_t i = 0; i < xs.size(); ++i)
          kernels::linear_combination(plane, static_cast<float>(a), dys[i].data() + c * plane, static_cast<float>(b),
                                      xs[i].data() + c * plane, static_cast<float>(shift), dxs[i].data() + c * plane);
      }
    }

   private:
    struct Statistics {
      double mean, variance;
    };
    static Statistics batch_statistics(std::span<const tensor_of<in_shape>> xs, std::size_t c) noexcept {
      double total = 0, squares = 0;
      for (const auto& x : xs) {
        total += kernels::sum(plane, x.data() + c * plane);
        squares += kernels::dot(plane, x.data() + c * plane, x.data() + c * plane);
      }
      const double count = static_cast<double>(xs.size() * plane);
      const double mean = total / count;
      return {mean, std::max(0.0, squares / count - mean * mean)};
    }
    struct Affine {
      float scale, shift;
    };
    Affine eval_affine(std::size_t c) const noexcept {
      const double inv_std = 1.0 / std::sqrt(running_variance[c] + epsilon);
      return {static_cast<float>(gamma[c] * inv_std),
              static_cast<float>(beta[c] - running_mean[c] * gamma[c] * inv_std)};
    }
  };
};

}  // namespace ctnn
