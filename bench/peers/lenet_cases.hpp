// What every peer benchmark shares with net_bench: the design card's LeNet-5 (its FLOP count comes
// from ctnn's own type, so GFLOP/s is computed alike everywhere), net_bench's random batch, its case
// names and counters, and a look at the BLAS the peer library loaded (Debian chooses it with
// update-alternatives, and it decides how fast and on how many threads dlib and libtorch multiply).
#pragma once

#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>

#include "../bench_support.hpp"

namespace ctnn::bench::peers {

// conv 6@5x5 -> (6,24,24), ReLU, max pool 2 -> (6,12,12), conv 16@5x5 -> (16,8,8), ReLU,
// dense 120, ReLU, dense 10, softmax cross-entropy: every peer builds exactly these layers.
using LeNet5 = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>;
static_assert(LeNet5::param_count == 126'782);
static_assert(LeNet5::flops == 728'160);
inline constexpr std::size_t image_size = LeNet5::in_shape::size;
inline constexpr std::size_t classes = LeNet5::classes;

inline constexpr float learning_rate = 0.01f;
inline constexpr float momentum = 0.9f;

// Untimed steps before each timed loop: first-call allocations, oneDNN primitive creation and
// lazily sized buffers happen there, not in the figures.
inline constexpr int warm_up_steps = 3;

// net_bench's batch: pixels uniform in [0, 1) drawn from ctnn::Rng(2) image after image, in
// (B, 1, 28, 28) order, and label b % 10.
struct RandomBatch {
  explicit RandomBatch(std::size_t size) : pixels(size * image_size), labels(size) {
    Rng rng(2);
    for (auto& pixel : pixels) pixel = rng.uniform();
    for (std::size_t b = 0; b < size; ++b) labels[b] = b % classes;
  }
  std::size_t size() const noexcept { return labels.size(); }
  std::vector<float> pixels;
  std::vector<std::size_t> labels;
};

// Skips the case unless the peer's network has LeNet-5's parameter count: a wrong padding or
// layer size would otherwise be timed as if it were the same network.
inline bool has_lenet5_parameters(benchmark::State& state, std::size_t parameters) {
  if (parameters == LeNet5::param_count) return true;
  const std::string message = "the network has " + std::to_string(parameters) + " parameters, LeNet-5 has " +
                              std::to_string(LeNet5::param_count);
  state.SkipWithError(message.c_str());
  return false;
}

// The whole process's CPU time over the real time since construction: about T when a library
// keeps T threads busy (threads that spin-wait count as busy). Google Benchmark's own
// MeasureProcessCPUTime would append /process_time to the case names.
class CoreUsage {
 public:
  CoreUsage() noexcept : cpu_start_(process_cpu_seconds()), real_start_(std::chrono::steady_clock::now()) {}

  double cores() const noexcept {
    const double real = std::chrono::duration<double>(std::chrono::steady_clock::now() - real_start_).count();
    return real > 0 ? (process_cpu_seconds() - cpu_start_) / real : 0.0;
  }

 private:
  static double process_cpu_seconds() noexcept {
    timespec time{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time);
    return static_cast<double>(time.tv_sec) + 1e-9 * static_cast<double>(time.tv_nsec);
  }

  double cpu_start_;
  std::chrono::steady_clock::time_point real_start_;
};

// images/s, GFLOP/s and %peak exactly as net_bench sets them (a training step counts 3x the
// forward FLOPs), plus the cores the process kept busy.
inline void set_lenet_counters(benchmark::State& state, std::size_t batch, bool training, int threads,
                               const CoreUsage& usage) {
  const double cores = usage.cores();
  const double flops = (training ? 3.0 : 1.0) * static_cast<double>(batch) * static_cast<double>(LeNet5::flops);
  set_rate_counters(state, static_cast<double>(batch), flops, threads);
  state.counters["cores"] = cores;
}

// The BLAS that defines sgemm_ in this process and its file, symbolic links resolved: OpenBLAS
// names itself; Debian installs netlib's unoptimized reference BLAS as .../blas/libblas.so.3.
inline std::string loaded_blas() {
  Dl_info info{};
  void* const sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  if (sgemm == nullptr || dladdr(sgemm, &info) == 0 || info.dli_fname == nullptr) return "none";
  char* const resolved = realpath(info.dli_fname, nullptr);
  const std::string path = resolved != nullptr ? resolved : info.dli_fname;
  free(resolved);
  using GetConfig = char* (*)();
  if (const auto config = reinterpret_cast<GetConfig>(dlsym(RTLD_DEFAULT, "openblas_get_config")))
    return std::string(config()) + " (" + path + ")";
  if (path.find("/blas/libblas.so") != std::string::npos) return "netlib reference BLAS (" + path + ")";
  return path;
}

// Sets the BLAS's own thread count where it has one (OpenBLAS, whose pthread build would otherwise
// use every core). Returns false for a BLAS without threads, such as netlib's reference.
inline bool set_blas_threads(int threads) {
  using SetThreads = void (*)(int);
  const auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  if (set == nullptr) return false;
  set(threads);
  return true;
}

// One case: the state, the batch size and the thread count.
using CaseFunction = std::function<void(benchmark::State&, std::size_t, int)>;

// Registers net_bench's LeNet-5 cases under net_bench's names, in its order, timed in real time.
inline void register_lenet_cases(const CaseFunction& train_step, const CaseFunction& inference) {
  const auto add = [](const std::string& name, const CaseFunction& function, std::size_t batch, int threads) {
    benchmark::RegisterBenchmark(name.c_str(), [function, batch, threads](benchmark::State& state) {
      function(state, batch, threads);
    })->UseRealTime();
  };
  for (const int threads : {1, 2}) {
    const std::string suffix = "/threads:" + std::to_string(threads);
    add("lenet/train_step/batch:64" + suffix, train_step, 64, threads);
    add("lenet/train_step/batch:256" + suffix, train_step, 256, threads);
  }
  add("lenet/inference/batch:1/threads:1", inference, 1, 1);
  for (const int threads : {1, 2})
    add("lenet/inference/batch:256/threads:" + std::to_string(threads), inference, 256, threads);
}

// The main of a peer program: `library` names it in the JSON context, beside the BLAS it loaded.
inline int run_peer(int argc, char** argv, const std::string& library, const CaseFunction& train_step,
                    const CaseFunction& inference) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("library", library);
  benchmark::AddCustomContext("blas", loaded_blas());
  register_lenet_cases(train_step, inference);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace ctnn::bench::peers
