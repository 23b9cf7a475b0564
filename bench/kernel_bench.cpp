// Every kernel, forward and backward, on the layer shapes of LeNet-5 and of the best MNIST net,
// the plain reference and the xsimd version side by side: kernel/<layer>/<impl>. The ratio of
// the two is the headline; %peak puts each against the FMA peak measured by peak/1.
//   kernel_bench --benchmark_filter=conv2d_forward      one kernel family
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ctnn/core/random.hpp>
#include <ctnn/kernels/activation.hpp>
#include <ctnn/kernels/batch_norm.hpp>
#include <ctnn/kernels/conv2d.hpp>
#include <ctnn/kernels/dense.hpp>
#include <ctnn/kernels/pool.hpp>

#include "bench_support.hpp"

namespace {

using namespace ctnn::kernels;
using ctnn::bench::set_rate_counters;

// Random values in [-1, 1), 64-byte aligned, with room for SIMD tails; copies share the values.
struct Buffer {
  std::shared_ptr<std::vector<float>> storage;
  float* data;
  Buffer(std::size_t size, std::uint64_t seed) : storage(std::make_shared<std::vector<float>>(size + 32)) {
    ctnn::Rng rng(seed);
    for (float& value : *storage) value = rng.uniform() * 2.0f - 1.0f;
    const std::size_t misalignment = reinterpret_cast<std::uintptr_t>(storage->data()) / sizeof(float) % 16;
    data = storage->data() + (16 - misalignment) % 16;
  }
};

struct ConvCase {
  const char* layer;
  Conv2dGeometry geometry;
};
// The convolutions of LeNet-5 (design card) and of the best MNIST net (examples/models.hpp).
constexpr ConvCase conv_cases[] = {
    {"lenet.conv1", {1, 28, 28, 6, 5, 1, 0}},  {"lenet.conv2", {6, 12, 12, 16, 5, 1, 0}},
    {"best.conv1", {1, 28, 28, 32, 3, 1, 0}},  {"best.conv2", {32, 26, 26, 32, 3, 1, 0}},
    {"best.conv3", {32, 12, 12, 64, 3, 1, 0}}, {"best.conv4", {64, 10, 10, 64, 3, 1, 0}},
};

struct DenseCase {
  const char* layer;
  std::size_t inputs, outputs;
};
// Dense layers run on chunks of 32 images (a batch of 256 in the net's 8 chunks).
constexpr std::size_t dense_images = 32;
const DenseCase dense_cases[] = {
    {"lenet.fc1", 1024, 120}, {"lenet.fc2", 120, 10}, {"best.fc1", 1024, 256}, {"best.fc2", 256, 10}};

struct PoolCase {
  const char* layer;
  PoolGeometry geometry;
};
constexpr PoolCase pool_cases[] = {
    {"lenet.pool", {6, 24, 24, 2, 2}}, {"best.pool1", {32, 24, 24, 2, 2}}, {"best.pool2", {64, 8, 8, 2, 2}}};

struct ElementwiseCase {
  const char* layer;
  std::size_t size;
};
// ReLU and batch norm's per-channel affine pass run over a whole activation tensor.
const ElementwiseCase elementwise_cases[] = {{"lenet.conv1", 6 * 24 * 24},
                                             {"lenet.conv2", 16 * 8 * 8},
                                             {"best.conv2", 32 * 24 * 24},
                                             {"best.conv4", 64 * 8 * 8}};

template <class Kernel>
void add(const std::string& name, double images, double flops, Kernel kernel) {
  benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) mutable {
    for (auto _ : state) {
      kernel();
      benchmark::ClobberMemory();
    }
    set_rate_counters(state, images, flops);
  });
}

// Registers the reference and the xsimd version of one kernel on one shape; `make(simd)` returns
// the call to time, owning its buffers.
template <class Make>
void add_pair(const std::string& family, const char* layer, double images, double flops, Make make) {
  add(family + "/" + layer + "/reference", images, flops, make(false));
  add(family + "/" + layer + "/xsimd", images, flops, make(true));
}

// The SIMD convolutions get their geometry as a compile-time constant, as the Conv layer passes it.
template <std::size_t Case>
void register_conv_case() {
  constexpr Conv2dGeometry g = conv_cases[Case].geometry;
  constexpr auto fixed_g = fixed<g>;
  const char* layer = conv_cases[Case].layer;
  const double flops = 2.0 * static_cast<double>(g.filters * g.out_plane() * g.taps());
  const std::size_t in = g.channels * g.height * g.width, out = g.filters * g.out_plane();
  const std::size_t weights = g.filters * g.taps(), scratch = g.taps() * g.out_plane();
  add_pair("conv2d_forward", layer, 1, flops, [=](bool simd) {
    return [=, x = Buffer(in, 1), w = Buffer(weights, 2), b = Buffer(g.filters, 3), y = Buffer(out, 4),
            columns = Buffer(scratch, 5)]() {
      if (simd)
        conv2d_forward(fixed_g, x.data, w.data, b.data, y.data, columns.data);
      else
        conv2d_forward_reference(g, x.data, w.data, b.data, y.data, columns.data);
    };
  });
  add_pair("conv2d_backward_data", layer, 1, flops, [=](bool simd) {
    return [=, w = Buffer(weights, 2), dy = Buffer(out, 4), dx = Buffer(in, 1), columns = Buffer(scratch, 5)]() {
      if (simd)
        conv2d_backward_data(fixed_g, w.data, dy.data, dx.data, columns.data);
      else
        conv2d_backward_data_reference(g, w.data, dy.data, dx.data, columns.data);
    };
  });
  add_pair("conv2d_backward_weights", layer, 1, flops, [=](bool simd) {
    return [=, x = Buffer(in, 1), dy = Buffer(out, 4), dw = Buffer(weights, 2), db = Buffer(g.filters, 3),
            columns = Buffer(scratch, 5)]() {
      if (simd)
        conv2d_backward_weights(fixed_g, x.data, dy.data, dw.data, db.data, columns.data);
      else
        conv2d_backward_weights_reference(g, x.data, dy.data, dw.data, db.data, columns.data);
    };
  });
}

