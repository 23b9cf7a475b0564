// Dropout: the identity in inference; in training about Rate of the values are zeroed and the
// survivors scaled by 1 / (1 - Rate); the mask is a function of the seed alone; and the training
// pass passes the generic gradient check for fixed mask seeds.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <ratio>
#include <support/gradient_check.hpp>
#include <type_traits>

#include <ctnn/ctnn.hpp>

namespace {
using ctnn::Shape;
using Quarter = ctnn::Dropout<std::ratio<1, 4>>;
using In = Shape<4, 16, 16>;
using L = Quarter::bind<In>;

ctnn::tensor_of<In> nonzero_input(std::uint64_t seed) {
  ctnn::Rng rng(seed);
  ctnn::tensor_of<In> x;
  for (std::size_t i = 0; i < In::size; ++i) x[i] = (rng.uniform() < 0.5f ? -1.0f : 1.0f) * rng.uniform(0.5f, 2.0f);
  return x;
}
}  // namespace

static_assert(std::is_same_v<L::out_shape, In>);
static_assert(L::param_count == 0 && L::flops == 0);
static_assert(ctnn::StochasticLayer<L>);
static_assert(!ctnn::BatchLayer<L>);

TEST_CASE("Dropout: inference is the identity, forward and backward") {
  L layer;
  const auto x = nonzero_input(1);
  ctnn::tensor_of<In> y, dy = nonzero_input(2), dx;
  y.fill(0.0f);
  layer.forward(x, y);
  CHECK(y == x);
  const auto dy_copy = dy;
  dx.fill(std::nanf(""));
  layer.backward(x, y, dy, &dx, layer);
  CHECK(dx == dy_copy);
}

TEST_CASE("Dropout: training zeroes about Rate of the values and scales the rest by 1 / (1 - Rate)") {
  L layer;
  std::size_t zeroed = 0, total = 0;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    const auto x = nonzero_input(100 + seed);
    ctnn::tensor_of<In> y;
    layer.forward_train(x, y, seed);
    for (std::size_t i = 0; i < In::size; ++i) {
      ++total;
      if (y[i] == 0.0f) {
        ++zeroed;
      } else {
        CAPTURE(i);
        CHECK(y[i] == doctest::Approx(x[i] * 4.0 / 3.0).epsilon(1e-6));
      }
    }
  }
  // Binomial(20480, 1/4): mean 5120, standard deviation 62; allow five of them.
  CHECK(static_cast<double>(zeroed) == doctest::Approx(0.25 * static_cast<double>(total)).epsilon(310.0 / 5120.0));
}

TEST_CASE("Dropout: at rate 1/2 survivors double, at rate 0 training is the identity") {
  const auto x = nonzero_input(3);
  ctnn::tensor_of<In> y;
  ctnn::Dropout<>::bind<In>{}.forward_train(x, y, 42);
  std::size_t zeroed = 0;
  for (std::size_t i = 0; i < In::size; ++i) {
    if (y[i] == 0.0f)
      ++zeroed;
    else
      CHECK(y[i] == 2.0f * x[i]);
  }
  CHECK(zeroed > In::size / 2 - 80);  // Binomial(1024, 1/2): sd 16
  CHECK(zeroed < In::size / 2 + 80);
  ctnn::Dropout<std::ratio<0, 1>>::bind<In>{}.forward_train(x, y, 42);
  CHECK(y == x);
}

TEST_CASE("Dropout: the same seed gives the same mask, another seed another") {
  L layer;
  const auto x = nonzero_input(4);
  ctnn::tensor_of<In> a, b, c;
  layer.forward_train(x, a, 7);
  layer.forward_train(x, b, 7);
  layer.forward_train(x, c, 8);
  CHECK(a == b);
  CHECK_FALSE(a == c);
}

TEST_CASE("Dropout: the training backward replays the forward's mask") {
  L layer;
  const auto x = nonzero_input(5);
  ctnn::tensor_of<In> y, dy = nonzero_input(6), dx;
  const auto dy_copy = dy;
  layer.forward_train(x, y, 99);
  dx.fill(std::nanf(""));
  layer.backward_train(x, y, dy, &dx, layer, 99);
  for (std::size_t i = 0; i < In::size; ++i) {
    CAPTURE(i);
    if (y[i] == 0.0f)
      CHECK(dx[i] == 0.0f);
    else
      CHECK(dx[i] == doctest::Approx(dy_copy[i] * 4.0 / 3.0).epsilon(1e-6));
  }
}

TEST_CASE("Dropout: training gradients match finite differences for fixed mask seeds") {
  for (std::uint64_t mask_seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(mask_seed);
    CHECK(ctnn::testing::check_stochastic_gradients<Quarter, Shape<3, 5, 7>>(mask_seed + 10, mask_seed).passed());
    CHECK(ctnn::testing::check_stochastic_gradients<ctnn::Dropout<>, Shape<19, 1, 1>>(mask_seed + 20, mask_seed)
              .passed());
  }
  // Inference mode too: the identity's gradient.
  CHECK(ctnn::testing::check_gradients<Quarter, Shape<3, 5, 7>>(1).passed());
}

TEST_CASE("Dropout: in a Net, each image and each workspace seed draws its own mask") {
  using Net = ctnn::Net<ctnn::Input<1, 8, 8>, ctnn::Dropout<>, ctnn::Dense<2>>;
  Net net(1);
  ctnn::Workspace<Net, 3> ws;
  for (std::size_t b = 0; b < 3; ++b) ws.input(b).fill(1.0f);  // identical images
  ws.seed = 11;
  net.forward(ws, ctnn::Mode::train);
  const auto first = ws.activations<1>();
  CHECK_FALSE(first[0] == first[1]);
  CHECK_FALSE(first[1] == first[2]);
  net.forward(ws, ctnn::Mode::train);
  CHECK(ws.activations<1>() == first);  // same seed: same masks
  ws.seed = 12;
  net.forward(ws, ctnn::Mode::train);
  CHECK_FALSE(ws.activations<1>()[0] == first[0]);
  net.forward(ws, ctnn::Mode::eval);
  CHECK(ws.activations<1>()[0] == ws.input(0));
}

TEST_CASE("Dropout: label") { CHECK(L::label() == "Dropout<1/4>"); }
