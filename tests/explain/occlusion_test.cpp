// Occlusion sensitivity (explain/occlusion.hpp): each drop is S(x) - S(x with the patch), checked
// against the net's own forward pass on an image occluded here; the placements cover every pixel;
// a patch where the model has no weights, or that paints the background with itself, drops
// nothing; the per-pixel map is the mean of the covering drops; and batch size and thread count
// change no bit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/explain/occlusion.hpp>

#include "explain/explain_test_support.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;

using Small = Net<Conv<4, 3>, MaxPool<2>, Dense<12>, Dense<5>>::bind<Shape<2, 10, 8>>;
using Linear = Net<Dense<4>>::bind<Shape<1, 8, 8>>;

constexpr Normalization normalization = test::explain_normalization;
using test::forward_score;
using test::random_image;

}  // namespace

TEST_CASE("Occlusion: the drops are the score's fall under each patch, and the placements cover the image") {
  Small net(1);
  Workspace<Small, 8> ws;
  using In = Small::in_shape;
  const std::vector<float> image = random_image(In::size, 2);
  const OcclusionOptions options{.score = Score::log_probability, .patch = 4, .stride = 3, .fill = 0.5f};
  const std::size_t target = 2;
  const Occlusion map = occlusion(net, ws, image, normalization, target, options);
  // Height 10: 0, 3, 6 reach the edge exactly; width 8: 0, 3, then 4 flush with the edge.
  CHECK(map.rows == std::vector<std::size_t>{0, 3, 6});
  CHECK(map.columns == std::vector<std::size_t>{0, 3, 4});
  REQUIRE(map.drops.size() == 9);
  const double clean = forward_score(net, std::span<const float>(image), options.score, target);
  CHECK(map.score == doctest::Approx(clean).epsilon(1e-6));
  std::vector<double> sum(In::height * In::width, 0.0);
  std::vector<int> covering(In::height * In::width, 0);
  double largest = 0;
  for (std::size_t r = 0; r < map.rows.size(); ++r)
    for (std::size_t c = 0; c < map.columns.size(); ++c) {
      std::vector<float> occluded = image;
      for (std::size_t channel = 0; channel < In::channels; ++channel)
        for (std::size_t y = map.rows[r]; y < map.rows[r] + options.patch; ++y)
          for (std::size_t x = map.columns[c]; x < map.columns[c] + options.patch; ++x)
            occluded[(channel * In::height + y) * In::width + x] = options.fill;
      const double drop = clean - forward_score(net, std::span<const float>(occluded), options.score, target);
      CAPTURE(r);
      CAPTURE(c);
      // Two float forward passes of scores near 1 apart: rounding of about 1e-7 each.
      CHECK(std::abs(map.drops[r * map.columns.size() + c] - drop) < 1e-5);
      largest = std::max(largest, std::abs(drop));
      for (std::size_t y = map.rows[r]; y < map.rows[r] + options.patch; ++y)
        for (std::size_t x = map.columns[c]; x < map.columns[c] + options.patch; ++x) {
          sum[y * In::width + x] += map.drops[r * map.columns.size() + c];
          ++covering[y * In::width + x];
        }
    }
  CHECK(largest > 1e-2);
  for (std::size_t i = 0; i < sum.size(); ++i) {
    CAPTURE(i);
    REQUIRE(covering[i] > 0);
    CHECK(map.sensitivity[i] == doctest::Approx(sum[i] / covering[i]).epsilon(1e-6));
  }
}

