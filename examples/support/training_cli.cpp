// The compiled half of training_cli.hpp: CLI11 and the results file, built once for every trainer.
#include "../training_cli.hpp"

#include <cstdio>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>

namespace examples {

namespace {
void add_training_options(CLI::App& app, TrainingCli& cli) {
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

}  // namespace

std::optional<int> parse_training_options(TrainingCli& cli, const std::string& description, int argc, char** argv,
                                          const std::function<void(CLI::App&)>& add_options) {
  CLI::App app(description);
  add_training_options(app, cli);
  if (add_options) add_options(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  cli.trainer.schedule.kind = ctnn::Schedule::parse_kind(cli.schedule);
#ifdef _OPENMP
  if (cli.threads > 0) omp_set_num_threads(cli.threads);
#endif
  const std::filesystem::path output(cli.output);
  std::filesystem::create_directories(output);
  cli.trainer.checkpoint = output / "checkpoint.safetensors";
  cli.trainer.log_csv = output / "log.csv";
  cli.trainer.log_json = output / "log.json";
  return std::nullopt;
}

DataSplits load_data(DataSet data_set, const TrainingCli& cli) {
  const auto load = data_set == DataSet::mnist ? ctnn::load_mnist : ctnn::load_fashion_mnist;
  const std::optional<std::filesystem::path> root =
      cli.data_root.empty() ? std::nullopt : std::optional<std::filesystem::path>(cli.data_root);
  const ctnn::Dataset training_set = load(ctnn::Split::train, root);
  const ctnn::SplitIndices split = ctnn::holdout_split(training_set.size(), cli.validation, cli.trainer.seed);
  DataSplits data{ctnn::subset(training_set, split.train, training_set.name + " train"),
                  ctnn::subset(training_set, split.validation, training_set.name + " validation"),
                  load(ctnn::Split::test, root),
                  {}};
  data.normalization = ctnn::compute_normalization(data.train.images);
  std::printf("\n%zu training, %zu validation, %zu test images; normalization mean %.4f stddev %.4f\n",
              data.train.size(), data.validation.size(), data.test.size(), data.normalization.mean,
              data.normalization.stddev);
  return data;
}

void report_results(const std::filesystem::path& output, const std::string& program, const std::string& network,
                    std::size_t param_count, const ctnn::TrainReport& report, const ctnn::Evaluation& test,
                    double wall_seconds) {
  std::printf(
      "\n%s: test accuracy %.2f%% (loss %.4f), best epoch %zu%s, training %.1f s at %.0f images/s, wall time %.1f s\n",
      program.c_str(), 100.0 * test.accuracy, test.loss, report.best_epoch,
      report.stopped_early ? " (stopped early)" : "", report.seconds, report.images_per_second, wall_seconds);
  const nlohmann::json results{{"program", program},
                               {"network", network},
                               {"param_count", param_count},
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
