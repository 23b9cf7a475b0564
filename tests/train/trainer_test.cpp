// The training loop: bit-exact resume from a checkpoint, NaN handling that keeps the last good
// checkpoint, early stopping with best-weights restore, and the per-epoch logs.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <ratio>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/train/trainer.hpp>

#include "support/bar_dataset.hpp"
#include "support/temp_dir.hpp"

using namespace ctnn;

namespace {

// Stochastic and stateful layers on purpose: dropout masks and batch statistics must replay too.
using SmallNet =
    Net<Input<1, 8, 8>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<16>, Dropout<std::ratio<1, 4>>, Dense<4>>;
using OtherNet = Net<Input<1, 8, 8>, Dense<8>, Dense<4>>;

using ctnn::test::bars;  // tests/support/bar_dataset.hpp

using TempFolder = ctnn::test::TempDir;

TrainerOptions options_for(const std::filesystem::path& folder) {
  TrainerOptions options;
  options.epochs = 3;
  options.batch_size = 16;
  options.schedule = {.kind = Schedule::Kind::cosine, .learning_rate = 0.01f};
  options.augmentation.affine = {.max_rotation_degrees = 5, .max_translation_pixels = 1};
  options.seed = 7;
  options.checkpoint = folder / "checkpoint.safetensors";
  options.log_csv = folder / "log.csv";
  options.log_json = folder / "log.json";
  options.progress = false;
  return options;
}

template <class NetType>
bool same_weights(NetType& a, NetType& b) {
  bool same = true;
  std::size_t index = 0;
  for_each_tensor(
      [&](auto& tensor) {
        std::size_t other_index = 0;
        for_each_tensor(
            [&](auto& other) {
              if (other_index++ == index && std::memcmp(tensor.data(), other.data(), sizeof(float) * tensor.size) != 0)
                same = false;
            },
            b.parameters());
        ++index;
      },
      a.parameters());
  return same;
}

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("a resumed run ends with the same weights as an uninterrupted one, bit for bit") {
  const Dataset train = bars(200, 1), validation = bars(64, 2);
  const Normalization normalization = compute_normalization(train.images);
  TempFolder straight_folder, resumed_folder;
  std::filesystem::create_directories(resumed_folder.path() / "r");

  SmallNet straight(3);
  Workspace<SmallNet, 16> ws;
  Adam straight_optimizer(straight, {.learning_rate = 0.01f});
  const TrainReport full = Trainer(straight, straight_optimizer, ws, options_for(straight_folder.path()))
                               .run(train, validation, normalization);
  REQUIRE(full.history.size() == 3);

  {  // the first run "crashes" after one epoch
    SmallNet first(3);
    Adam optimizer(first, {.learning_rate = 0.01f});
    TrainerOptions options = options_for(resumed_folder.path() / "r");
    options.stop_after_epochs = 1;
    const TrainReport partial = Trainer(first, optimizer, ws, options).run(train, validation, normalization);
    REQUIRE(partial.history.size() == 1);
  }
  SmallNet resumed(99);  // different initial weights: everything must come from the checkpoint
  Adam optimizer(resumed, {.learning_rate = 0.01f});
  TrainerOptions options = options_for(resumed_folder.path() / "r");
  options.resume = true;
  const TrainReport rest = Trainer(resumed, optimizer, ws, options).run(train, validation, normalization);

  REQUIRE(rest.history.size() == 3);
  CHECK(same_weights(straight, resumed));
  CHECK(optimizer.step() == straight_optimizer.step());
  for (std::size_t e = 0; e < 3; ++e) {
    CHECK(rest.history[e].train_loss == full.history[e].train_loss);
    CHECK(rest.history[e].validation_accuracy == full.history[e].validation_accuracy);
  }
}

TEST_CASE("a NaN loss stops training with a clear message and keeps the last good checkpoint") {
  Dataset train = bars(128, 3);
  const Dataset validation = bars(32, 4);
  const Normalization normalization = compute_normalization(train.images);
  TempFolder folder;
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  Sgd optimizer(net, {.learning_rate = 0.01f});
  TrainerOptions options = options_for(folder.path());
  options.stop_after_epochs = 1;
  Trainer(net, optimizer, ws, options).run(train, validation, normalization);
  const std::string good = file_bytes(options.checkpoint);
  REQUIRE(!good.empty());

  train.images[5] = std::numeric_limits<float>::quiet_NaN();
  options.stop_after_epochs = 0;
  options.resume = true;
  try {
    Trainer(net, optimizer, ws, options).run(train, validation, normalization);
    FAIL("training went on through a NaN loss");
  } catch (const TrainingError& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.find("the training loss became NaN at epoch 2") != std::string::npos);
    CHECK(message.find("the last good checkpoint is kept in") != std::string::npos);
  }
  CHECK(file_bytes(options.checkpoint) == good);
}

