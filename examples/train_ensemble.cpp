// Trains an ensemble of MNIST nets of three architectures, one member after the other, and
// classifies by the mean of their probabilities (eval/ensemble.hpp).
//   train_ensemble                   defaults reach >= 99.7% on MNIST's test set in < 2 h on 2 cores
//   train_ensemble --help            every hyper-parameter
// Each member is trained as train_mnist_best trains BestNet (SGD with Nesterov momentum, one-cycle
// schedule, label smoothing, affine augmentation), with its own seed, and saved at once to
// <output>/<member>/model.safetensors beside its training log and checkpoint. A member whose model
// file exists is reused, and one whose checkpoint exists resumes, unless --retrain: a crash or a
// second run loses no finished work. Each member holds out its own 5,000 validation images (its
// seed picks them), so every training image is learned by most members while each member's
// validation curve stays honest. The test set is read once, at the end.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/eval/ensemble.hpp>
#include <ctnn/eval/metrics.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/train/trainer.hpp>

#include "models.hpp"
#include "training_cli.hpp"

using namespace ctnn;

using examples::BestNet;        // examples/models.hpp: four 3x3 convolutions, valid padding
using examples::SamePaddedNet;  // the same with same padding: 7x7 maps before the dense layer
using examples::WideKernelNet;  // two 5x5 same-padded convolutions

// Five members of three architectures, the cheaper first, so that a run cut short (--members)
// still has a diverse ensemble; an architecture that comes twice differs by seed (initialization,
// shuffles, augmentation, dropout and validation split). Per epoch, WideKernelNet costs 1.3 and
// SamePaddedNet 2.1 times BestNet.
using MnistEnsemble = Ensemble<BestNet, WideKernelNet, BestNet, SamePaddedNet, WideKernelNet>;
const std::array<std::string, MnistEnsemble::size> member_names{"best_1", "wide_kernel_1", "best_2", "same_padded_1",
                                                                "wide_kernel_2"};

constexpr std::size_t batch_capacity = 128;

// What the table and results.json say of one member; written to <member>/member.json when it is
// trained, read back when it is reused.
struct MemberRecord {
  std::string name, network;
  std::size_t param_count = 0;
  std::uint64_t seed = 0;
  bool reused = false;
  std::size_t epochs_run = 0, best_epoch = 0;
  double best_validation_accuracy = 0, train_seconds = 0, images_per_second = 0, test_accuracy = 0;
};

nlohmann::json to_json(const MemberRecord& r) {
  return {{"name", r.name},
          {"network", r.network},
          {"param_count", r.param_count},
          {"seed", r.seed},
          {"reused", r.reused},
          {"epochs_run", r.epochs_run},
          {"best_epoch", r.best_epoch},
          {"best_validation_accuracy", r.best_validation_accuracy},
          {"train_seconds", r.train_seconds},
          {"images_per_second", r.images_per_second},
          {"test_accuracy", r.test_accuracy}};
}

// The training figures of a reused member, from its member.json if an earlier run wrote one.
void read_training_record(const std::filesystem::path& path, MemberRecord& record) {
  std::ifstream stream(path);
  if (!stream) return;
  const nlohmann::json saved = nlohmann::json::parse(stream, nullptr, false);
  if (!saved.is_object()) return;
  record.epochs_run = saved.value("epochs_run", std::size_t{0});
  record.best_epoch = saved.value("best_epoch", std::size_t{0});
  record.best_validation_accuracy = saved.value("best_validation_accuracy", 0.0);
  record.train_seconds = saved.value("train_seconds", 0.0);
  record.images_per_second = saved.value("images_per_second", 0.0);
}