TEST_CASE("Occlusion: a patch where the model has no weights drops nothing; elsewhere it does") {
  // Every unit ignores the right half of the image (columns 4..7): a patch inside it changes no
  // logit bit, whatever it paints there. The control: patches reaching the left half drop.
  Linear net(3);
  auto& dense = net.layer<0>();
  for (std::size_t unit = 0; unit < 4; ++unit)
    for (std::size_t y = 0; y < 8; ++y)
      for (std::size_t x = 4; x < 8; ++x) dense.weight(unit, y * 8 + x) = 0.0f;
  Workspace<Linear, 16> ws;
  const std::vector<float> image = random_image(Linear::in_shape::size, 4);
  const Occlusion map = occlusion(net, ws, image, normalization, 1, {.patch = 2, .stride = 2, .fill = 0.9f});
  std::size_t nonzero = 0;
  for (std::size_t r = 0; r < map.rows.size(); ++r)
    for (std::size_t c = 0; c < map.columns.size(); ++c) {
      const float drop = map.drops[r * map.columns.size() + c];
      if (map.columns[c] >= 4)
        CHECK(drop == 0.0f);
      else
        nonzero += drop != 0.0f;
    }
  CHECK(nonzero == 8);  // rows 0, 2, 4, 6 by columns 0, 2
  for (std::size_t y = 0; y < 8; ++y)
    for (std::size_t x = 4; x < 8; ++x) CHECK(map.sensitivity[y * 8 + x] == 0.0f);
}

TEST_CASE("Occlusion: painting the background with itself drops nothing") {
  // A digit-like image: ink in the left columns, background 0 elsewhere. With fill 0, patches
  // on the background leave the image as it was, so any net scores it the same.
  Small net(5);
  Workspace<Small, 8> ws;
  using In = Small::in_shape;
  std::vector<float> image(In::size, 0.0f);
  Rng rng(6);
  for (std::size_t channel = 0; channel < In::channels; ++channel)
    for (std::size_t y = 0; y < In::height; ++y)
      for (std::size_t x = 0; x < 3; ++x) image[(channel * In::height + y) * In::width + x] = rng.uniform(0.5f, 1.0f);
  const Occlusion map = occlusion(net, ws, image, normalization, 0, {.patch = 3, .stride = 1, .fill = 0.0f});
  for (std::size_t r = 0; r < map.rows.size(); ++r)
    for (std::size_t c = 0; c < map.columns.size(); ++c)
      if (map.columns[c] >= 3) CHECK(map.drops[r * map.columns.size() + c] == 0.0f);
  CHECK(map.drops[0] != 0.0f);
}

TEST_CASE("Occlusion: the same bits for any batch size and thread count") {
  Small net(7);
  using In = Small::in_shape;
  const std::vector<float> image = random_image(In::size, 8);
  Workspace<Small, 32> large;
  Workspace<Small, 5> small;
  const Occlusion reference = occlusion(net, large, image, normalization, 3);
  CHECK(occlusion(net, large, image, normalization, 3).drops == reference.drops);
  CHECK(occlusion(net, small, image, normalization, 3).drops == reference.drops);
  CHECK(occlusion(net, small, image, normalization, 3).sensitivity == reference.sensitivity);
#ifdef _OPENMP
  const int threads = omp_get_max_threads();
  for (const int count : {1, 2, 3}) {
    omp_set_num_threads(count);
    CHECK(occlusion(net, small, image, normalization, 3).drops == reference.drops);
  }
  omp_set_num_threads(threads);
#endif
}

TEST_CASE("Occlusion: refuses a patch of size 0 or larger than the image, a zero stride and a wrong image") {
  Small net(7);
  Workspace<Small, 5> ws;
  const std::vector<float> image(Small::in_shape::size, 0.5f), short_image(Small::in_shape::size - 1, 0.5f);
  CHECK_THROWS_AS(occlusion(net, ws, image, normalization, 0, {.patch = 0}), std::invalid_argument);
  CHECK_THROWS_AS(occlusion(net, ws, image, normalization, 0, {.patch = 9}), std::invalid_argument);  // width 8
  CHECK_THROWS_AS(occlusion(net, ws, image, normalization, 0, {.stride = 0}), std::invalid_argument);
  CHECK_THROWS_AS(occlusion(net, ws, short_image, normalization, 0), std::invalid_argument);
  CHECK_THROWS_AS(occlusion(net, ws, image, normalization, 5), std::invalid_argument);
}