TEST_CASE("early stopping ends a run that stops improving and restores the best weights") {
  const Dataset train = bars(128, 5);
  Dataset validation = bars(64, 6);
  Rng rng(1);
  for (auto& label : validation.labels) label = static_cast<std::uint8_t>(rng.below(4));  // nothing to learn
  const Normalization normalization = compute_normalization(train.images);
  TempFolder folder;
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  Sgd optimizer(net, {.learning_rate = 0.05f, .momentum = 0.9f});
  TrainerOptions options = options_for(folder.path());
  options.epochs = 30;
  options.early_stopping = {.monitor = EarlyStopping::Monitor::validation_loss, .patience = 2, .restore_best = true};
  const TrainReport report = Trainer(net, optimizer, ws, options).run(train, validation, normalization);

  CHECK(report.stopped_early);
  CHECK(report.history.size() < 30);
  CHECK(report.history.size() == report.best_epoch + 2);
  const Evaluation after = evaluate(net, ws, validation, normalization);
  CHECK(after.loss == doctest::Approx(report.history[report.best_epoch - 1].validation_loss).epsilon(1e-5));
}

TEST_CASE("the CSV and JSON logs hold one row per epoch") {
  const Dataset train = bars(64, 7), validation = bars(32, 8);
  TempFolder folder;
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  Sgd optimizer(net);
  const TrainerOptions options = options_for(folder.path());
  const TrainReport report =
      Trainer(net, optimizer, ws, options).run(train, validation, compute_normalization(train.images));

  std::ifstream csv(options.log_csv);
  std::string line;
  std::getline(csv, line);
  CHECK(line == "epoch,learning_rate,train_loss,train_accuracy,validation_loss,validation_accuracy,seconds");
  std::size_t rows = 0;
  while (std::getline(csv, line)) ++rows;
  CHECK(rows == 3);

  const auto json = nlohmann::json::parse(file_bytes(options.log_json));
  REQUIRE(json.at("epochs").size() == 3);
  CHECK(json.at("epochs")[2].at("epoch") == 3);
  CHECK(json.at("epochs")[2].at("validation_accuracy").get<float>() == report.history[2].validation_accuracy);
}

TEST_CASE("a checkpoint of another network is refused, naming both") {
  const Dataset train = bars(64, 9), validation = bars(32, 10);
  TempFolder folder;
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  Sgd optimizer(net);
  TrainerOptions options = options_for(folder.path());
  options.stop_after_epochs = 1;
  Trainer(net, optimizer, ws, options).run(train, validation, compute_normalization(train.images));

  OtherNet other(1);
  Workspace<OtherNet, 16> other_ws;
  Sgd other_optimizer(other);
  options.resume = true;
  try {
    Trainer(other, other_optimizer, other_ws, options).run(train, validation, compute_normalization(train.images));
    FAIL("a checkpoint of another network was accepted");
  } catch (const ModelError& error) {
    const std::string message = error.what();
    CHECK(message.find(SmallNet::signature()) != std::string::npos);
    CHECK(message.find(OtherNet::signature()) != std::string::npos);
  }
}

TEST_CASE("the batch size must fit the workspace") {
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  Sgd optimizer(net);
  TrainerOptions options;
  options.batch_size = 17;
  CHECK_THROWS_WITH_AS(Trainer(net, optimizer, ws, options), "batch size 17 must be in 1..16 (the workspace capacity)",
                       std::invalid_argument);
}

TEST_CASE("a workspace refuses a count above its batch and a label outside the classes") {
  SmallNet net(1);
  Workspace<SmallNet, 16> ws;
  ws.count = 17;
  CHECK_THROWS_WITH_AS(net.forward(ws), "Workspace: count 17 exceeds the batch size 16", std::out_of_range);
  ws.count = 3;
  ws.labels[2] = 4;
  CHECK_THROWS_WITH_AS(net.forward(ws), "Workspace: label 4 of image 2 is not a class of this network (0..3)",
                       std::out_of_range);
}
