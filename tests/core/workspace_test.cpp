// Workspace: a short last batch (count < Batch) gives the loss, gradients and running
// statistics of a workspace of exactly that size, whatever the unused slots hold; and every
// activation, gradient and parameter tensor is 64-byte aligned.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

using Regularized = Net<Input<2, 9, 9>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<3, 2>, Dropout<>, Dense<12>, BatchNorm<>,
                        Dense<7, Sigmoid>, Dense<5>>;

template <class NetType>
std::vector<float> gradient_values(const typename NetType::layers& grad) {
  std::vector<float> values;
  auto& mutable_grad = const_cast<typename NetType::layers&>(grad);
  for_each_parameter(
      [&](const auto& tensor) {
        for (std::size_t i = 0; i < tensor.size; ++i) values.push_back(tensor[i]);
      },
      mutable_grad);
  return values;
}

template <class NetType>
std::vector<float> saved_values(NetType& net) {
  std::vector<float> values;
  for_each_tensor(
      [&](const auto& tensor) {
        for (std::size_t i = 0; i < tensor.size; ++i) values.push_back(tensor[i]);
      },
      net.parameters());
  return values;
}

template <class NetType, std::size_t Batch>
void fill(Workspace<NetType, Batch>& ws, std::size_t count) {
  Rng rng(42);
  for (std::size_t b = 0; b < count; ++b) {
    for (std::size_t i = 0; i < NetType::in_shape::size; ++i) ws.input(b)[i] = rng.uniform(-1.0f, 1.0f);
    ws.labels[b] = rng.below(NetType::classes);
  }
  for (std::size_t b = count; b < Batch; ++b) {
    ws.input(b).fill(std::numeric_limits<float>::quiet_NaN());  // must never be read
    ws.labels[b] = 1000;                                        // nor this label
  }
  ws.count = count;
  ws.seed = 9;
}

void check_close(const std::vector<float>& got, const std::vector<float>& expected) {
  REQUIRE(got.size() == expected.size());
  double scale = 0;
  for (float v : expected) scale = std::max(scale, static_cast<double>(std::abs(v)));
  double worst = 0;
  std::size_t worst_index = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double error = std::abs(static_cast<double>(got[i]) - expected[i]);
    if (!(error <= worst)) worst = error, worst_index = i;
  }
  INFO("worst at " << worst_index << ": got " << got[worst_index] << ", expected " << expected[worst_index]);
  CHECK(worst <= 1e-6 * scale);
}

template <std::size_t I, class NetType, std::size_t Batch>
void check_boundary(Workspace<NetType, Batch>& ws, std::size_t& checked) {
  for (std::size_t b = 0; b < Batch; ++b) {
    CHECK(reinterpret_cast<std::uintptr_t>(ws.template activations<I>()[b].data()) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(ws.template gradients<I>()[b].data()) % 64 == 0);
    checked += 2;
  }
}
}  // namespace

TEST_CASE("Workspace: a short batch gives the results of a workspace of exactly that size") {
  for (Mode mode : {Mode::train, Mode::eval}) {
    CAPTURE(static_cast<int>(mode));
    Regularized net(1);
    Regularized twin = net;
    Workspace<Regularized, 8> large;
    Workspace<Regularized, 5> exact;
    fill(large, 5);
    fill(exact, 5);
    const float large_loss = net.forward(large, mode);
    const float exact_loss = twin.forward(exact, mode);
    CHECK(std::isfinite(large_loss));
    CHECK(large_loss == doctest::Approx(exact_loss).epsilon(1e-6));
    for (std::size_t b = 0; b < 5; ++b) CHECK(large.losses[b] == doctest::Approx(exact.losses[b]).epsilon(1e-6));
    large.zero_grad();
    exact.zero_grad();
    net.backward(large);
    twin.backward(exact);
    check_close(gradient_values<Regularized>(large.grad()), gradient_values<Regularized>(exact.grad()));
    net.input_gradient(large);
    twin.input_gradient(exact);
    for (std::size_t b = 0; b < 5; ++b) {
      std::vector<float> got(large.input_gradient(b).data(),
                             large.input_gradient(b).data() + Regularized::in_shape::size);
      std::vector<float> expected(exact.input_gradient(b).data(),
                                  exact.input_gradient(b).data() + Regularized::in_shape::size);
      check_close(got, expected);
    }
    // BatchNorm's running statistics saw the same five images.
    check_close(saved_values(net), saved_values(twin));
  }
}

TEST_CASE("Workspace: one image and a batch of one agree with forward(x)") {
  Regularized net(2);
  Workspace<Regularized, 4> ws;
  fill(ws, 1);
  net.forward(ws, Mode::eval);
  const auto& logits = net.forward(ws.input(0));
  for (std::size_t k = 0; k < 5; ++k) CHECK(ws.output(0)[k] == doctest::Approx(logits[k]).epsilon(1e-6));
}

TEST_CASE("Workspace: every activation, gradient and parameter tensor is 64-byte aligned") {
  Workspace<Regularized, 3> ws;
  std::size_t checked = 0;
  [&]<std::size_t... I>(std::index_sequence<I...>) { (check_boundary<I>(ws, checked), ...); }
  (std::make_index_sequence<Regularized::layer_count + 1>{});
  CHECK(checked == 2 * 3 * (Regularized::layer_count + 1));
  for (std::size_t b = 0; b < 3; ++b) {
    CHECK(reinterpret_cast<std::uintptr_t>(ws.input(b).data()) % 64 == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(ws.input_gradient(b).data()) % 64 == 0);
  }
  Regularized net(1);
  std::size_t tensors = 0;
  for_each_parameter(
      [&](const auto& parameter, const auto& gradient) {
        CHECK(reinterpret_cast<std::uintptr_t>(parameter.data()) % 64 == 0);
        CHECK(reinterpret_cast<std::uintptr_t>(gradient.data()) % 64 == 0);
        ++tensors;
      },
      net.parameters(), ws.grad());
  CHECK(tensors == 12);  // weight and bias of the Conv and the three Dense, gamma and beta of the two BatchNorm
  Regularized::Inference buffers;
  CHECK(reinterpret_cast<std::uintptr_t>(std::get<0>(buffers).data()) % 64 == 0);
  CHECK(reinterpret_cast<std::uintptr_t>(net.forward(ws.input(0)).data()) % 64 == 0);
}
