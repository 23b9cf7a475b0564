// What the explanation tests share: random pixel-space images and a net's score at one image,
// from a single-image forward pass (the independent computation each method is checked against).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace ctnn::test {

// Not MNIST's statistics: baselines and occluding patches must go through the normalization like
// the image.
inline constexpr Normalization explain_normalization{0.2f, 0.3f};

inline std::vector<float> random_image(std::size_t size, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> image(size);
  for (float& pixel : image) pixel = rng.uniform();
  return image;
}

// S of class k at a pixel-space image, normalized as load_batch does (times 1 / stddev).
template <class NetType>
double forward_score(NetType& net, std::span<const float> pixels, Score score, std::size_t k) {
  tensor_of<typename NetType::in_shape> input;
  const float scale = 1.0f / explain_normalization.stddev;
  for (std::size_t i = 0; i < pixels.size(); ++i) input[i] = (pixels[i] - explain_normalization.mean) * scale;
  return score_value(score, net.forward(input).span(), k);
}

}  // namespace ctnn::test
