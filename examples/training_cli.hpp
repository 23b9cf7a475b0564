// What the example trainers share: their command-line options (CLI11) and the results file.
// The training flow itself stays in each program's main, where a reader can follow it.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/train/trainer.hpp>

namespace examples {

inline const std::vector<std::string> digit_names{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

struct TrainingCli {
  std::string data_root;  // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output = "runs/model";
  std::size_t validation = 5000;
  std::string optimizer = "sgd";
  float momentum = 0.9f;
  bool nesterov = true;
  float weight_decay = 5e-4f;
  std::string schedule = "one-cycle";
  int threads = 0;  // 0: OpenMP's default
  ctnn::TrainerOptions trainer;
};

inline void add_training_options(CLI::App& app, TrainingCli& cli) {
  app.add_option("--data", cli.data_root, "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", cli.output, "Folder for the model, logs, checkpoint and results")->capture_default_str();
  app.add_option("--epochs", cli.trainer.epochs, "Training epochs")->capture_default_str();
  app.add_option("--batch-size", cli.trainer.batch_size, "Mini-batch size (at most the compiled capacity)")
      ->capture_default_str();
  app.add_option("--learning-rate", cli.trainer.schedule.learning_rate, "Base (or one-cycle peak) learning rate")
      ->capture_default_str();
  app.add_option("--schedule", cli.schedule, "constant, step, cosine or one-cycle")->capture_default_str();
  app.add_option("--step-epochs", cli.trainer.schedule.step_epochs, "step schedule: epochs between decays")
      ->capture_default_str();
  app.add_option("--step-gamma", cli.trainer.schedule.step_gamma, "step schedule: decay factor")->capture_default_str();
  app.add_option("--optimizer", cli.optimizer, "sgd, adam, adamw or rmsprop")->capture_default_str();
  app.add_option("--momentum", cli.momentum, "SGD/RMSprop momentum")->capture_default_str();
  app.add_option("--nesterov", cli.nesterov, "SGD: Nesterov momentum")->capture_default_str();
  app.add_option("--weight-decay", cli.weight_decay, "Weight decay (L2 for SGD/Adam, decoupled for AdamW)")
      ->capture_default_str();
  app.add_option("--label-smoothing", cli.trainer.label_smoothing, "Label smoothing of the loss")
      ->capture_default_str();
  app.add_option("--validation", cli.validation, "Training images held out for validation")->capture_default_str();
  app.add_option("--patience", cli.trainer.early_stopping.patience,
                 "Early stopping: epochs without improvement (0: off)")
      ->capture_default_str();
  app.add_option("--rotate", cli.trainer.augmentation.affine.max_rotation_degrees,
                 "Augmentation: max rotation, degrees")
      ->capture_default_str();
  app.add_option("--shift", cli.trainer.augmentation.affine.max_translation_pixels,
                 "Augmentation: max translation, pixels")
      ->capture_default_str();
  app.add_option("--scale", cli.trainer.augmentation.affine.max_scale_change,
                 "Augmentation: max scale change (0.1 = ±10%)")
      ->capture_default_str();
  app.add_option("--shear", cli.trainer.augmentation.affine.max_shear_degrees, "Augmentation: max shear, degrees")
      ->capture_default_str();
  app.add_flag("--elastic", cli.trainer.augmentation.elastic, "Augmentation: elastic distortion (Simard et al. 2003)");
  app.add_option("--erase", cli.trainer.augmentation.erase_probability, "Augmentation: random erasing probability")
      ->capture_default_str();
  app.add_option("--noise", cli.trainer.augmentation.noise_stddev, "Augmentation: Gaussian noise stddev")
      ->capture_default_str();
  app.add_option("--seed", cli.trainer.seed, "Seed of initialization, shuffles, augmentation and dropout")
      ->capture_default_str();
  app.add_flag("--resume", cli.trainer.resume, "Continue from the checkpoint in --output if there is one");
  app.add_option("--threads", cli.threads, "OpenMP threads (0: all cores)")->capture_default_str();
}

// Applies the parsed options; returns the output folder, created.
inline std::filesystem::path prepare(TrainingCli& cli) {
  cli.trainer.schedule.kind = ctnn::Schedule::parse_kind(cli.schedule);
#ifdef _OPENMP
  if (cli.threads > 0) omp_set_num_threads(cli.threads);
#endif
  const std::filesystem::path output(cli.output);
  std::filesystem::create_directories(output);
  cli.trainer.checkpoint = output / "checkpoint.safetensors";
  cli.trainer.log_csv = output / "log.csv";
  cli.trainer.log_json = output / "log.json";
  return output;
}

inline std::optional<std::filesystem::path> data_root(const TrainingCli& cli) {
  if (cli.data_root.empty()) return std::nullopt;
  return std::filesystem::path(cli.data_root);
}

// A training set split into training and validation images, the test set, and the input
// normalization computed on the training images alone.
struct DataSplits {
  ctnn::Dataset train, validation, test;
  ctnn::Normalization normalization;
};

inline DataSplits split_data(const ctnn::Dataset& training_set, ctnn::Dataset test, std::size_t validation,
                             std::uint64_t seed) {
  const ctnn::SplitIndices split = ctnn::holdout_split(training_set.size(), validation, seed);
  DataSplits data{ctnn::subset(training_set, split.train, training_set.name + " train"),
                  ctnn::subset(training_set, split.validation, training_set.name + " validation"),
                  std::move(test),
                  {}};
  data.normalization = ctnn::compute_normalization(data.train.images);
  std::printf("\n%zu training, %zu validation, %zu test images; normalization mean %.4f stddev %.4f\n",
              data.train.size(), data.validation.size(), data.test.size(), data.normalization.mean,
              data.normalization.stddev);
  return data;
}

// Calls run(optimizer) with the optimizer the options name, built for `net`.
template <class NetType, class Run>
auto with_optimizer(const TrainingCli& cli, NetType& net, Run&& run) {
  const float rate = cli.trainer.schedule.learning_rate;
  if (cli.optimizer == "sgd") {
    ctnn::Sgd optimizer(
        net,
        {.learning_rate = rate, .momentum = cli.momentum, .nesterov = cli.nesterov, .weight_decay = cli.weight_decay});
    return run(optimizer);
  }
  if (cli.optimizer == "adam" || cli.optimizer == "adamw") {
    const ctnn::AdamOptions options{.learning_rate = rate, .weight_decay = cli.weight_decay};
    if (cli.optimizer == "adam") {
      ctnn::Adam optimizer(net, options);
      return run(optimizer);
    }
    ctnn::AdamW optimizer(net, options);
    return run(optimizer);
  }
  if (cli.optimizer == "rmsprop") {
    ctnn::RmsProp optimizer(net, {.learning_rate = rate, .momentum = cli.momentum, .weight_decay = cli.weight_decay});
    return run(optimizer);
  }
  throw std::invalid_argument("unknown optimizer '" + cli.optimizer + "' (expected sgd, adam, adamw or rmsprop)");
}

// Prints the closing figures and writes them to <output>/results.json.
template <class NetType>
void report_results(const std::filesystem::path& output, const std::string& program, const ctnn::TrainReport& report,
                    const ctnn::Evaluation& test, double wall_seconds) {
  std::printf(
      "\n%s: test accuracy %.2f%% (loss %.4f), best epoch %zu%s, training %.1f s at %.0f images/s, wall time %.1f s\n",
      program.c_str(), 100.0 * test.accuracy, test.loss, report.best_epoch,
      report.stopped_early ? " (stopped early)" : "", report.seconds, report.images_per_second, wall_seconds);
  const nlohmann::json results{{"program", program},
                               {"network", NetType::signature()},
                               {"param_count", NetType::param_count},
                               {"test_accuracy", test.accuracy},
                               {"test_loss", test.loss},
                               {"epochs_run", report.history.size()},
                               {"best_epoch", report.best_epoch},
                               {"stopped_early", report.stopped_early},
                               {"train_seconds", report.seconds},
                               {"images_per_second", report.images_per_second},
                               {"wall_seconds", wall_seconds}};
  ctnn::write_file_atomically(output / "results.json", results.dump(2) + "\n");
  std::printf("results: %s, model: %s\n", (output / "results.json").c_str(), (output / "model.safetensors").c_str());
}

}  // namespace examples
