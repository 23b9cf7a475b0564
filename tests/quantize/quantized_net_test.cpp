// quantize/quantized_net.hpp: a small batch-normalized float net and its int8 version.
// - Every logit of the int8 net lies within an error bound derived from the scales: starting
//   from half an input step, each stage's error is propagated through the float net's folded
//   weights (|W| e), plus the weights' and the bias's rounding (half a weight step times |x|,
//   half a bias unit) and half an output step; ReLU and max pooling do not increase it. The
//   bound is computed here from the float activations, independently of the int8 code.
// - The two nets agree on the predictions of most random inputs.
// - The output does not depend on the thread count or on how images are split into chunks.
// - The plan: BatchNorm folded, ReLU fused, Dropout and Identity dropped; asymmetric zero points
//   in hidden layers and same padding (the padding is the zero point's code).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <ratio>
#include <stdexcept>
#include <utility>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/quantize/calibration.hpp>
#include <ctnn/quantize/quantized_net.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ctnn;

namespace {

// 2x10x10 -> conv 4x8x8 (+ BatchNorm + ReLU) -> pool 4x4x4 -> 6 units + ReLU -> 3 logits.
using SmallNet = Net<Input<2, 10, 10>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<6>, Dense<3>>;
using Image = tensor_of<SmallNet::in_shape>;
// Overlapping pooling windows cannot be fused into the convolution: a stage of their own.
using OverlappingPool = Net<Input<1, 9, 9>, Conv<2, 3>, MaxPool<3, 2>, Dense<4>>;
// Dropout and Identity layers leave no stage.
using DenseOnly = Net<Input<2, 3, 4>, Dense<8>, Dropout<std::ratio<1, 2>>, Identity, Dense<2>>;
using Logits = tensor_of<SmallNet::out_shape>;

void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

template <class NetType>
std::vector<tensor_of<typename NetType::in_shape>> random_images(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<tensor_of<typename NetType::in_shape>> images(count);
  for (auto& image : images)
    for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform(-1.0f, 2.0f);
  return images;
}

SmallNet trained_looking_net() {
  SmallNet net(21);
  Rng rng(22);
  auto& norm = net.layer<1>();
  for (std::size_t c = 0; c < 4; ++c) {
    norm.gamma[c] = rng.uniform(0.5f, 1.5f);
    norm.beta[c] = rng.uniform(-0.2f, 0.2f);
    norm.running_mean[c] = rng.uniform(-0.3f, 0.3f);
    norm.running_variance[c] = rng.uniform(0.5f, 2.0f);
  }
  for (auto& value : net.layer<4>().bias.values) value = rng.uniform(-0.1f, 0.1f);
  for (auto& value : net.layer<5>().bias.values) value = rng.uniform(-0.1f, 0.1f);
  return net;
}

// e_out[j] = sum_i |W_ji| e_in[i] + weight_scale_j / 2 * sum_i (|x_i| + e_in[i])
//            + input_scale * weight_scale_j / 2 (the bias code) + slack, for a dense layer whose
// float input is x with error bound e_in; `rounding` (half an output step) is added after.
template <class DenseLayer, class Stage>
std::vector<double> dense_bound(const DenseLayer& layer, const Stage& stage, std::span<const float> x,
                                const std::vector<double>& e_in, double rounding) {
  constexpr std::size_t outputs = DenseLayer::out_shape::size, inputs = DenseLayer::inputs;
  std::vector<double> e_out(outputs);
  for (std::size_t j = 0; j < outputs; ++j) {
    double propagated = 0, magnitude = 0, float_terms = std::fabs(layer.bias[j]);
    for (std::size_t i = 0; i < inputs; ++i) {
      propagated += std::fabs(layer.weight[j * inputs + i]) * e_in[i];
      magnitude += std::fabs(x[i]) + e_in[i];
      float_terms += std::fabs(layer.weight[j * inputs + i] * x[i]);
    }
    const double weight_scale = stage.weight_scale[j], input_scale = stage.input.scale;
    // The float net's own rounding and the float requantization: a few units of 2^-24 per term.
    e_out[j] =
        propagated + weight_scale / 2 * magnitude + input_scale * weight_scale / 2 + 1e-5 * float_terms + rounding;
  }
  return e_out;
}

}  // namespace

TEST_CASE("quantized net: the plan folds BatchNorm, fuses ReLU and pooling, and drops Dropout") {
  using Q = QuantizedNet<SmallNet>;
  static_assert(Q::stage_count == 3);
  CHECK(Q::stage_label(0) == "Conv<4, 3> + BatchNorm + ReLU + MaxPool<2>");
  CHECK(Q::stage_label(1) == "Dense<6> + ReLU");
  CHECK(Q::stage_label(2) == "Dense<3>");
  static_assert(QuantizedNet<OverlappingPool>::stage_count == 3);
  CHECK(QuantizedNet<OverlappingPool>::stage_label(1) == "MaxPool<3, 2>");
  static_assert(QuantizedNet<DenseOnly>::stage_count == 2);
  CHECK(QuantizedNet<DenseOnly>::stage_label(0) == "Dense<8> + ReLU");
  CHECK(QuantizedNet<DenseOnly>::stage_label(1) == "Dense<2>");
}