Dataset first_images(const Dataset& dataset, std::size_t limit) {
  if (limit == 0 || limit >= dataset.size()) return dataset;
  std::vector<std::size_t> indices(limit);
  std::iota(indices.begin(), indices.end(), std::size_t{0});
  return subset(dataset, indices, dataset.name);
}

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  examples::TrainingCli cli;
  cli.output = "runs/ensemble";
  cli.trainer.epochs = 15;
  cli.trainer.batch_size = 128;
  cli.trainer.schedule.learning_rate = 0.1f;
  cli.trainer.label_smoothing = 0.1f;
  cli.trainer.augmentation.affine = {
      .max_rotation_degrees = 10, .max_scale_change = 0.1f, .max_translation_pixels = 2, .max_shear_degrees = 8};
  bool retrain = false;
  std::size_t train_limit = 0, test_limit = 0, member_count = MnistEnsemble::size;
  if (const auto exit_status = examples::parse_training_options(
          cli, "Train an ensemble of MNIST nets of three architectures, member by member, and evaluate it.", argc, argv,
          [&](CLI::App& app) {
            app.add_flag("--retrain", retrain, "Train every member from scratch, even one saved by an earlier run");
            app.add_option("--train-limit", train_limit, "Train on the first N training images only (0: all)");
            app.add_option("--test-limit", test_limit, "Test on the first N test images only (0: all)");
            app.add_option("--members", member_count, "Train and test the ensemble of the first N members only")
                ->check(CLI::Range(std::size_t{1}, MnistEnsemble::size))
                ->capture_default_str();
          }))
    return *exit_status;
  if (cli.optimizer != "sgd")
    throw std::invalid_argument("--optimizer " + cli.optimizer + ": the members are trained with sgd only");
  const std::filesystem::path output = cli.output;

  // Member by member: reuse a saved one, or train it with its own seed and validation split.
  MnistEnsemble ensemble;
  std::vector<MemberRecord> records(member_count);
  ensemble.for_each_member([&](auto& net, std::size_t index) {
    if (index >= member_count) return;
    using Member = std::remove_cvref_t<decltype(net)>;
    MemberRecord& record = records[index];
    record = {.name = member_names[index],
              .network = Member::signature(),
              .param_count = Member::param_count,
              .seed = cli.trainer.seed + index};
    ensemble.names[index] = record.name;
    const std::filesystem::path folder = output / record.name;
    const std::filesystem::path model_path = folder / "model.safetensors";
    std::printf("\nmember %zu of %zu: %s, %zu parameters, seed %llu\n", index + 1, MnistEnsemble::size,
                record.name.c_str(), record.param_count, static_cast<unsigned long long>(record.seed));
    if (!retrain && std::filesystem::exists(model_path)) {
      ensemble.infos[index] = load_model(net, model_path);
      record.reused = true;
      read_training_record(folder / "member.json", record);
      std::printf("reused %s (trained by an earlier run; --retrain trains it again)\n", model_path.c_str());
      return;
    }

    examples::TrainingCli member_cli = cli;
    member_cli.trainer.seed = record.seed;
    member_cli.trainer.checkpoint = folder / "checkpoint.safetensors";
    member_cli.trainer.log_csv = folder / "log.csv";
    member_cli.trainer.log_json = folder / "log.json";
    member_cli.trainer.resume = !retrain;
    std::filesystem::create_directories(folder);
    if (retrain) std::filesystem::remove(member_cli.trainer.checkpoint);
    examples::DataSplits data = examples::load_data(examples::DataSet::mnist, member_cli);
    data.train = first_images(data.train, train_limit);

    net.init(record.seed);
    Workspace<Member, batch_capacity> workspace;
    Sgd optimizer(net, {.learning_rate = cli.trainer.schedule.learning_rate,
                        .momentum = cli.momentum,
                        .nesterov = cli.nesterov,
                        .weight_decay = cli.weight_decay});
    const TrainReport report =
        Trainer(net, optimizer, workspace, member_cli.trainer).run(data.train, data.validation, data.normalization);

    ensemble.infos[index] = {.normalization = data.normalization,
                             .class_names = examples::digit_names,
                             .extra = {{"ensemble_member", record.name}, {"seed", std::to_string(record.seed)}}};
    save_model(net, model_path, ensemble.infos[index]);
    record.epochs_run = report.history.size();
    record.best_epoch = report.best_epoch;
    if (report.best_epoch > 0)
      record.best_validation_accuracy = report.history[report.best_epoch - 1].validation_accuracy;
    record.train_seconds = report.seconds;
    record.images_per_second = report.images_per_second;
    write_file_atomically(folder / "member.json", to_json(record).dump(2) + "\n");
    std::printf("trained %s in %.1f s (%.0f images/s)\n", record.name.c_str(), report.seconds,
                report.images_per_second);
  });
  if (member_count == MnistEnsemble::size)
    save_ensemble(ensemble, output);
  else
    std::printf("\nthe first %zu members only: no ensemble.json is written\n", member_count);

  // The test set, once: every member's probabilities, and their mean.
  const std::optional<std::filesystem::path> root =
      cli.data_root.empty() ? std::nullopt : std::optional<std::filesystem::path>(cli.data_root);
  const Dataset test = first_images(load_mnist(Split::test, root), test_limit);
  const std::vector<Evaluation> member_results = evaluate_members(ensemble, test, member_count);
  const Evaluation result = average_evaluations(member_results, test);
  for (std::size_t i = 0; i < records.size(); ++i) records[i].test_accuracy = member_results[i].accuracy;

  // The ensemble of the first k members, k = 1, 2, ...: what each member adds.
  std::vector<double> accuracy_by_size;
  for (std::size_t k = 1; k <= member_results.size(); ++k)
    accuracy_by_size.push_back(average_evaluations(std::span(member_results).first(k), test).accuracy);

  std::printf("\n%-14s %10s %5s %7s %10s %10s %11s\n", "member", "params", "seed", "epochs", "valid acc", "test acc",
              "train time");
  double train_seconds = 0;
  for (const MemberRecord& r : records) {
    train_seconds += r.train_seconds;
    std::printf("%-14s %10zu %5llu %7zu %9.2f%% %9.2f%% %9.1f s%s\n", r.name.c_str(), r.param_count,
                static_cast<unsigned long long>(r.seed), r.epochs_run, 100 * r.best_validation_accuracy,
                100 * r.test_accuracy, r.train_seconds, r.reused ? "  (reused)" : "");
  }
  std::printf("\n%-14s %10s %9s\n", "ensemble of", "", "test acc");
  for (std::size_t k = 0; k < accuracy_by_size.size(); ++k)
    std::printf("first %zu %17s %9.2f%%\n", k + 1, "", 100 * accuracy_by_size[k]);

  const ClassificationScores scores =
      classification_scores(confusion_matrix(test.labels, result.predictions, MnistEnsemble::classes));
  std::size_t errors = 0;
  for (std::size_t n = 0; n < test.size(); ++n) errors += result.predictions[n] != test.labels[n];
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "\ntrain_ensemble: test accuracy %.2f%% (loss %.4f, %zu errors of %zu) with %zu members; training %.1f s "
      "(%.1f min) summed over the members, wall time of this run %.1f s\n",
      100.0 * result.accuracy, result.loss, errors, test.size(), member_count, train_seconds, train_seconds / 60, wall);

  nlohmann::json members = nlohmann::json::array();
  for (const MemberRecord& r : records) members.push_back(to_json(r));
  nlohmann::json per_class = nlohmann::json::array();
  for (std::size_t c = 0; c < scores.per_class.size(); ++c)
    per_class.push_back({{"class", c},
                         {"precision", scores.per_class[c].precision},
                         {"recall", scores.per_class[c].recall},
                         {"f1", scores.per_class[c].f1},
                         {"support", scores.per_class[c].support}});
  const nlohmann::json results{
      {"program", "train_ensemble"}, {"members", members},         {"test_accuracy", result.accuracy},
      {"test_loss", result.loss},    {"test_images", test.size()}, {"accuracy_by_ensemble_size", accuracy_by_size},
      {"macro_f1", scores.macro.f1}, {"per_class", per_class},     {"train_seconds", train_seconds},
      {"wall_seconds", wall},        {"threads", cli.threads}};
  write_file_atomically(output / "results.json", results.dump(2) + "\n");
  std::printf("results: %s\n", (output / "results.json").c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "train_ensemble: %s\n", error.what());
  return 1;
}
