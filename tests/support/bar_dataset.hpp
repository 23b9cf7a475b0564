// A four-class toy problem for training tests: 8 x 8 images of a bright bar in one of four places
// (two rows, two columns) on a dim, noisy ground. A small net learns it in a few steps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn::test {

inline Dataset bars(std::size_t count, std::uint64_t seed) {
  Dataset data{"bars", 1, 8, 8, std::vector<float>(count * 64), std::vector<std::uint8_t>(count)};
  Rng rng(seed);
  for (std::size_t i = 0; i < count; ++i) {
    const auto label = static_cast<std::uint8_t>(rng.below(4));
    data.labels[i] = label;
    auto image = data.image(i);
    for (std::size_t p = 0; p < 64; ++p) image[p] = 0.2f * rng.uniform();
    for (std::size_t k = 0; k < 8; ++k) image[label < 2 ? (2 + 3 * label) * 8 + k : k * 8 + 2 + 3 * (label - 2)] = 1.0f;
  }
  return data;
}

}  // namespace ctnn::test
