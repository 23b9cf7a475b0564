// Magnitude pruning of a trained LeNet-5 (include/ctnn/train/pruning.hpp, Han et al. 2015): for
// each target sparsity, the smallest Conv and Dense weights (per layer, or over the whole net) are
// set to zero, the test accuracy is measured, then the net is fine-tuned for a few epochs with the
// pruned weights fixed at zero by the optimizer's mask, and measured again. With --gradual the
// pruning happens during fine-tuning instead, along Zhu & Gupta's (2017) cubic schedule.
// Prints a table and each layer's sparsity; writes results.json, prune.png (test accuracy against
// sparsity), each pruned model (model_<scope>_<percent>.safetensors) and its fine-tuning log.
//   prune                                          runs/lenet/model.safetensors, 50/75/90%, both scopes
//   prune --sparsity 0.9,0.95,0.98 --scope global --epochs 5
//   prune --help                                   every option (fine-tuning: as train_lenet's)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/train/pruning.hpp>
#include <ctnn/train/trainer.hpp>

#include "digit_reader.hpp"
#include "models.hpp"
#include "training_cli.hpp"

namespace fs = std::filesystem;
using namespace ctnn;
using nlohmann::json;

using examples::LeNet5;  // examples/models.hpp: the net train_lenet saves

constexpr std::size_t batch_capacity = 256;

