// The design card's LeNet-5 in dlib's DNN API (Debian's libdlib-dev), timed under net_bench's case
// names and counters: loss_multiclass_log over fc/relu/con/max_pool, trained by dnn_trainer with
// sgd (no weight decay, momentum 0.9) one train_one_step per batch.
//
// Threads: dlib's CPU layers have no threads of their own (con and fc are im2col plus matrix
// products, sample by sample, in the BLAS that Debian selected for libblas.so.3; the JSON context
// names it), and dnn_trainer computes on a thread of its own. With netlib's reference BLAS, dlib
// computes on one core, so the T=2 cases are skipped rather than labelled with a second thread
// they do not use; with OpenBLAS they run with its thread count set to T. Checked with the process
// CPU time (bench/compare's cores column).
#include <dlib/dnn.h>
#include <dlib/revision.h>

#include <cstddef>
#include <vector>

#include "lenet_cases.hpp"

namespace {

using namespace ctnn::bench::peers;

// dlib's con<> pads "same" when the stride is 1 (padding nr/2): the design card's convolutions are
// valid, so the padding is given explicitly.
template <long Filters, typename Subnet>
using valid_con5 = dlib::add_layer<dlib::con_<Filters, 5, 5, 1, 1, 0, 0>, Subnet>;

// clang-format off
using DlibLeNet5 = dlib::loss_multiclass_log<
                   dlib::fc<10,
                   dlib::relu<dlib::fc<120,
                   dlib::relu<valid_con5<16,
                   dlib::max_pool<2, 2, 2, 2,
                   dlib::relu<valid_con5<6,
                   dlib::input<dlib::matrix<float>>>>>>>>>>>;
// clang-format on

std::vector<dlib::matrix<float>> images_of(const RandomBatch& batch) {
  std::vector<dlib::matrix<float>> images(batch.size(), dlib::matrix<float>(28, 28));
  const float* pixel = batch.pixels.data();
  for (auto& image : images)
    for (long row = 0; row < image.nr(); ++row)
      for (long column = 0; column < image.nc(); ++column) image(row, column) = *pixel++;
  return images;
}

bool set_threads(benchmark::State& state, int threads) {
  if (set_blas_threads(threads) || threads == 1) return true;
  state.SkipWithError(
      "dlib computes on one core here: its CPU layers have no threads and the BLAS it loaded has none "
      "(a threaded BLAS: apt-get install libopenblas0-pthread)");
  return false;
}

void train_step(benchmark::State& state, std::size_t batch_size, int threads) {
  if (!set_threads(state, threads)) return;
  DlibLeNet5 net;
  dlib::dnn_trainer<DlibLeNet5> trainer(net, dlib::sgd(0, momentum));
  trainer.set_learning_rate(learning_rate);
  const RandomBatch batch(batch_size);
  const std::vector<dlib::matrix<float>> images = images_of(batch);
  const std::vector<unsigned long> labels(batch.labels.begin(), batch.labels.end());
  // get_net waits until the trainer's thread has finished the step, so that each iteration is one
  // whole step (the copy of the batch into a tensor, in train_one_step, is included).
  const auto step = [&] {
    trainer.train_one_step(images, labels);
    trainer.get_net(dlib::force_flush_to_disk::no);
  };
  for (int i = 0; i < warm_up_steps; ++i) step();
  if (!has_lenet5_parameters(state, dlib::count_parameters(trainer.get_net(dlib::force_flush_to_disk::no)))) return;
  const CoreUsage usage;
  for (auto _ : state) step();
  set_lenet_counters(state, batch_size, true, threads, usage);
}

void inference(benchmark::State& state, std::size_t batch_size, int threads) {
  if (!set_threads(state, threads)) return;
  DlibLeNet5 net;
  const RandomBatch batch(batch_size);
  const std::vector<dlib::matrix<float>> images = images_of(batch);
  dlib::resizable_tensor input;
  net.to_tensor(images.begin(), images.end(), input);
  // forward() gives the logits of the whole batch at once; net(images) would cut it into
  // mini-batches of 128 and add an argmax.
  for (int i = 0; i < warm_up_steps; ++i) net.forward(input);
  if (!has_lenet5_parameters(state, dlib::count_parameters(net))) return;
  const CoreUsage usage;
  for (auto _ : state) benchmark::DoNotOptimize(net.forward(input).host());
  set_lenet_counters(state, batch_size, false, threads, usage);
}

}  // namespace

int main(int argc, char** argv) {
  return run_peer(argc, argv,
                  "dlib " + std::to_string(DLIB_MAJOR_VERSION) + "." + std::to_string(DLIB_MINOR_VERSION) + "." +
                      std::to_string(DLIB_PATCH_VERSION),
                  train_step, inference);
}
