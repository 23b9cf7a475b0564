// The design card's LeNet-5 in tiny-dnn (Debian's tiny-dnn, header-only), timed under net_bench's
// case names and counters: network<sequential> of convolutional, max pooling and fully connected
// layers, softmax output with cross_entropy_multiclass, the momentum optimizer, trained by
// train() with one batch per step.
//
// Built with CNN_USE_AVX (its AVX kernels for 5x5 convolutions, pooling and fully connected
// layers, with net_bench's -march) and CNN_USE_OMP, so that its parallel_for over the samples of a
// batch is an OpenMP loop whose thread count is set per case; without CNN_USE_OMP it starts
// std::thread::hardware_concurrency() std::async tasks per loop whatever the case asks. Checked
// with the process CPU time (bench/compare's cores column): about 1 core for T=1, 2 for T=2.
#include <cstddef>
#include <vector>

// config.h turns gemmlowp on for every non-Windows build; only the quantized layers use it, and
// Debian's tiny-dnn does not bring it.
#include <tiny_dnn/config.h>
#undef CNN_USE_GEMMLOWP
#include <tiny_dnn/tiny_dnn.h>

#include "lenet_cases.hpp"

namespace {

using namespace ctnn::bench::peers;

using TinyLeNet5 = tiny_dnn::network<tiny_dnn::sequential>;

void build_lenet5(TinyLeNet5& net) {
  using namespace tiny_dnn;
  using activation::identity, activation::relu, activation::softmax;
  net << convolutional_layer<relu>(28, 28, 5, 1, 6, padding::valid)   // (6,24,24)
      << max_pooling_layer<identity>(24, 24, 6, 2)                    // (6,12,12)
      << convolutional_layer<relu>(12, 12, 5, 6, 16, padding::valid)  // (16,8,8)
      << fully_connected_layer<relu>(16 * 8 * 8, 120) << fully_connected_layer<softmax>(120, 10);
}

std::size_t parameter_count(TinyLeNet5& net) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < net.depth(); ++i)
    for (const tiny_dnn::vec_t* weights : net[i]->weights()) count += weights->size();
  return count;
}

std::vector<tiny_dnn::vec_t> images_of(const RandomBatch& batch) {
  std::vector<tiny_dnn::vec_t> images;
  for (std::size_t b = 0; b < batch.size(); ++b) {
    const auto first = batch.pixels.begin() + static_cast<std::ptrdiff_t>(b * image_size);
    images.emplace_back(first, first + static_cast<std::ptrdiff_t>(image_size));
  }
  return images;
}

void train_step(benchmark::State& state, std::size_t batch_size, int threads) {
  ctnn::bench::set_threads(threads);
  tiny_dnn::set_random_seed(1);
  TinyLeNet5 net;
  build_lenet5(net);
  tiny_dnn::momentum optimizer;
  optimizer.alpha = learning_rate;
  optimizer.mu = momentum;
  const RandomBatch batch(batch_size);
  const std::vector<tiny_dnn::vec_t> images = images_of(batch);
  const std::vector<tiny_dnn::label_t> labels(batch.labels.begin(), batch.labels.end());
  // train() converts its inputs and resets the optimizer's state on every call, a few percent of a
  // step at batch 64: each timed call trains one epoch of steps_per_call copies of the batch, as a
  // tiny-dnn program trains one epoch of a data set. The velocity restarts at each call.
  constexpr int steps_per_call = 4;
  std::vector<tiny_dnn::vec_t> epoch_images;
  std::vector<tiny_dnn::label_t> epoch_labels;
  for (int copy = 0; copy < steps_per_call; ++copy) {
    epoch_images.insert(epoch_images.end(), images.begin(), images.end());
    epoch_labels.insert(epoch_labels.end(), labels.begin(), labels.end());
  }
  for (int i = 0; i < warm_up_steps; ++i)
    net.train<tiny_dnn::cross_entropy_multiclass>(optimizer, images, labels, batch_size, 1);
  if (!has_lenet5_parameters(state, parameter_count(net))) return;
  const CoreUsage usage;
  while (state.KeepRunningBatch(steps_per_call))
    net.train<tiny_dnn::cross_entropy_multiclass>(optimizer, epoch_images, epoch_labels, batch_size, 1);
  set_lenet_counters(state, batch_size, true, threads, usage);
}

void inference(benchmark::State& state, std::size_t batch_size, int threads) {
  ctnn::bench::set_threads(threads);
  tiny_dnn::set_random_seed(1);
  TinyLeNet5 net;
  build_lenet5(net);
  const RandomBatch batch(batch_size);
  // predict() on a batch: a tensor_t per image, each a single input vector.
  std::vector<tiny_dnn::tensor_t> images;
  for (auto& image : images_of(batch)) images.push_back({std::move(image)});
  for (int i = 0; i < warm_up_steps; ++i) net.predict(images);
  if (!has_lenet5_parameters(state, parameter_count(net))) return;
  const CoreUsage usage;
  for (auto _ : state) benchmark::DoNotOptimize(net.predict(images).data());
  set_lenet_counters(state, batch_size, false, threads, usage);
}

}  // namespace

int main(int argc, char** argv) { return run_peer(argc, argv, "tiny-dnn 1.0.0a3", train_step, inference); }