namespace {

struct PruneCli {
  std::string model = "runs/lenet/model.safetensors";
  std::vector<double> sparsities{0.5, 0.75, 0.9};
  std::vector<std::string> scopes{"layer", "global"};
  bool gradual = false;
  std::size_t train_images = 0;  // 0: the whole training split
};

struct Row {
  std::string scope;
  double target = 0;
  std::vector<LayerSparsity> layers;
  std::size_t weights = 0, zeros = 0, nonzero_parameters = 0;
  float pruned_accuracy = 0;      // right after pruning at once
  float fine_tuned_accuracy = 0;  // after fine-tuning with the mask
  double seconds = 0;
  std::string model_file;
};

std::string percent_text(double fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%g", 100.0 * fraction);
  return text;
}

Picture chart(const std::vector<Row>& rows, float dense_accuracy, const std::vector<std::string>& scopes,
              bool gradual) {
  LineChart line{.title = "LeNet-5 on the MNIST test set after magnitude pruning",
                 .x_label = "weights pruned (%)",
                 .y_label = "test accuracy (%)",
                 .series = {},
                 .x_range = AxisRange{0, 100},
                 .y_range = std::nullopt,
                 .legend = LegendPosition::bottom_left};
  Series dense{.name = "dense", .x = {0, 100}, .y = {100.0 * dense_accuracy, 100.0 * dense_accuracy}};
  dense.color = colors::black;
  dense.dash = 6;
  line.series.push_back(dense);
  for (std::size_t s = 0; s < scopes.size(); ++s) {
    Series pruned, tuned;
    pruned.name = scopes[s] + ", pruned at once";
    tuned.name = scopes[s] + ", fine-tuned";
    pruned.color = tuned.color = category_colors[s];
    pruned.dash = 4;
    pruned.markers = tuned.markers = true;
    pruned.x = tuned.x = {0};  // both start from the dense net
    pruned.y = tuned.y = {100.0 * dense_accuracy};
    for (const Row& row : rows) {
      if (row.scope != scopes[s]) continue;
      const double x = 100.0 * static_cast<double>(row.zeros) / static_cast<double>(row.weights);
      pruned.x.push_back(100.0 * row.target);
      pruned.y.push_back(100.0 * row.pruned_accuracy);
      tuned.x.push_back(x);
      tuned.y.push_back(100.0 * row.fine_tuned_accuracy);
    }
    line.series.push_back(pruned);
    line.series.push_back(tuned);
  }
  // The fine-tuned accuracies are what differ; a net pruned at once can fall far below them and
  // off the chart (the table has every figure).
  double low = 100.0 * dense_accuracy;
  for (const Row& row : rows) low = std::min(low, 100.0 * row.fine_tuned_accuracy);
  line.y_range = AxisRange{std::floor(low) - 1, 100};
  if (gradual) line.title += " (gradual)";
  return draw_line_chart(line);
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  // Fine-tuning: a few epochs of train_lenet's recipe at a fifth of its peak rate, cosine to zero.
  examples::TrainingCli cli;
  cli.output = "runs/prune";
  cli.trainer.epochs = 3;
  cli.trainer.batch_size = 64;
  cli.schedule = "cosine";
  cli.trainer.schedule.learning_rate = 0.01f;
  cli.trainer.augmentation.affine = {.max_rotation_degrees = 8, .max_scale_change = 0.08f, .max_translation_pixels = 2};
  PruneCli prune;
  if (const auto exit_status = examples::parse_training_options(
          cli, "Prune a trained LeNet-5 by weight magnitude to each sparsity, fine-tune it, and test it.", argc, argv,
          [&prune](CLI::App& app) {
            app.add_option("--model", prune.model, "Trained LeNet-5 (train_lenet's model.safetensors)")
                ->capture_default_str();
            app.add_option("--sparsity", prune.sparsities, "Shares of the Conv and Dense weights to prune")
                ->delimiter(',')
                ->check(CLI::Range(0.0, 1.0))
                ->capture_default_str();
            app.add_option("--scope", prune.scopes,
                           "layer: each layer loses that share; global: the smallest weights of the whole net")
                ->delimiter(',')
                ->check(CLI::IsMember({"layer", "global"}))
                ->capture_default_str();
            app.add_flag("--gradual", prune.gradual,
                         "Prune during fine-tuning, from 0 to the target along Zhu & Gupta's cubic schedule over "
                         "all epochs but the last, instead of at once before it");
            app.add_option("--train-images", prune.train_images,
                           "Fine-tune on the first N training images only (0: all)")
                ->capture_default_str();
          }))
    return *exit_status;
  const fs::path output = cli.output;
  // Each fine-tuning starts afresh from the trained model: no checkpoint to resume, and the last
  // epoch's weights (an earlier, better one could be less sparse under --gradual).
  cli.trainer.checkpoint.clear();
  cli.trainer.resume = false;
  cli.trainer.early_stopping = {};
  cli.trainer.early_stopping.restore_best = false;

  json document;
  std::vector<Row> rows;
  float dense_accuracy = 0;
  std::size_t train_images = 0;
  examples::with_model<LeNet5>(prune.model, [&](LeNet5& dense, const ModelInfo& info) {
    examples::require_digit_classes<LeNet5>(prune.model, info);
    const Normalization normalization = info.normalization;  // as the model was trained
    auto data = examples::load_data(examples::DataSet::mnist, cli);
    if (prune.train_images > 0 && prune.train_images < data.train.size()) {
      std::vector<std::size_t> first(prune.train_images);
      for (std::size_t i = 0; i < first.size(); ++i) first[i] = i;
      data.train = subset(data.train, first, data.train.name + " (first " + std::to_string(first.size()) + ")");
    }
    train_images = data.train.size();
    Workspace<LeNet5, batch_capacity> workspace;
    dense_accuracy = evaluate(dense, workspace, data.test, normalization).accuracy;
    std::printf("%s: %s, test accuracy %.2f%%\n\n", prune.model.c_str(), LeNet5::signature().c_str(),
                100.0 * dense_accuracy);

    for (const std::string& scope_name : prune.scopes) {
      const PruningScope scope = scope_name == "global" ? PruningScope::global : PruningScope::per_layer;
      for (const double target : prune.sparsities) {
        std::printf("-- %s pruning to %s%%\n", scope_name.c_str(), percent_text(target).c_str());
        Row row;
        row.scope = scope_name;
        row.target = target;
        const std::string name = scope_name + "_" + percent_text(target);
        LeNet5 net(dense);
        examples::with_optimizer(cli, net, [&](auto& optimizer) {
          // Pruned at once: measured right away, and the start of fine-tuning unless --gradual.
          LeNet5 at_once(dense);
          UpdateMask<LeNet5> at_once_mask;
          prune_by_magnitude(at_once, at_once_mask, target, scope);
          row.pruned_accuracy = evaluate(at_once, workspace, data.test, normalization).accuracy;
          if (!prune.gradual) {
            net = at_once;
            optimizer.mask = at_once_mask;
          }

          // Zhu & Gupta: ten pruning steps per epoch over all epochs but the last, which recovers.
          const double ramp_epochs = std::max(1.0, static_cast<double>(cli.trainer.epochs) - 1.0);
          double sparsity_now = 0;
          const auto prune_gradually = [&](auto&, double epochs_done, std::uint64_t) {
            if (!prune.gradual) return;
            const double progress = std::floor(epochs_done * 10.0) / (ramp_epochs * 10.0);
            const double sparsity = gradual_sparsity(0.0, target, progress);
            if (sparsity == sparsity_now) return;
            prune_by_magnitude(net, optimizer.mask, sparsity, scope);
            sparsity_now = sparsity;
          };
          TrainerOptions options = cli.trainer;
          options.log_csv = output / ("finetune_" + name + ".csv");
          options.log_json.clear();
          const TrainReport report = Trainer(net, optimizer, workspace, options)
                                         .run(data.train, data.validation, normalization, prune_gradually);
          row.seconds = report.seconds;
        });
        row.fine_tuned_accuracy = evaluate(net, workspace, data.test, normalization).accuracy;
        row.layers = weight_sparsity(net);
        for (const LayerSparsity& layer : row.layers) row.weights += layer.weights, row.zeros += layer.zeros;
        row.nonzero_parameters = nonzero_parameters(net);
        row.model_file = (output / ("model_" + name + ".safetensors")).string();
        save_model(
            net, row.model_file,
            {.normalization = normalization,
             .class_names = info.class_names,
             .extra = {{"pruned_from", prune.model}, {"pruning", scope_name + " " + percent_text(target) + "%"}}});
        rows.push_back(row);
      }
    }
  });

  // The table: sparsity over the pruned weights, parameters left, accuracy before and after.
  std::printf("\nprune: LeNet-5 (%zu parameters), dense test accuracy %.2f%%; fine-tuning %zu epochs%s\n\n",
              LeNet5::param_count, 100.0 * dense_accuracy, cli.trainer.epochs,
              prune.gradual ? ", pruning gradually" : "");
  std::printf("%-7s %7s %8s %11s %10s %11s %9s\n", "scope", "target", "actual", "nonzero", "pruned", "fine-tuned",
              "change");
  for (const Row& row : rows)
    std::printf("%-7s %6s%% %7.2f%% %11zu %9.2f%% %10.2f%% %+8.2f\n", row.scope.c_str(),
                percent_text(row.target).c_str(),
                100.0 * static_cast<double>(row.zeros) / static_cast<double>(row.weights), row.nonzero_parameters,
                100.0 * row.pruned_accuracy, 100.0 * row.fine_tuned_accuracy,
                100.0 * (row.fine_tuned_accuracy - dense_accuracy));
  std::printf("\nweights pruned per layer (%%):\n%-7s %7s", "scope", "target");
  for (const LayerSparsity& layer : rows.front().layers) std::printf(" %20s", layer.label.c_str());
  std::printf("\n");
  for (const Row& row : rows) {
    std::printf("%-7s %6s%%", row.scope.c_str(), percent_text(row.target).c_str());
    for (const LayerSparsity& layer : row.layers) std::printf(" %19.2f%%", 100.0 * layer.sparsity());
    std::printf("\n");
  }

  json results = json::array();
  for (const Row& row : rows) {
    json layers = json::array();
    for (const LayerSparsity& layer : row.layers)
      layers.push_back({{"layer", layer.layer},
                        {"label", layer.label},
                        {"weights", layer.weights},
                        {"zeros", layer.zeros},
                        {"sparsity", layer.sparsity()}});
    results.push_back({{"scope", row.scope},
                       {"target_sparsity", row.target},
                       {"sparsity", static_cast<double>(row.zeros) / static_cast<double>(row.weights)},
                       {"prunable_weights", row.weights},
                       {"pruned_weights", row.zeros},
                       {"nonzero_parameters", row.nonzero_parameters},
                       {"pruned_test_accuracy", row.pruned_accuracy},
                       {"fine_tuned_test_accuracy", row.fine_tuned_accuracy},
                       {"fine_tune_seconds", row.seconds},
                       {"model", row.model_file},
                       {"layers", layers}});
  }
  document = {{"program", "prune"},
              {"model", prune.model},
              {"network", LeNet5::signature()},
              {"param_count", LeNet5::param_count},
              {"dense_test_accuracy", dense_accuracy},
              {"fine_tuning",
               {{"epochs", cli.trainer.epochs},
                {"optimizer", cli.optimizer},
                {"learning_rate", cli.trainer.schedule.learning_rate},
                {"schedule", cli.schedule},
                {"gradual", prune.gradual},
                {"train_images", train_images},
                {"seed", cli.trainer.seed}}},
              {"results", results},
              {"wall_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  write_file_atomically(output / "results.json", document.dump(2) + "\n");
  save_png(chart(rows, dense_accuracy, prune.scopes, prune.gradual), output / "prune.png");
  std::printf("\nresults: %s, chart: %s\n", (output / "results.json").c_str(), (output / "prune.png").c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "prune: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
