// The int8 quantization scheme (Jacob et al. 2018; Krishnamoorthi 2018, section 2):
// - activations: unsigned 8-bit, per tensor and asymmetric, real = scale (code - zero_point),
//   from a calibrated range [min, max] widened to hold 0 so that 0 (ReLU's floor, the padding)
//   has an exact code; after a ReLU min is 0 and the zero point is 0;
// - weights: signed 8-bit, symmetric, one scale per output channel (per filter, per unit), codes
//   in [-127, 127] so that -128 never needs a partner;
// - biases: int32 in units of input scale x weight scale, added to the int32 sums.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

namespace ctnn {

// The values seen at one point of a network on the calibration images.
struct ActivationRange {
  float min = 0, max = 0;
};

// real = scale * (code - zero_point) for codes 0..255.
struct ActivationQuantization {
  float scale = 1;
  std::int32_t zero_point = 0;

  float dequantize(std::uint8_t code) const noexcept {
    return scale * static_cast<float>(std::int32_t{code} - zero_point);
  }
  friend bool operator==(const ActivationQuantization&, const ActivationQuantization&) = default;
};

// scale = (max - min) / 255 over the range widened to hold 0, zero_point = round(-min / scale).
// A range of zero width (a channel that is always 0) gets scale 1. Throws std::invalid_argument
// on a range that is not finite or has min > max.
inline ActivationQuantization activation_quantization(ActivationRange range) {
  if (!std::isfinite(range.min) || !std::isfinite(range.max) || range.min > range.max)
    throw std::invalid_argument("activation_quantization: the range [" + std::to_string(range.min) + ", " +
                                std::to_string(range.max) + "] is not a finite interval");
  const double low = std::min(0.0, static_cast<double>(range.min)),
               high = std::max(0.0, static_cast<double>(range.max));
  if (high - low <= 0) return {1.0f, 0};
  const float scale = static_cast<float>((high - low) / 255.0);
  const double zero_point = std::nearbyint(-low / static_cast<double>(scale));
  return {scale, static_cast<std::int32_t>(std::clamp(zero_point, 0.0, 255.0))};
}

// Bias codes are kept within 2^23 so that a bias plus an int32 sum of products stays exact
// enough in the float requantization; a channel whose bias would need more gets a coarser
// weight scale instead (a channel with weights near 0, such as one batch normalization turned
// off with gamma near 0, is nearly constant, and its weights matter little).
inline constexpr float max_bias_code = 8'388'608.0f;

// Quantizes one output channel's weights symmetrically into q (same size as w) and returns the
// scale: max(max |w| / 127, min_scale), or 1 when both are 0. codes = nearbyint(w / scale).
inline float quantize_weight_row(std::span<const float> w, float min_scale, std::span<std::int8_t> q) noexcept {
  float largest = 0;
  for (const float value : w) largest = std::max(largest, std::fabs(value));
  float scale = std::max(largest / 127.0f, min_scale);
  if (!(scale > 0)) scale = 1.0f;
  for (std::size_t i = 0; i < w.size(); ++i)
    q[i] = static_cast<std::int8_t>(std::clamp(std::nearbyint(w[i] / scale), -127.0f, 127.0f));
  return scale;
}

// The int32 code of a bias in units of input_scale * weight_scale.
inline std::int32_t quantize_bias(float bias, float input_scale, float weight_scale) noexcept {
  const double code = std::nearbyint(static_cast<double>(bias) / (static_cast<double>(input_scale) * weight_scale));
  return static_cast<std::int32_t>(std::clamp(code, -2147483647.0, 2147483647.0));
}

}  // namespace ctnn
