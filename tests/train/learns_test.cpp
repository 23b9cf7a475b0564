// A small net learns a synthetic, separable problem to 100% training accuracy: 8 x 8 images of
// one bright bar, horizontal (class 0) or vertical (class 1), at a random place and length, on
// a noisy background. A Conv + MaxPool + Dense net trains a few hundred steps, once with SGD
// and momentum and once with Adam; it must also classify fresh images of the same kind.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

using Bars = Net<Conv<8, 3>, MaxPool<2>, Dense<2>>::bind<Shape<1, 8, 8>>;  // 8 x 6 x 6, 8 x 3 x 3, 2
using Image = tensor_of<Shape<1, 8, 8>>;

struct Example {
  Image image;
  std::size_t label;
};

std::vector<Example> make_bars(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Example> set(count);
  for (std::size_t n = 0; n < count; ++n) {
    auto& [image, label] = set[n];
    label = n % 2;
    for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform(0.0f, 0.3f);
    const std::size_t line = rng.below(8), length = 4 + rng.below(5), start = rng.below(8 - length + 1);
    for (std::size_t k = start; k < start + length; ++k) {
      if (label == 0)
        image(0, line, k) = 1.0f;
      else
        image(0, k, line) = 1.0f;
    }
  }
  return set;
}

double accuracy(Bars& net, const std::vector<Example>& set) {
  std::size_t right = 0;
  for (const auto& [image, label] : set) right += net.predict(image) == label;
  return static_cast<double>(right) / static_cast<double>(set.size());
}

template <class Optimizer, class Options>
void learn(Options options, std::uint64_t seed) {
  const auto train_set = make_bars(64, 1), test_set = make_bars(200, 2);
  Bars net(seed);
  Optimizer optimizer(net, options);
  Workspace<Bars, 16> ws;
  Rng order(seed);
  const double chance = accuracy(net, train_set);
  float first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    for (std::size_t b = 0; b < 16; ++b) {
      const auto& example = train_set[order.below(train_set.size())];
      ws.input(b) = example.image;
      ws.labels[b] = example.label;
    }
    const float loss = net.forward(ws, Mode::train);
    if (step == 0) first_loss = loss;
    last_loss = loss;
    ws.zero_grad();
    net.backward(ws);
    optimizer.update(net, ws.grad());
  }
  INFO("accuracy before training " << chance << ", loss " << first_loss << " -> " << last_loss);
  CHECK(accuracy(net, train_set) == 1.0);
  CHECK(accuracy(net, test_set) >= 0.95);
  CHECK(last_loss < 0.25f * first_loss);
}
}  // namespace

TEST_CASE("Learning: SGD with momentum separates horizontal from vertical bars") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    learn<Sgd<Bars>>(SgdOptions{.learning_rate = 0.05f, .momentum = 0.9f}, seed);
  }
}

TEST_CASE("Learning: Adam separates horizontal from vertical bars") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    CAPTURE(seed);
    learn<Adam<Bars>>(AdamOptions{.learning_rate = 0.01f}, seed);
  }
}

TEST_CASE("Learning: the bars are not separable by chance") {
  // The control: an untrained net is far from 100% on the training set.
  const auto train_set = make_bars(64, 1);
  std::size_t perfect = 0;
  for (std::uint64_t seed = 1; seed <= 5; ++seed) {
    Bars net(seed);
    perfect += accuracy(net, train_set) == 1.0;
  }
  CHECK(perfect == 0);
}