TEST_CASE("quantized net: every logit is within the error bound derived from the scales") {
  const SmallNet net = trained_looking_net();
  const auto images = random_images<SmallNet>(300, 23);
  // Calibrated on the images it runs, so that no true value lies outside its range.
  const auto ranges = calibrate(net, std::span<const Image>(images));
  const QuantizedNet<SmallNet> quantized = quantize(net, ranges);
  std::vector<Logits> int8_logits(images.size());
  quantized.forward(std::span<const Image>(images), std::span(int8_logits));

  auto folded = std::make_unique<SmallNet::layer_type<0>>(net.layer<0>());
  fold_batch_norm(*folded, net.layer<1>());
  const auto& conv_stage = quantized.stage<0>();
  const auto buffers = std::make_unique<SmallNet::Inference>();
  constexpr auto g = SmallNet::layer_type<0>::geometry;
  double worst_ratio = 0, worst_error = 0;
  std::size_t agree = 0;
  for (std::size_t n = 0; n < images.size(); ++n) {
    const Image& x = images[n];
    const float* pixels = x.data();
    const auto& logits = net.forward(x, *buffers);
    // Stage 0, the folded convolution: input error half an input step.
    const std::vector<double> e_input(Image::size, quantized.input_quantization().scale / 2.0);
    std::vector<double> e_conv(g.filters * g.out_plane());
    for (std::size_t f = 0; f < g.filters; ++f)
      for (std::size_t oh = 0; oh < g.out_height(); ++oh)
        for (std::size_t ow = 0; ow < g.out_width(); ++ow) {
          double propagated = 0, magnitude = 0, float_terms = std::fabs(folded->bias[f]);
          for (std::size_t c = 0; c < g.channels; ++c)
            for (std::size_t i = 0; i < g.kernel; ++i)
              for (std::size_t j = 0; j < g.kernel; ++j) {
                const float w = folded->weight[((f * g.channels + c) * g.kernel + i) * g.kernel + j];
                const float value = pixels[(c * g.height + oh + i) * g.width + ow + j];
                propagated += std::fabs(w) * e_input[0];
                magnitude += std::fabs(value) + e_input[0];
                float_terms += std::fabs(w * value);
              }
          e_conv[(f * g.out_height() + oh) * g.out_width() + ow] =
              propagated + conv_stage.weight_scale[f] / 2 * magnitude +
              conv_stage.input.scale * conv_stage.weight_scale[f] / 2 + 1e-5 * float_terms +
              conv_stage.output.scale / 2.0;
        }
    // Max pooling (fused into stage 0, before the rounding): the error of a maximum is at most the
    // largest error in its window.
    std::vector<double> e_pool(4 * 4 * 4);
    for (std::size_t c = 0; c < 4; ++c)
      for (std::size_t oh = 0; oh < 4; ++oh)
        for (std::size_t ow = 0; ow < 4; ++ow)
          for (std::size_t i = 0; i < 2; ++i)
            for (std::size_t j = 0; j < 2; ++j)
              e_pool[(c * 4 + oh) * 4 + ow] =
                  std::max(e_pool[(c * 4 + oh) * 4 + ow], e_conv[(c * 8 + 2 * oh + i) * 8 + 2 * ow + j]);
    // Stages 1 and 2, the dense layers (ReLU is 1-Lipschitz); the logits are not rounded.
    const std::vector<double> e_hidden = dense_bound(net.layer<4>(), quantized.stage<1>(), std::get<3>(*buffers).span(),
                                                     e_pool, quantized.stage<1>().output.scale / 2.0);
    const std::vector<double> e_logits =
        dense_bound(net.layer<5>(), quantized.stage<2>(), std::get<4>(*buffers).span(), e_hidden, 0.0);
    for (std::size_t k = 0; k < 3; ++k) {
      const double error = std::fabs(int8_logits[n][k] - logits[k]);
      CAPTURE(n);
      CAPTURE(k);
      REQUIRE(error <= e_logits[k]);
      worst_ratio = std::max(worst_ratio, error / e_logits[k]);
      worst_error = std::max(worst_error, error);
    }
    const auto argmax = [](const Logits& values) {
      return std::max_element(values.data(), values.data() + 3) - values.data();
    };
    agree += argmax(int8_logits[n]) == argmax(logits);
  }
  MESSAGE("worst logit error " << worst_error << ", " << worst_ratio << " of its bound; predictions agree on " << agree
                               << " of " << images.size());
  CHECK(worst_error > 0);  // the int8 net really is another computation
  CHECK(agree >= images.size() * 95 / 100);
}

