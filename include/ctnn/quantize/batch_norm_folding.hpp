// Batch normalization folded into the convolution or dense layer before it. At inference a
// BatchNorm is a per-channel affine map with its running statistics, so for output channel f
//   gamma_f (W_f x + b_f - mean_f) / sqrt(var_f + eps) + beta_f = (s_f W_f) x + s_f (b_f - mean_f) + beta_f
// with s_f = gamma_f / sqrt(var_f + eps): one linear layer (Jacob et al. 2018, section 3.2),
// which is what int8 inference quantizes.
#pragma once

#include <cmath>
#include <cstddef>

namespace ctnn {

// Rewrites `layer` (a bound Conv or Dense: weight rows, then bias, one per output channel) so
// that it computes layer then `norm` (a bound BatchNorm) in inference mode. The layer's own
// activation must be the identity, as Net makes it before a BatchNorm.
template <class Linear, class Norm>
void fold_batch_norm(Linear& layer, const Norm& norm) noexcept {
  constexpr std::size_t outputs = decltype(layer.bias)::size;
  static_assert(Norm::channels == outputs, "fold_batch_norm: the BatchNorm must normalize the layer's output channels");
  constexpr std::size_t row = decltype(layer.weight)::size / outputs;
  for (std::size_t f = 0; f < outputs; ++f) {
    const double scale = norm.gamma[f] / std::sqrt(static_cast<double>(norm.running_variance[f]) + Norm::epsilon);
    for (std::size_t k = 0; k < row; ++k)
      layer.weight[f * row + k] = static_cast<float>(scale * layer.weight[f * row + k]);
    layer.bias[f] =
        static_cast<float>(scale * (static_cast<double>(layer.bias[f]) - norm.running_mean[f]) + norm.beta[f]);
  }
}

}  // namespace ctnn
