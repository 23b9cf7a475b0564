// A small problem for the attack tests: 12 x 12 images of a bright bar on a dim, noisy ground,
// classed by the bar's direction (horizontal, vertical, diagonal, anti-diagonal), and a small
// conv net trained on them for a few seconds' worth of steps (well under one under ASan). The
// trained net classifies nearly all of them right with margins an attack has to work for, which
// a random net's arbitrary decisions would not give.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn::testing {

using BarNet = Net<Conv<6, 3>, MaxPool<2>, Dense<24>, Dense<4>>::bind<Shape<1, 12, 12>>;

// Not MNIST's statistics, and far from (0, 1): an attack must carry its gradient and its budget
// through the normalization.
inline constexpr Normalization bar_normalization{0.25f, 0.3f};

inline Dataset bar_images(std::size_t count, std::uint64_t seed) {
  constexpr std::size_t side = 12, length = 7;
  Dataset data{"bars", 1, side, side, {}, {}};
  data.images.resize(count * side * side);
  Rng rng(seed);
  for (std::size_t n = 0; n < count; ++n) {
    const auto direction = static_cast<std::uint8_t>(n % 4);
    data.labels.push_back(direction);
    std::span<float> image = data.image(n);
    for (float& pixel : image) pixel = rng.uniform(0.0f, 0.3f);
    const std::size_t row = 2 + rng.below(side - length - 3), column = 2 + rng.below(side - length - 3);
    for (std::size_t i = 0; i < length; ++i) {
      const std::size_t r = direction == 0 ? row + 2 : direction == 3 ? row + length - 1 - i : row + i;
      const std::size_t c = direction == 1 ? column + 2 : column + i;
      image[r * side + c] = rng.uniform(0.7f, 1.0f);
    }
  }
  return data;
}

// Trained on 256 bar images with SGD and momentum; the same every time.
inline const BarNet& trained_bar_net() {
  static const BarNet net = [] {
    BarNet model(7);
    const Dataset train = bar_images(256, 11);
    Sgd<BarNet> optimizer(model, {.learning_rate = 0.05f, .momentum = 0.9f});
    Workspace<BarNet, 32> ws;
    for (std::size_t epoch = 0; epoch < 12; ++epoch)
      for (std::size_t first = 0; first < train.size(); first += 32) {
        load_batch(ws, std::span(train.images).subspan(first * train.image_size(), 32 * train.image_size()),
                   std::span(train.labels).subspan(first, 32), bar_normalization);
        model.forward(ws, Mode::train);
        ws.zero_grad();
        model.backward(ws);
        optimizer.update(model, ws.grad());
      }
    return model;
  }();
  return net;
}

}  // namespace ctnn::testing
