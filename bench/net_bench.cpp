// Whole networks: LeNet-5 of the design card and the best MNIST net, as the example programs
// train them (examples/models.hpp).
//   <net>/train_step/batch:<B>/threads:<T>   forward, loss, zero gradients, backward, SGD update
//   <net>/inference/batch:1/threads:1        one image, net.forward(image): the latency
//   <net>/inference/batch:256/threads:<T>    a workspace of 256 images: the throughput
// Counters: images/s, GFLOP/s and %peak (of the FMA peak of T threads). A training step counts
// forward + backward as 3x the forward FLOPs, the usual estimate. bench/peers/ times the same
// LeNet-5 in other libraries under the same names; bench/compare prints them side by side.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <string>

#include <ctnn/ctnn.hpp>

#include "../examples/models.hpp"
#include "bench_support.hpp"

namespace {

using namespace ctnn;

using examples::BestNet;  // examples/models.hpp
using examples::LeNet5;

template <class NetType, std::size_t Batch>
void fill_random(Workspace<NetType, Batch>& ws) {
  Rng rng(2);
  ws.count = Batch;
  for (std::size_t b = 0; b < Batch; ++b) {
    for (std::size_t i = 0; i < NetType::in_shape::size; ++i) ws.input(b)[i] = rng.uniform();
    ws.labels[b] = b % NetType::classes;
  }
}

template <class NetType, std::size_t Batch>
void train_step(benchmark::State& state, int threads) {
  bench::set_threads(threads);
  NetType net(1);
  const auto ws = std::make_unique<Workspace<NetType, Batch>>();
  fill_random(*ws);
  Sgd optimizer(net, {.learning_rate = 0.01f, .momentum = 0.9f});
  for (auto _ : state) {
    benchmark::DoNotOptimize(net.forward(*ws, Mode::train));
    ws->zero_grad();
    net.backward(*ws);
    optimizer.update(net, ws->grad());
  }
  bench::set_rate_counters(state, Batch, 3.0 * Batch * NetType::flops, threads);
}

template <class NetType>
void inference_latency(benchmark::State& state) {
  bench::set_threads(1);
  NetType net(1);
  tensor_of<typename NetType::in_shape> image;
  Rng rng(3);
  for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform();
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(image).data());
  bench::set_rate_counters(state, 1, NetType::flops);
}

template <class NetType, std::size_t Batch>
void inference_throughput(benchmark::State& state, int threads) {
  bench::set_threads(threads);
  NetType net(1);
  const auto ws = std::make_unique<Workspace<NetType, Batch>>();
  fill_random(*ws);
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(*ws, Mode::eval));
  bench::set_rate_counters(state, Batch, static_cast<double>(Batch) * NetType::flops, threads);
}

template <class NetType>
void register_net(const std::string& name) {
  for (const int threads : {1, 2}) {
    const std::string suffix = "/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark((name + "/train_step/batch:64" + suffix).c_str(), [threads](benchmark::State& state) {
      train_step<NetType, 64>(state, threads);
    })->UseRealTime();
    benchmark::RegisterBenchmark((name + "/train_step/batch:256" + suffix).c_str(), [threads](benchmark::State& state) {
      train_step<NetType, 256>(state, threads);
    })->UseRealTime();
  }
  benchmark::RegisterBenchmark((name + "/inference/batch:1/threads:1").c_str(), inference_latency<NetType>)
      ->UseRealTime();
  for (const int threads : {1, 2})
    benchmark::RegisterBenchmark(
        (name + "/inference/batch:256/threads:" + std::to_string(threads)).c_str(),
        [threads](benchmark::State& state) { inference_throughput<NetType, 256>(state, threads); })
        ->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_net<LeNet5>("lenet");
  register_net<BestNet>("best");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