void register_conv() {
  [&]<std::size_t... Case>(std::index_sequence<Case...>) { (register_conv_case<Case>(), ...); }
  (std::make_index_sequence<std::size(conv_cases)>{});
}

void register_dense() {
  for (const DenseCase& dense : dense_cases) {
    // Plain copies: clang 14 cannot capture structured bindings in the lambdas below.
    const char* layer = dense.layer;
    const std::size_t inputs = dense.inputs, outputs = dense.outputs;
    const DenseBatch d{inputs, outputs, dense_images, inputs, outputs};
    const double flops = 2.0 * static_cast<double>(inputs * outputs * dense_images);
    const std::size_t in = inputs * dense_images, out = outputs * dense_images, weights = inputs * outputs;
    add_pair("dense_forward", layer, dense_images, flops, [=](bool simd) {
      return [=, x = Buffer(in, 1), w = Buffer(weights, 2), b = Buffer(outputs, 3), y = Buffer(out, 4)]() {
        (simd ? dense_forward<> : dense_forward_reference)(d, x.data, w.data, b.data, y.data);
      };
    });
    add_pair("dense_backward_data", layer, dense_images, flops, [=](bool simd) {
      return [=, w = Buffer(weights, 2), dy = Buffer(out, 4), dx = Buffer(in, 1)]() {
        (simd ? dense_backward_data<> : dense_backward_data_reference)(d, w.data, dy.data, dx.data);
      };
    });
    add_pair("dense_backward_weights", layer, dense_images, flops, [=](bool simd) {
      return [=, x = Buffer(in, 1), dy = Buffer(out, 4), dw = Buffer(weights, 2), db = Buffer(outputs, 3)]() {
        (simd ? dense_backward_weights<> : dense_backward_weights_reference)(d, x.data, dy.data, dw.data, db.data);
      };
    });
  }
}

// Pooling and element-wise passes do no multiply-adds: their FLOP count is one operation per
// element read, and they are bound by memory, not by the FMA units.
template <std::size_t Case>
void register_pool_case() {
  constexpr PoolGeometry g = pool_cases[Case].geometry;
  constexpr auto fixed_g = fixed<g>;
  const char* layer = pool_cases[Case].layer;
  const std::size_t in = g.channels * g.height * g.width, out = g.channels * g.out_height() * g.out_width();
  add_pair("max_pool_forward", layer, 1, static_cast<double>(in), [=](bool simd) {
    return [=, x = Buffer(in, 1), y = Buffer(out, 2)]() {
      if (simd)
        max_pool_forward(fixed_g, x.data, y.data);
      else
        max_pool_forward_reference(g, x.data, y.data);
    };
  });
  Buffer x(in, 1), y(out, 2);
  max_pool_forward_reference(g, x.data, y.data);
  add_pair("max_pool_backward", layer, 1, static_cast<double>(in), [=](bool simd) {
    return [=, dy = Buffer(out, 3), dx = Buffer(in, 4)]() {
      if (simd)
        max_pool_backward(fixed_g, x.data, y.data, dy.data, dx.data);
      else
        max_pool_backward_reference(g, x.data, y.data, dy.data, dx.data);
    };
  });
}

void register_memory_bound() {
  [&]<std::size_t... Case>(std::index_sequence<Case...>) { (register_pool_case<Case>(), ...); }
  (std::make_index_sequence<std::size(pool_cases)>{});
  for (const ElementwiseCase& elementwise : elementwise_cases) {
    const char* layer = elementwise.layer;
    const std::size_t size = elementwise.size;
    add_pair("relu_forward", layer, 1, static_cast<double>(size), [=](bool simd) {
      return [=, x = Buffer(size, 1), y = Buffer(size, 2)]() {
        (simd ? relu_forward<> : relu_forward_reference)(size, x.data, y.data);
      };
    });
    add_pair("relu_backward", layer, 1, static_cast<double>(size), [=](bool simd) {
      return [=, y = Buffer(size, 1), dy = Buffer(size, 2), dx = Buffer(size, 3)]() {
        (simd ? relu_backward<> : relu_backward_reference)(size, y.data, dy.data, dx.data);
      };
    });
    add_pair("batch_norm_scale_shift", layer, 1, 2.0 * static_cast<double>(size), [=](bool simd) {
      return [=, x = Buffer(size, 1), y = Buffer(size, 2)]() {
        (simd ? scale_shift<> : scale_shift_reference)(size, 0.5f, 0.25f, x.data, y.data);
      };
    });
  }
}

// The FMA throughput kernel itself, on 1 and 2 threads: the ceiling every %peak refers to.
void register_peak() {
  for (const int threads : {1, 2})
    benchmark::RegisterBenchmark(("peak/fma/threads:" + std::to_string(threads)).c_str(), [threads](
                                                                                              benchmark::State& state) {
      constexpr std::size_t iterations = 100'000;
      for (auto _ : state) {
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (int t = 0; t < threads; ++t)
          benchmark::DoNotOptimize(ctnn::bench::fma_throughput_kernel(iterations, static_cast<float>(t)));
      }
      set_rate_counters(state, 0, ctnn::bench::fma_kernel_flops(iterations) * threads, threads);
    })->UseRealTime();
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ctnn::bench::set_threads(1);
  register_peak();
  register_conv();
  register_dense();
  register_memory_bound();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