TEST_CASE("quantized net: the output does not depend on threads or chunking") {
  const SmallNet net = trained_looking_net();
  const auto images = random_images<SmallNet>(77, 29);
  QuantizedNet<SmallNet> quantized = quantize(net, calibrate(net, std::span<const Image>(images)));
  std::vector<Logits> one_thread(images.size()), two_threads(images.size());
  set_threads(1);
  quantized.forward(std::span<const Image>(images), std::span(one_thread));
  set_threads(2);
  quantized.forward(std::span<const Image>(images), std::span(two_threads));
  for (std::size_t n = 0; n < images.size(); ++n) {
    REQUIRE(one_thread[n] == two_threads[n]);
    REQUIRE(quantized.forward(images[n]) == one_thread[n]);  // alone, a chunk of one image
  }
  std::vector<Logits> too_few(3);
  CHECK_THROWS_AS(quantized.forward(std::span<const Image>(images), std::span(too_few)), std::invalid_argument);
  const std::vector<ActivationRange> wrong(3);
  CHECK_THROWS_AS(quantize(net, wrong), std::invalid_argument);
}

namespace {
// The largest logit error of the int8 version of `net` over random images, and the largest logit.
template <class NetType>
std::pair<double, double> logit_error(NetType& net, const QuantizedNet<NetType>& quantized,
                                      const std::vector<tensor_of<typename NetType::in_shape>>& images) {
  std::vector<tensor_of<typename NetType::out_shape>> int8_logits(images.size());
  quantized.forward(std::span<const tensor_of<typename NetType::in_shape>>(images), std::span(int8_logits));
  double worst = 0, largest = 0;
  for (std::size_t n = 0; n < images.size(); ++n) {
    const auto& logits = net.forward(images[n]);
    for (std::size_t k = 0; k < NetType::classes; ++k) {
      worst = std::max(worst, static_cast<double>(std::fabs(int8_logits[n][k] - logits[k])));
      largest = std::max(largest, static_cast<double>(std::fabs(logits[k])));
    }
  }
  return {worst, largest};
}
}  // namespace

TEST_CASE("quantized net: asymmetric hidden activations, same padding, a pooling stage, dense only: all close") {
  // A linear hidden convolution (its outputs have both signs: a zero point inside the codes)
  // with same padding, whose padded taps must read the zero point's code, not code 0.
  using PaddedNet = Net<Input<1, 7, 7>, Conv<3, 3, 1, same, Identity>, Dense<5, Identity>, Dense<4>>;
  PaddedNet padded(31);
  const auto padded_images = random_images<PaddedNet>(200, 37);
  const QuantizedNet<PaddedNet> padded_int8 =
      quantize(padded, calibrate(padded, std::span<const tensor_of<PaddedNet::in_shape>>(padded_images)));
  CHECK(padded_int8.stage<0>().output.zero_point > 20);
  CHECK(padded_int8.stage<0>().output.zero_point < 235);
  const auto [padded_worst, padded_largest] = logit_error(padded, padded_int8, padded_images);
  MESSAGE("same padding: worst logit error " << padded_worst << " for logits up to " << padded_largest);
  // Three roundings of 8 bits: a few percent of the logits' range; code 0 in the padding would
  // shift every border output by the zero point times the weights, far more.
  CHECK(padded_worst <= 0.03 * padded_largest);

  OverlappingPool pooled(41);
  const auto pooled_images = random_images<OverlappingPool>(200, 43);
  const QuantizedNet<OverlappingPool> pooled_int8 =
      quantize(pooled, calibrate(pooled, std::span<const tensor_of<OverlappingPool::in_shape>>(pooled_images)));
  const auto [pooled_worst, pooled_largest] = logit_error(pooled, pooled_int8, pooled_images);
  MESSAGE("overlapping pooling: worst logit error " << pooled_worst << " for logits up to " << pooled_largest);
  CHECK(pooled_worst <= 0.03 * pooled_largest);

  // No convolution: the quantized input goes straight to a Dense stage, a row per image.
  DenseOnly dense(47);
  const auto dense_images = random_images<DenseOnly>(100, 53);
  const QuantizedNet<DenseOnly> dense_int8 =
      quantize(dense, calibrate(dense, std::span<const tensor_of<DenseOnly::in_shape>>(dense_images)));
  const auto [dense_worst, dense_largest] = logit_error(dense, dense_int8, dense_images);
  MESSAGE("dense only: worst logit error " << dense_worst << " for logits up to " << dense_largest);
  CHECK(dense_worst <= 0.03 * dense_largest);
}
