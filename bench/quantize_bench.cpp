// Float against int8 inference (include/ctnn/quantize/), in one binary so that the figures read
// as ratios, on the example networks (examples/models.hpp) with random weights and inputs:
//   <net>/float/batch:256/threads:<T>          Net::forward over a Workspace of 256 images, in
//                                              inference mode: the library's batched inference,
//                                              what evaluate() runs
//   <net>/int8/batch:256/threads:<T>           QuantizedNet::forward over the same 256 images,
//                                              with AVX512-VNNI where the build targets it
//   <net>/int8_xsimd_dot/batch:256/threads:1   the same with the dot product in xsimd int32
//                                              arithmetic (the fallback where there is no VNNI)
//   conv/best_conv2/float, .../int8, .../int8_xsimd_dot
//                                              the best net's second convolution (32 x 26 x 26 in,
//                                              32 filters of 3 x 3) on one image, one thread
// Counters: images/s, and GOP/s counting a multiply-add as 2 operations (FLOPs for float,
// integer operations for int8).
// g++ 12 with AVX-512 (-march=native) warns inside its own avx512fintrin.h (`__Y` of
// _mm512_undefined_ps "is used uninitialized", GCC PR 105593) when xsimd's conversions inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <benchmark/benchmark.h>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/kernels/conv2d.hpp>
#include <ctnn/kernels/int8_image.hpp>
#include <ctnn/quantize/calibration.hpp>
#include <ctnn/quantize/quantized_net.hpp>

#include "../examples/models.hpp"
#include "bench_support.hpp"

namespace {

using namespace ctnn;

using examples::BestNet;  // examples/models.hpp
using examples::LeNet5;

constexpr std::size_t batch = 256;

void set_counters(benchmark::State& state, double images_per_iteration, double operations_per_iteration) {
  const double iterations = static_cast<double>(state.iterations());
  using benchmark::Counter;
  state.counters["images/s"] = Counter(iterations * images_per_iteration, Counter::kIsRate);
  state.counters["GOP/s"] = Counter(iterations * operations_per_iteration * 1e-9, Counter::kIsRate);
}

// A net with random weights, 256 random images in [-0.42, 2.82] (MNIST's normalized range) in a
// workspace, and the int8 version of the net calibrated on them.
template <class NetType>
struct Fixture {
  NetType net{1};
  std::unique_ptr<Workspace<NetType, batch>> workspace = std::make_unique<Workspace<NetType, batch>>();
  std::vector<tensor_of<typename NetType::in_shape>> images;
  std::vector<tensor_of<typename NetType::out_shape>> logits;
  QuantizedNet<NetType> quantized;

