// Whole-network figures for the design card's LeNet-5: a training step (forward, zero
// gradients, backward, SGD update) at batch 64 and 256 with 1 and 2 threads, and inference
// latency on one image. Counters: images/s and GFLOP/s (training counts forward + backward as
// 3x the forward FLOPs, the usual estimate).
#include <benchmark/benchmark.h>

#include <ctnn/ctnn.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

using namespace ctnn;

using LeNet5 = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>;

template <std::size_t Batch>
static void BM_train_step(benchmark::State& state) {
#ifdef _OPENMP
  omp_set_num_threads(static_cast<int>(state.range(0)));
#endif
  LeNet5 net(1);
  Workspace<LeNet5, Batch> ws;
  Rng rng(2);
  for (std::size_t b = 0; b < Batch; ++b) {
    for (std::size_t i = 0; i < LeNet5::in_shape::size; ++i) ws.input(b)[i] = rng.uniform();
    ws.labels[b] = b % 10;
  }
  Sgd optimizer(net, {.learning_rate = 0.01f, .momentum = 0.9f});
  for (auto _ : state) {
    benchmark::DoNotOptimize(net.forward(ws, Mode::train));
    ws.zero_grad();
    net.backward(ws);
    optimizer.update(net, ws.grad());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * Batch));
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * Batch), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(state.iterations() * Batch) * 3.0 * LeNet5::flops * 1e-9, benchmark::Counter::kIsRate);
}
BENCHMARK_TEMPLATE(BM_train_step, 64)->Arg(1)->Arg(2)->UseRealTime();
BENCHMARK_TEMPLATE(BM_train_step, 256)->Arg(1)->Arg(2)->UseRealTime();

static void BM_inference_latency(benchmark::State& state) {
  LeNet5 net(1);
  tensor_of<LeNet5::in_shape> image;
  Rng rng(3);
  for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform();
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(image));
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * LeNet5::flops * 1e-9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_inference_latency);
