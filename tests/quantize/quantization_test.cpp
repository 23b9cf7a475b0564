// quantize/quantization.hpp: the scales and zero points chosen for a range (0 exact, the range
// covered to within half a step), the round trip float -> code -> float within half a step for
// both quantize kernels, clamping outside the range, and the per-channel weight and bias codes
// within half a step of the values they stand for.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/kernels/int8_image.hpp>
#include <ctnn/quantize/quantization.hpp>

using ctnn::ActivationQuantization;
using ctnn::ActivationRange;

namespace {

// Half a step, plus what float arithmetic adds: x / scale and scale * (code - zero point) are each
// rounded once, a relative 2^-24 of values up to 256 steps.
float half_step_bound(const ActivationQuantization& q) { return q.scale * (0.5f + 256.0f * 1.2e-7f); }

}  // namespace

TEST_CASE("quantization: the zero point makes 0 exact and the codes cover the range") {
  for (const ActivationRange range :
       {ActivationRange{-0.4242f, 2.8215f}, ActivationRange{0.0f, 5.3f}, ActivationRange{-3.0f, -1.0f},
        ActivationRange{2.0f, 4.0f}, ActivationRange{-1e-3f, 1e3f}, ActivationRange{-7.0f, 7.0f}}) {
    CAPTURE(range.min);
    CAPTURE(range.max);
    const ActivationQuantization q = ctnn::activation_quantization(range);
    REQUIRE(q.scale > 0);
    REQUIRE(q.zero_point >= 0);
    REQUIRE(q.zero_point <= 255);
    CHECK(q.dequantize(static_cast<std::uint8_t>(q.zero_point)) == 0.0f);
    const float low = std::min(range.min, 0.0f), high = std::max(range.max, 0.0f);
    CHECK(q.dequantize(0) <= low + half_step_bound(q));
    CHECK(q.dequantize(255) >= high - half_step_bound(q));
    CHECK(q.scale == doctest::Approx((high - low) / 255.0f).epsilon(1e-6));
  }
  CHECK(ctnn::activation_quantization({0.0f, 0.0f}) == ActivationQuantization{1.0f, 0});
  CHECK(ctnn::activation_quantization({0.0f, 6.0f}).zero_point == 0);  // after a ReLU
  CHECK(ctnn::activation_quantization({-6.0f, 0.0f}).zero_point == 255);
  CHECK_THROWS_AS(ctnn::activation_quantization({1.0f, -1.0f}), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::activation_quantization({0.0f, std::numeric_limits<float>::infinity()}), std::invalid_argument);
  CHECK_THROWS_AS(ctnn::activation_quantization({std::numeric_limits<float>::quiet_NaN(), 1.0f}),
                  std::invalid_argument);
}

TEST_CASE("quantization: quantize then dequantize is within half a step inside the range, clamped outside") {
  const ActivationRange range{-0.4242f, 2.8215f};
  const ActivationQuantization q = ctnn::activation_quantization(range);
  ctnn::Rng rng(41);
  std::vector<float> values(10'001);
  for (float& value : values) value = rng.uniform(range.min, range.max);
  values.back() = range.max;
  values.front() = range.min;
  std::vector<std::uint8_t> fast(values.size()), reference(values.size());
  ctnn::kernels::quantize(values.size(), values.data(), q.scale, q.zero_point, fast.data());
  ctnn::kernels::quantize_reference(values.size(), values.data(), q.scale, q.zero_point, reference.data());
  float worst = 0;
  for (std::size_t i = 0; i < values.size(); ++i) {
    REQUIRE(fast[i] == reference[i]);
    worst = std::max(worst, std::fabs(q.dequantize(fast[i]) - values[i]));
  }
  CHECK(worst <= half_step_bound(q));
  CHECK(worst >= 0.45f * q.scale);  // and the bound is not loose: 10,000 values come close to it

  const std::vector<float> outside{-5.0f, 100.0f};
  std::vector<std::uint8_t> codes(2);
  ctnn::kernels::quantize(2, outside.data(), q.scale, q.zero_point, codes.data());
  CHECK(codes[0] == 0);
  CHECK(codes[1] == 255);
}

TEST_CASE("quantization: per-channel weight codes are within half a step, the largest weight at +-127") {
  ctnn::Rng rng(43);
  std::vector<float> w(97);
  for (float& value : w) value = rng.normal(0.0f, 0.1f);
  w[13] = -0.9f;
  std::vector<std::int8_t> codes(w.size());
  const float scale = ctnn::quantize_weight_row(w, 0.0f, codes);
  CHECK(scale == doctest::Approx(0.9f / 127.0f));
  CHECK(codes[13] == -127);
  for (std::size_t i = 0; i < w.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(scale * codes[i] - w[i]) <= scale * 0.5f * (1 + 1e-5f));
  }
  // A coarser floor than the weights need: every weight still within half a step of it.
  const float floor_scale = ctnn::quantize_weight_row(w, 0.05f, codes);
  CHECK(floor_scale == 0.05f);
  for (std::size_t i = 0; i < w.size(); ++i) CHECK(std::fabs(0.05f * codes[i] - w[i]) <= 0.025f * (1 + 1e-5f));
  // A channel of zeros: codes 0 and a usable scale.
  std::vector<float> zeros(5, 0.0f);
  std::vector<std::int8_t> zero_codes(5, 1);
  CHECK(ctnn::quantize_weight_row(zeros, 0.0f, zero_codes) == 1.0f);
  CHECK(zero_codes == std::vector<std::int8_t>(5, 0));
}

TEST_CASE("quantization: a bias code is within half a unit of input scale x weight scale") {
  ctnn::Rng rng(47);
  for (int i = 0; i < 1000; ++i) {
    const float bias = rng.uniform(-3.0f, 3.0f), input_scale = rng.uniform(0.001f, 0.05f),
                weight_scale = rng.uniform(1e-4f, 1e-2f);
    const std::int32_t code = ctnn::quantize_bias(bias, input_scale, weight_scale);
    const double unit = static_cast<double>(input_scale) * weight_scale;
    REQUIRE(std::fabs(code * unit - bias) <= 0.5 * unit * (1 + 1e-9));
  }
}