  Fixture() : images(batch), logits(batch) {
    Rng rng(2);
    for (std::size_t b = 0; b < batch; ++b) {
      for (std::size_t i = 0; i < NetType::in_shape::size; ++i)
        images[b][i] = rng.uniform() < 0.8f ? -0.4242f : rng.uniform(-0.4242f, 2.8215f);
      workspace->input(b) = images[b];
      workspace->labels[b] = b % NetType::classes;
    }
    quantized = quantize(net, calibrate(net, std::span<const tensor_of<typename NetType::in_shape>>(images)));
  }
  static Fixture& get() {
    static Fixture fixture;
    return fixture;
  }
};

template <class NetType>
void float_inference(benchmark::State& state, int threads) {
  bench::set_threads(threads);
  auto& fixture = Fixture<NetType>::get();
  for (auto _ : state) benchmark::DoNotOptimize(fixture.net.forward(*fixture.workspace, Mode::eval));
  set_counters(state, batch, static_cast<double>(batch) * NetType::flops);
}

template <class NetType, bool Vnni>
void int8_inference(benchmark::State& state, int threads) {
  bench::set_threads(threads);
  auto& fixture = Fixture<NetType>::get();
  const auto images = std::span<const tensor_of<typename NetType::in_shape>>(fixture.images);
  for (auto _ : state) {
    fixture.quantized.template forward<xsimd::default_arch, Vnni>(images, std::span(fixture.logits));
    benchmark::DoNotOptimize(fixture.logits.data());
  }
  set_counters(state, batch, static_cast<double>(batch) * NetType::flops);
}

template <class NetType>
void register_net(const std::string& name) {
  for (const int threads : {1, 2}) {
    const std::string suffix = "/batch:256/threads:" + std::to_string(threads);
    benchmark::RegisterBenchmark((name + "/float" + suffix).c_str(), [threads](benchmark::State& state) {
      float_inference<NetType>(state, threads);
    })->UseRealTime();
    benchmark::RegisterBenchmark((name + "/int8" + suffix).c_str(), [threads](benchmark::State& state) {
      int8_inference<NetType, kernels::has_vnni<xsimd::default_arch>>(state, threads);
    })->UseRealTime();
  }
  if constexpr (kernels::has_vnni<xsimd::default_arch>)
    benchmark::RegisterBenchmark((name + "/int8_xsimd_dot/batch:256/threads:1").c_str(), [](benchmark::State& state) {
      int8_inference<NetType, false>(state, 1);
    })->UseRealTime();
}

// The best net's second convolution: float im2col + GEMM against int8 im2row + GEMM.
constexpr kernels::Conv2dGeometry best_conv2{32, 26, 26, 32, 3, 1, 0};

void float_conv(benchmark::State& state) {
  constexpr auto g = best_conv2;
  std::vector<float> x(g.channels * g.height * g.width), w(g.filters * g.taps()), b(g.filters),
      y(g.filters * g.out_plane()), columns(g.taps() * g.out_plane());
  Rng rng(3);
  for (float& value : x) value = rng.uniform();
  for (float& value : w) value = rng.uniform(-0.1f, 0.1f);
  for (auto _ : state) {
    kernels::conv2d_forward(kernels::fixed<g>, x.data(), w.data(), b.data(), y.data(), columns.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, 1, 2.0 * g.filters * g.out_plane() * g.taps());
}

template <bool Vnni>
void int8_conv(benchmark::State& state) {
  constexpr auto g = best_conv2;
  std::vector<std::uint8_t> x(g.channels * g.height * g.width), y(g.filters * g.out_plane()),
      rows(g.out_plane() * kernels::int8_padded_depth(g.taps()));
  std::vector<std::int8_t> w(g.filters * g.taps());
  std::vector<std::int32_t> packed(kernels::int8_packed_words(g.filters, g.taps())),
      offset(kernels::int8_padded_outputs(g.filters));
  std::vector<float> multiplier(offset.size(), 1e-4f);
  Rng rng(3);
  for (auto& value : x) value = static_cast<std::uint8_t>(rng.below(256));
  for (auto& value : w) value = static_cast<std::int8_t>(static_cast<int>(rng.below(255)) - 127);
  kernels::pack_int8_weights(g.filters, g.taps(), w.data(), g.taps(), packed.data());
  const kernels::Requantize out{offset.data(), multiplier.data(), 0, 0};
  for (auto _ : state) {
    kernels::int8_conv2d<xsimd::default_arch, Vnni>(kernels::fixed<g>, x.data(), 0,
                                                    {packed.data(), g.filters, g.taps()}, out, y.data(), rows.data());
    benchmark::DoNotOptimize(y.data());
  }
  set_counters(state, 1, 2.0 * g.filters * g.out_plane() * g.taps());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_net<BestNet>("best");
  register_net<LeNet5>("lenet");
  benchmark::RegisterBenchmark("conv/best_conv2/float", float_conv);
  benchmark::RegisterBenchmark("conv/best_conv2/int8", int8_conv<kernels::has_vnni<xsimd::default_arch>>);
  if constexpr (kernels::has_vnni<xsimd::default_arch>)
    benchmark::RegisterBenchmark("conv/best_conv2/int8_xsimd_dot", int8_conv<false>);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
