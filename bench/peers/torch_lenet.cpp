// The design card's LeNet-5 in libtorch (Debian's libtorch-dev), timed under net_bench's case names
// and counters: torch::nn modules, softmax cross-entropy, torch::optim::SGD with momentum.
//
// Threads: ATen's intra-op pool is OpenMP (libgomp, like ctnn's), set per case with
// torch::set_num_threads(T); inter-op threads are set to 1 once, before any work. Convolutions
// and pooling run in oneDNN (libdnnl2) on those OpenMP threads. Linear layers call the BLAS that
// Debian selected for libblas.so.3 (the JSON context names it) on one thread: netlib's reference
// BLAS has no threads, and OpenBLAS's own pool, given T threads, competes with ATen's (training at
// T=2, batch 64: 5.8k images/s with 2 threads of OpenBLAS's pthread build, 13.6k with 1; 12.4k with
// 2 threads of its OpenMP build). Checked with the process CPU time (bench/compare's cores
// column): about 1 core for T=1 and 2 for T=2.
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lenet_cases.hpp"

namespace {

using namespace ctnn::bench::peers;

struct TorchLeNet5Impl : torch::nn::Module {
  TorchLeNet5Impl()
      : conv1(register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 6, 5)))),
        pool(register_module("pool", torch::nn::MaxPool2d(torch::nn::MaxPool2dOptions(2)))),
        conv2(register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)))),
        fc1(register_module("fc1", torch::nn::Linear(16 * 8 * 8, 120))),
        fc2(register_module("fc2", torch::nn::Linear(120, 10))) {}

  // x is (B,1,28,28); returns the logits, (B,10).
  torch::Tensor forward(torch::Tensor x) {
    x = pool(torch::relu(conv1(x)));
    x = torch::relu(conv2(x));
    x = torch::relu(fc1(x.flatten(1)));
    return fc2(x);
  }

  torch::nn::Conv2d conv1;
  torch::nn::MaxPool2d pool;
  torch::nn::Conv2d conv2;
  torch::nn::Linear fc1;
  torch::nn::Linear fc2;
};
TORCH_MODULE(TorchLeNet5);

std::size_t parameter_count(const torch::nn::Module& net) {
  std::size_t count = 0;
  for (const auto& parameter : net.parameters()) count += static_cast<std::size_t>(parameter.numel());
  return count;
}

void set_threads(int threads) {
  torch::set_num_threads(threads);
  set_blas_threads(1);
}

torch::Tensor images_of(const RandomBatch& batch) {
  const auto size = static_cast<std::int64_t>(batch.labels.size());
  return torch::from_blob(const_cast<float*>(batch.pixels.data()), {size, 1, 28, 28}, torch::kFloat32).clone();
}

torch::Tensor labels_of(const RandomBatch& batch) {
  const std::vector<std::int64_t> labels(batch.labels.begin(), batch.labels.end());
  return torch::tensor(labels, torch::kInt64);
}

void train_step(benchmark::State& state, std::size_t batch_size, int threads) {
  set_threads(threads);
  torch::manual_seed(1);
  TorchLeNet5 net;
  net->train();
  const RandomBatch batch(batch_size);
  const torch::Tensor images = images_of(batch), labels = labels_of(batch);
  torch::optim::SGD optimizer(net->parameters(), torch::optim::SGDOptions(learning_rate).momentum(momentum));
  const auto step = [&] {
    optimizer.zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(net->forward(images), labels);
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < warm_up_steps; ++i) step();
  if (!has_lenet5_parameters(state, parameter_count(*net))) return;
  const CoreUsage usage;
  for (auto _ : state) benchmark::DoNotOptimize(step().data_ptr());
  set_lenet_counters(state, batch_size, true, threads, usage);
}

void inference(benchmark::State& state, std::size_t batch_size, int threads) {
  set_threads(threads);
  torch::manual_seed(1);
  TorchLeNet5 net;
  net->eval();
  const RandomBatch batch(batch_size);
  const torch::Tensor images = images_of(batch);
  // InferenceMode is NoGradGuard without autograd's version counters: libtorch's fastest path.
  const c10::InferenceMode inference_mode;
  for (int i = 0; i < warm_up_steps; ++i) net->forward(images);
  if (!has_lenet5_parameters(state, parameter_count(*net))) return;
  const CoreUsage usage;
  for (auto _ : state) benchmark::DoNotOptimize(net->forward(images).data_ptr());
  set_lenet_counters(state, batch_size, false, threads, usage);
}

}  // namespace

int main(int argc, char** argv) {
  at::set_num_interop_threads(1);
  return run_peer(argc, argv, "libtorch " TORCH_VERSION, train_step, inference);
}
