// Finite-difference checks of whole networks through Net::forward(ws) / backward(ws) and the
// softmax cross-entropy: LeNet-5's layer kinds on a 16 x 16 input in inference mode, with and
// without label smoothing, and a net with BatchNorm and Dropout in training mode, where the
// batch statistics couple the images and the dropout masks are fixed by the workspace seed.
#include <doctest/doctest.h>

#include <cstddef>
#include <support/gradient_check.hpp>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

using SmallLeNet = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 16, 16>>;
using Regularized =
    Net<Input<2, 10, 10>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dropout<>, Dense<12>, BatchNorm<>, Dense<10>>;

// Small random biases, so that no bias gradient is checked only at its initial zero.
template <class NetType>
void jitter_biases(NetType& net, Rng& rng) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&](auto& layer) {
          if constexpr (requires { layer.bias; })
            for (std::size_t i = 0; i < layer.bias.size; ++i) layer.bias[i] = rng.uniform(-0.1f, 0.1f);
        }(net.template layer<I>()),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

template <class NetType, std::size_t Batch>
void fill_batch(Workspace<NetType, Batch>& ws, Rng& rng) {
  for (std::size_t b = 0; b < Batch; ++b) {
    for (std::size_t i = 0; i < NetType::in_shape::size; ++i) ws.input(b)[i] = rng.uniform();
    ws.labels[b] = rng.below(NetType::classes);
  }
}
}  // namespace

static_assert(SmallLeNet::param_count == 156 + 2416 + 120 * 65 + 1210);

TEST_CASE("Net gradient: LeNet-5's layer kinds on 1 x 16 x 16 match finite differences") {
  for (std::uint64_t seed : {1u, 2u}) {
    CAPTURE(seed);
    SmallLeNet net(seed);
    Rng rng(100 + seed);
    jitter_biases(net, rng);
    Workspace<SmallLeNet, 3> ws;
    fill_batch(ws, rng);
    const auto report = testing::check_net_gradients(net, ws, Mode::eval, rng);
    CHECK(report.gradients.passed());
    CHECK(report.gradients.tensors.size() == 9);  // 4 layers x (weight, bias) and the input
    CHECK(report.checked >= 300);
  }
}

TEST_CASE("Net gradient: with label smoothing and a short batch") {
  SmallLeNet net(3);
  Rng rng(103);
  jitter_biases(net, rng);
  Workspace<SmallLeNet, 4> ws;
  fill_batch(ws, rng);
  ws.loss.label_smoothing = 0.1f;
  ws.count = 3;  // the fourth image is not part of the loss
  ws.input(3).fill(std::numeric_limits<float>::quiet_NaN());
  const auto report = testing::check_net_gradients(net, ws, Mode::eval, rng);
  CHECK(report.gradients.passed());
}

TEST_CASE("Net gradient: BatchNorm and Dropout in training mode match finite differences") {
  for (std::uint64_t seed : {1u, 2u}) {
    CAPTURE(seed);
    Regularized net(seed);
    Rng rng(200 + seed);
    jitter_biases(net, rng);
    // gamma and beta away from 1 and 0.
    for (std::size_t c = 0; c < 4; ++c)
      net.layer<1>().gamma[c] = rng.uniform(0.5f, 1.5f), net.layer<1>().beta[c] = rng.uniform(-0.3f, 0.3f);
    Workspace<Regularized, 4> ws;
    fill_batch(ws, rng);
    ws.seed = 77 + seed;
    // BatchNorm over a batch of 4 values per unit is strongly curved: a smaller step keeps the
    // central difference's h^2 error well below the tolerance (it reaches ~2% at h = 1e-2).
    testing::NetGradientOptions options;
    options.tolerance.step = 2.5e-3;
    const auto report = testing::check_net_gradients(net, ws, Mode::train, rng, options);
    CHECK(report.gradients.passed());
  }
}

TEST_CASE("Net gradient: BatchNorm in inference mode matches finite differences") {
  Regularized net(5);
  Rng rng(205);
  Workspace<Regularized, 3> ws;
  fill_batch(ws, rng);
  // Give the running statistics something to hold, then check the inference form.
  ws.seed = 1;
  net.forward(ws, Mode::train);
  const auto report = testing::check_net_gradients(net, ws, Mode::eval, rng);
  CHECK(report.gradients.passed());
}
