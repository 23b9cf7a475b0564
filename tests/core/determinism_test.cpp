// Determinism: the same seed gives bit-identical weights after N training steps, whether run
// twice or with 1 and 2 OpenMP threads, also for a net with Dropout and BatchNorm (whose
// running statistics are compared too). A different seed must give different weights, which
// shows the comparison can fail.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <ctnn/ctnn.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;

using Plain = Net<Conv<6, 5>, MaxPool<2>, Conv<8, 3>, Dense<32>, Dense<10>>::bind<Shape<1, 16, 16>>;
using Regularized = Net<Input<1, 16, 16>, Conv<6, 3>, BatchNorm<>, ReLU, MaxPool<2>, Conv<8, 3, 1, same>,
                        Dropout<std::ratio<1, 4>>, Dense<24>, BatchNorm<>, Dropout<>, Dense<10>>;

// Every saved float of the net (parameters, then running statistics), in order.
template <class NetType>
std::vector<float> snapshot(NetType& net) {
  std::vector<float> values;
  for_each_tensor(
      [&](const auto& tensor) {
        for (std::size_t i = 0; i < tensor.size; ++i) values.push_back(tensor[i]);
      },
      net.parameters());
  return values;
}

// N steps of SGD with momentum on a fixed synthetic set of 13 images per batch (Batch 16: a
// short batch, so that the chunking is uneven), the workspace seed changing every step.
template <class NetType, class Optimizer>
std::vector<float> train(std::uint64_t seed, int threads, int steps = 6) {
#ifdef _OPENMP
  const int previous = omp_get_max_threads();
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  NetType net(seed);
  Optimizer optimizer(net);
  Workspace<NetType, 16> ws;
  ws.count = 13;
  Rng data(1234);
  for (int step = 0; step < steps; ++step) {
    for (std::size_t b = 0; b < ws.count; ++b) {
      for (std::size_t i = 0; i < NetType::in_shape::size; ++i) ws.input(b)[i] = data.uniform();
      ws.labels[b] = data.below(10);
    }
    ws.seed = derive_seed(seed, static_cast<std::uint64_t>(step));
    net.forward(ws, Mode::train);
    ws.zero_grad();
    net.backward(ws);
    optimizer.update(net, ws.grad());
  }
#ifdef _OPENMP
  omp_set_num_threads(previous);
#endif
  return snapshot(net);
}

template <class NetType>
struct Momentum : Sgd<NetType> {
  explicit Momentum(const NetType& net)
      : Sgd<NetType>(net, {.learning_rate = 0.05f, .momentum = 0.9f, .weight_decay = 1e-4f}) {}
};
}  // namespace

TEST_CASE("Determinism: the same seed gives bit-identical weights after training") {
  CHECK(train<Plain, Momentum<Plain>>(1, 2) == train<Plain, Momentum<Plain>>(1, 2));
  CHECK(train<Regularized, Momentum<Regularized>>(1, 2) == train<Regularized, Momentum<Regularized>>(1, 2));
  CHECK(train<Regularized, Adam<Regularized>>(5, 2) == train<Regularized, Adam<Regularized>>(5, 2));
  // The control: another seed, other weights.
  CHECK_FALSE(train<Plain, Momentum<Plain>>(1, 2) == train<Plain, Momentum<Plain>>(2, 2));
  CHECK_FALSE(train<Regularized, Momentum<Regularized>>(1, 2) == train<Regularized, Momentum<Regularized>>(2, 2));
}

TEST_CASE("Determinism: one thread and two threads give bit-identical weights") {
#ifdef _OPENMP
  CHECK(train<Plain, Momentum<Plain>>(3, 1) == train<Plain, Momentum<Plain>>(3, 2));
  CHECK(train<Regularized, Momentum<Regularized>>(3, 1) == train<Regularized, Momentum<Regularized>>(3, 2));
  CHECK(train<Regularized, Adam<Regularized>>(4, 1) == train<Regularized, Adam<Regularized>>(4, 2));
  CHECK(train<Regularized, Adam<Regularized>>(4, 1) == train<Regularized, Adam<Regularized>>(4, 3));
#else
  MESSAGE("built without OpenMP: one thread only");
  CHECK(train<Plain, Momentum<Plain>>(3, 1) == train<Plain, Momentum<Plain>>(3, 1));
#endif
}

TEST_CASE("Determinism: training changes the weights and the running statistics") {
  // Guards the comparisons above against a training loop that does nothing.
  Regularized fresh(1);
  const auto before = snapshot(fresh);
  const auto after = train<Regularized, Momentum<Regularized>>(1, 2);
  REQUIRE(before.size() == after.size());
  std::size_t changed = 0;
  for (std::size_t i = 0; i < before.size(); ++i) changed += before[i] != after[i];
  CHECK(changed > before.size() * 9 / 10);
}
