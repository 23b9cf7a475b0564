// What every ctnn benchmark shares: the machine's measured FMA peak and the counters that put
// each case next to it (images/s, GFLOP/s, % of peak).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <vector>

#include <xsimd/xsimd.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ctnn::bench {

inline void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
}

// Independent fused multiply-adds on `Chains` accumulators: enough chains to cover the FMA
// latency on every port, no loads or stores, so the loop runs at the core's FMA throughput.
// Returns a value that depends on every chain (so none is optimized away); each call does
// iterations * Chains * batch::size * 2 FLOPs.
template <class Arch = xsimd::default_arch>
float fma_throughput_kernel(std::size_t iterations, float seed) noexcept {
  using batch = xsimd::batch<float, Arch>;
  constexpr std::size_t chains = 16;
  batch acc[chains];
  for (std::size_t c = 0; c < chains; ++c) acc[c] = batch(seed + static_cast<float>(c));
  const batch scale(0.999999f), shift(1e-7f);
  for (std::size_t i = 0; i < iterations; ++i)
    for (std::size_t c = 0; c < chains; ++c) acc[c] = xsimd::fma(acc[c], scale, shift);
  batch total = acc[0];
  for (std::size_t c = 1; c < chains; ++c) total += acc[c];
  return xsimd::hadd(total);
}

template <class Arch = xsimd::default_arch>
constexpr double fma_kernel_flops(std::size_t iterations) {
  return 2.0 * 16 * xsimd::batch<float, Arch>::size * static_cast<double>(iterations);
}

// The FMA peak in GFLOP/s over `threads` threads: the best of several short runs of the
// throughput kernel on every thread at once. Measured once per thread count and remembered.
inline double peak_gflops(int threads) {
  static std::map<int, double> measured;
  if (const auto found = measured.find(threads); found != measured.end()) return found->second;
  constexpr std::size_t iterations = 2'000'000;
  double best = 0;
  for (int run = 0; run < 7; ++run) {
    std::vector<float> sink(static_cast<std::size_t>(threads));
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < threads; ++t)
      sink[static_cast<std::size_t>(t)] = fma_throughput_kernel(iterations, static_cast<float>(t));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    benchmark::DoNotOptimize(sink.data());
    best = std::max(best, fma_kernel_flops(iterations) * threads / seconds * 1e-9);
  }
  return measured[threads] = best;
}

// Sets the images/s, GFLOP/s and %peak counters of a finished benchmark loop that processed
// `images_per_iteration` images and `flops_per_iteration` FLOPs per iteration on `threads`
// threads. %peak is relative to the FMA peak of that many threads.
inline void set_rate_counters(benchmark::State& state, double images_per_iteration, double flops_per_iteration,
                              int threads = 1) {
  const double iterations = static_cast<double>(state.iterations());
  using benchmark::Counter;
  state.counters["images/s"] = Counter(iterations * images_per_iteration, Counter::kIsRate);
  state.counters["GFLOP/s"] = Counter(iterations * flops_per_iteration * 1e-9, Counter::kIsRate);
  state.counters["%peak"] =
      Counter(iterations * flops_per_iteration * 1e-9 / peak_gflops(threads) * 100.0, Counter::kIsRate);
}

}  // namespace ctnn::bench
