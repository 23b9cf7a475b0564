// Saliency maps (Simonyan, Vedaldi & Zisserman 2014, section 3): the gradient of a class's score
// with respect to the input pixels, w_i = dS_k/dx_i at the image x. Its magnitude |w_i| says which
// pixels the score is most sensitive to, its sign which way a pixel pushes. Simonyan et al. use
// the logit, as the probability also rises by lowering the other classes.
//
// SmoothGrad (Smilkov et al. 2017, equation 2) averages the gradient over `samples` copies of the
// image with Gaussian noise of standard deviation noise * (pixel range 1) added, which removes the
// fine-grained sign flips of a ReLU net's gradient. The noisy copies go through the workspace as
// one batch; copy s draws its noise from Rng(derive_seed(seed, s)), so the map depends on neither
// the batch size nor the thread count. Pixels are not clipped back to [0, 1], as in the paper.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/explain/score.hpp>

namespace ctnn {

struct SaliencyOptions {
  Score score = Score::logit;
  std::size_t samples = 0;  // SmoothGrad's noisy copies; 0: the plain gradient
  float noise = 0.15f;      // SmoothGrad's sigma over the pixel range (the paper finds 10-20% best)
  std::uint64_t seed = 1;
};

struct Saliency {
  std::vector<float> gradient;  // dS/dx per pixel (pixel units), averaged over the copies for SmoothGrad
  double score = 0;             // S at the clean image
};

// The saliency map of class `target` at `image` (pixel units, in_shape::size values). ws's
// contents are scratch. Throws std::invalid_argument for a wrong image size, a class the net does
// not have, a negative or non-finite noise, or an unusable normalization.
template <class NetType, std::size_t Batch>
Saliency saliency(NetType& net, Workspace<NetType, Batch>& ws, std::span<const float> image,
                  Normalization normalization, std::size_t target, const SaliencyOptions& options = {}) {
  constexpr std::size_t size = NetType::in_shape::size;
  detail::check_image_size("the image", image.size(), size);
  if (!(options.noise >= 0 && std::isfinite(options.noise)))
    throw std::invalid_argument("saliency: the noise must be finite and >= 0, not " + std::to_string(options.noise));
  Saliency result;
  result.gradient.assign(size, 0.0f);
  const auto clean = [&](std::size_t, std::span<float> pixels) {
    std::copy(image.begin(), image.end(), pixels.begin());
  };
  batched_score_gradients(net, ws, normalization, options.score, target, 1, clean,
                          [&](std::size_t, double score, std::span<const float> gradient) {
                            result.score = score;
                            if (options.samples == 0)
                              std::copy(gradient.begin(), gradient.end(), result.gradient.begin());
                          });
  if (options.samples == 0) return result;

  std::vector<double> sum(size, 0.0);
  const auto noisy = [&](std::size_t s, std::span<float> pixels) {
    Rng rng(derive_seed(options.seed, s));
    for (std::size_t i = 0; i < size; ++i) pixels[i] = image[i] + options.noise * rng.normal();
  };
  batched_score_gradients(net, ws, normalization, options.score, target, options.samples, noisy,
                          [&](std::size_t, double, std::span<const float> gradient) {
                            for (std::size_t i = 0; i < size; ++i) sum[i] += gradient[i];
                          });
  for (std::size_t i = 0; i < size; ++i)
    result.gradient[i] = static_cast<float>(sum[i] / static_cast<double>(options.samples));
  return result;
}

}  // namespace ctnn
