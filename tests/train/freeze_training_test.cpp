// Freezing through the real training loop (transfer learning's first step): layers frozen in the
// optimizer's mask come out of Trainer::run bit-identical, through the best-weights restore, the
// checkpoint it writes and a resume from that checkpoint, while the layers after them learn. A
// frozen BatchNorm keeps its gamma and beta, but its running statistics follow the data it sees
// (AdaBN): they are state, not parameters.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/train/trainer.hpp>

#include "support/bar_dataset.hpp"
#include "support/temp_dir.hpp"

using namespace ctnn;

namespace {

// Layers 0..3 (Conv, BatchNorm, ReLU, MaxPool) are the convolutional part that gets frozen; layers
// 4 and 5 (Dense<16>, Dense<4>) are the head.
using SmallNet = Net<Input<1, 8, 8>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<16>, Dense<4>>;
constexpr std::size_t frozen_layers = 4;

using ctnn::test::bars;  // tests/support/bar_dataset.hpp

template <class Tensor>
bool same_bits(const Tensor& a, const Tensor& b) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * Tensor::size) == 0;
}

// Every tensor of the two nets, parameters and running statistics, bit for bit.
bool same_net(const SmallNet& a, const SmallNet& b) {
  bool same = true;
  std::vector<const float*> tensors_of_b;
  for_each_tensor([&](const auto& tensor) { tensors_of_b.push_back(tensor.data()); }, b.parameters());
  std::size_t index = 0;
  for_each_tensor(
      [&](const auto& tensor) {
        same = same && std::memcmp(tensor.data(), tensors_of_b[index++], sizeof(float) * tensor.size) == 0;
      },
      a.parameters());
  return same;
}

bool frozen_parameters_unchanged(const SmallNet& after, const SmallNet& before) {
  return same_bits(after.layer<0>().weight, before.layer<0>().weight) &&
         same_bits(after.layer<0>().bias, before.layer<0>().bias) &&
         same_bits(after.layer<1>().gamma, before.layer<1>().gamma) &&
         same_bits(after.layer<1>().beta, before.layer<1>().beta);
}

// A "pretrained" net: its own seed, and BatchNorm statistics unlike the bars' (the running
// averages start at mean 0, variance 1).
std::unique_ptr<SmallNet> pretrained() { return std::make_unique<SmallNet>(3); }

TrainerOptions options_for(const test::TempDir& folder) {
  TrainerOptions options;
  options.epochs = 3;
  options.batch_size = 16;
  options.schedule = {.kind = Schedule::Kind::cosine, .learning_rate = 0.05f};
  options.augmentation.affine = {.max_rotation_degrees = 5, .max_translation_pixels = 1};
  options.seed = 11;
  options.checkpoint = folder / "checkpoint.safetensors";
  options.progress = false;
  // Only the first epoch counts as an improvement, so the run ends by restoring epoch 1's weights
  // over epoch 3's: the restore is exercised.
  options.early_stopping.min_delta = 1e9f;
  return options;
}

Sgd<SmallNet> frozen_sgd(const SmallNet& net) {
  Sgd<SmallNet> optimizer(net, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true, .weight_decay = 1e-3f});
  optimizer.mask.freeze_layers(0, frozen_layers);
  return optimizer;
}

}  // namespace

TEST_CASE("freezing through Trainer: frozen layers bit-identical after best-weights restore; the head learns") {
  const test::TempDir folder;
  const Dataset train = bars(64, 1), validation = bars(32, 2);
  const Normalization normalization = compute_normalization(train.images);
  const auto before = pretrained();
  auto net = std::make_unique<SmallNet>(*before);
  auto optimizer = frozen_sgd(*net);
  auto workspace = std::make_unique<Workspace<SmallNet, 16>>();
  const TrainReport report =
      Trainer(*net, optimizer, *workspace, options_for(folder)).run(train, validation, normalization);
  REQUIRE(report.history.size() == 3);
  REQUIRE(report.best_epoch == 1);

  CHECK(frozen_parameters_unchanged(*net, *before));
  CHECK_FALSE(same_bits(net->layer<4>().weight, before->layer<4>().weight));
  CHECK_FALSE(same_bits(net->layer<5>().weight, before->layer<5>().weight));
  // AdaBN: the frozen block's statistics were re-estimated on the new data.
  CHECK_FALSE(same_bits(net->layer<1>().running_mean, before->layer<1>().running_mean));
  CHECK_FALSE(same_bits(net->layer<1>().running_variance, before->layer<1>().running_variance));

  // The checkpoint holds the last epoch's weights and the best ones: both keep the frozen layers.
  auto last = std::make_unique<SmallNet>(), best = std::make_unique<SmallNet>();
  auto loaded_optimizer = frozen_sgd(*last);
  const TrainingState state = load_checkpoint(folder / "checkpoint.safetensors", *last, loaded_optimizer, *best);
  CHECK(state.epochs_done == 3);
  CHECK(frozen_parameters_unchanged(*last, *before));
  CHECK(frozen_parameters_unchanged(*best, *before));
  CHECK(same_net(*best, *net));
  CHECK_FALSE(same_net(*last, *net));  // epoch 3 is not epoch 1: the restore did replace the weights
}

TEST_CASE("freezing through Trainer: without the mask the same run changes the convolution (control)") {
  const test::TempDir folder;
  const Dataset train = bars(64, 1), validation = bars(32, 2);
  const auto before = pretrained();
  auto net = std::make_unique<SmallNet>(*before);
  Sgd<SmallNet> optimizer(*net, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true, .weight_decay = 1e-3f});
  auto workspace = std::make_unique<Workspace<SmallNet, 16>>();
  Trainer(*net, optimizer, *workspace, options_for(folder)).run(train, validation, compute_normalization(train.images));
  CHECK_FALSE(same_bits(net->layer<0>().weight, before->layer<0>().weight));
  CHECK_FALSE(same_bits(net->layer<1>().gamma, before->layer<1>().gamma));
}

TEST_CASE("freezing through Trainer: an interrupted, resumed run equals the uninterrupted one and keeps the freeze") {
  const Dataset train = bars(64, 1), validation = bars(32, 2);
  const Normalization normalization = compute_normalization(train.images);
  const auto before = pretrained();
  auto workspace = std::make_unique<Workspace<SmallNet, 16>>();

  const test::TempDir whole_folder;
  auto whole = std::make_unique<SmallNet>(*before);
  auto whole_optimizer = frozen_sgd(*whole);
  Trainer(*whole, whole_optimizer, *workspace, options_for(whole_folder)).run(train, validation, normalization);

  // The mask is not in the checkpoint: the resumed program freezes the same layers again.
  const test::TempDir folder;
  auto resumed = std::make_unique<SmallNet>(*before);
  TrainerOptions first_part = options_for(folder);
  first_part.stop_after_epochs = 1;
  auto first_optimizer = frozen_sgd(*resumed);
  Trainer(*resumed, first_optimizer, *workspace, first_part).run(train, validation, normalization);
  CHECK(frozen_parameters_unchanged(*resumed, *before));

  auto restarted = std::make_unique<SmallNet>(*before);
  TrainerOptions second_part = options_for(folder);
  second_part.resume = true;
  auto second_optimizer = frozen_sgd(*restarted);
  const TrainReport report =
      Trainer(*restarted, second_optimizer, *workspace, second_part).run(train, validation, normalization);
  CHECK(report.history.size() == 3);
  CHECK(frozen_parameters_unchanged(*restarted, *before));
  CHECK(same_net(*restarted, *whole));
}
