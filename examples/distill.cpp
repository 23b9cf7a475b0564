// Knowledge distillation (Hinton, Vinyals & Dean 2015; include/ctnn/train/distillation.hpp): a
// LeNet-5 student learns from the best MNIST net's probabilities softened by a temperature T as
// well as from the labels, loss = alpha T^2 KL(teacher_T || student_T) + (1 - alpha) CE(label).
// The same student is trained alone for comparison, and the comparison is fair: for each seed both
// runs start from the same weights and see the same images in the same order with the same
// augmentation, schedule and epochs; only the loss differs. Prints the test accuracies and the
// gain per seed and on average; writes results.json, distill.png (validation accuracy per epoch),
// and each student's model and training log.
//   distill                       teacher runs/mnist_best/model.safetensors (train_mnist_best makes it)
//   distill --temperature 4 --alpha 0.9 --seeds 1,2,3 --epochs 12
//   distill --help                every option (the student's training: as train_lenet's)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/train/distillation.hpp>
#include <ctnn/train/trainer.hpp>

#include "digit_reader.hpp"
#include "models.hpp"
#include "training_cli.hpp"

namespace fs = std::filesystem;
using namespace ctnn;
using nlohmann::json;

using examples::BestNet;  // the teacher: train_mnist_best's net (examples/models.hpp)
using examples::LeNet5;   // the student: train_lenet's

constexpr std::size_t batch_capacity = 256;

namespace {

struct DistillCli {
  std::string teacher = "runs/mnist_best/model.safetensors";
  // Chosen on the validation split (10,000 training images, 6 epochs) among T = 1, 2, 4, 8 at
  // alpha 0.9 and T = 4 at alpha 0.5; the differences were within a few validation images.
  DistillationOptions distillation{.temperature = 4.0f, .alpha = 0.5f};
  std::vector<std::uint64_t> seeds{1, 2};
  std::size_t train_images = 0;  // 0: the whole training split
};

struct Run {
  TrainReport report;
  float test_accuracy = 0, test_loss = 0;
};

json run_figures(const Run& run, const fs::path& model) {
  json validation = json::array();
  for (const EpochRecord& record : run.report.history) validation.push_back(record.validation_accuracy);
  return {{"test_accuracy", run.test_accuracy},
          {"test_loss", run.test_loss},
          {"validation_accuracy_per_epoch", validation},
          {"train_seconds", run.report.seconds},
          {"model", model.string()}};
}

Picture chart(const std::vector<Run>& alone, const std::vector<Run>& distilled, const std::vector<std::uint64_t>& seeds,
              float teacher_accuracy) {
  char title[80];
  std::snprintf(title, sizeof title, "LeNet-5 alone and distilled from a %.2f%% teacher", 100.0 * teacher_accuracy);
  LineChart line{.title = title,
                 .x_label = "epoch",
                 .y_label = "validation accuracy (%)",
                 .series = {},
                 .x_range = std::nullopt,
                 .y_range = std::nullopt,
                 .legend = LegendPosition::bottom_right};
  for (std::size_t s = 0; s < seeds.size(); ++s) {
    const std::string seed = " (seed " + std::to_string(seeds[s]) + ")";
    Series solo, taught;
    solo.name = "alone" + seed;
    taught.name = "distilled" + seed;
    solo.color = category_colors[0];
    taught.color = category_colors[1];
    solo.dash = s ? 3 + 3 * static_cast<int>(s) : 0;
    taught.dash = solo.dash;
    solo.markers = taught.markers = true;
    for (std::size_t e = 0; e < alone[s].report.history.size(); ++e) {
      solo.x.push_back(static_cast<double>(e + 1));
      solo.y.push_back(100.0 * alone[s].report.history[e].validation_accuracy);
    }
    for (std::size_t e = 0; e < distilled[s].report.history.size(); ++e) {
      taught.x.push_back(static_cast<double>(e + 1));
      taught.y.push_back(100.0 * distilled[s].report.history[e].validation_accuracy);
    }
    line.series.push_back(solo);
    line.series.push_back(taught);
  }
  // The first epochs are far below the rest: the picture starts where the runs become comparable.
  double low = 100;
  for (const Series& series : line.series)
    for (std::size_t e = series.y.size() / 3; e < series.y.size(); ++e) low = std::min(low, series.y[e]);
  line.y_range = AxisRange{std::min(std::floor(low * 2) / 2, 99.0), 100};
  line.x_range = AxisRange{0, std::max<double>(1, static_cast<double>(alone.front().report.history.size()))};
  return draw_line_chart(line);
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  // The student's training is train_lenet's: 12 epochs, one-cycle to 0.05, light augmentation.
  examples::TrainingCli cli;
  cli.output = "runs/distill";
  cli.trainer.epochs = 12;
  cli.trainer.batch_size = 64;
  cli.trainer.schedule.learning_rate = 0.05f;
  cli.trainer.augmentation.affine = {.max_rotation_degrees = 8, .max_scale_change = 0.08f, .max_translation_pixels = 2};
  DistillCli distill;
  if (const auto exit_status = examples::parse_training_options(
          cli, "Distill the best MNIST net into LeNet-5 and compare with LeNet-5 trained alone.", argc, argv,
          [&distill](CLI::App& app) {
            app.add_option("--teacher", distill.teacher, "The teacher: train_mnist_best's model.safetensors")
                ->capture_default_str();
            app.add_option("--temperature", distill.distillation.temperature, "Softmax temperature T of both nets")
                ->check(CLI::PositiveNumber)
                ->capture_default_str();
            app.add_option("--alpha", distill.distillation.alpha, "Weight of the teacher's term (1 - alpha: labels)")
                ->check(CLI::Range(0.0f, 1.0f))
                ->capture_default_str();
            app.add_option("--seeds", distill.seeds,
                           "Training seeds: one pair of runs (alone, distilled) each; --seed picks the data split")
                ->delimiter(',')
                ->capture_default_str();
            app.add_option("--train-images", distill.train_images,
                           "Train both students on the first N training images only (0: all)")
                ->capture_default_str();
          }))
    return *exit_status;
  const fs::path output = cli.output;
  cli.trainer.checkpoint.clear();  // several runs: none resumes another's checkpoint
  cli.trainer.resume = false;
  if (distill.seeds.empty()) throw std::invalid_argument("--seeds names no seed");

  // The teacher, with the normalization it was trained with; the student's is its own split's.
  if (!fs::exists(distill.teacher))
    throw std::runtime_error(distill.teacher +
                             ": no such file; make the teacher first with build/release/examples/train_mnist_best "
                             "(about 8 minutes on 2 cores), or name another with --teacher");
  BestNet teacher;
  const ModelInfo teacher_info = load_model(teacher, distill.teacher);
  examples::require_digit_classes<BestNet>(distill.teacher, teacher_info);
  auto data = examples::load_data(examples::DataSet::mnist, cli);
  if (distill.train_images > 0 && distill.train_images < data.train.size()) {
    std::vector<std::size_t> first(distill.train_images);
    for (std::size_t i = 0; i < first.size(); ++i) first[i] = i;
    data.train = subset(data.train, first, data.train.name + " (first " + std::to_string(first.size()) + ")");
  }
  const float teacher_accuracy = [&] {
    Workspace<BestNet, 64> teacher_workspace;
    return evaluate(teacher, teacher_workspace, data.test, teacher_info.normalization).accuracy;
  }();
  std::printf("teacher %s: %zu parameters, test accuracy %.2f%%\nstudent: %s, %zu parameters\n",
              distill.teacher.c_str(), BestNet::param_count, 100.0 * teacher_accuracy, LeNet5::signature().c_str(),
              LeNet5::param_count);
  std::printf("distillation: temperature %g, alpha %g\n", static_cast<double>(distill.distillation.temperature),
              static_cast<double>(distill.distillation.alpha));

  // For each seed, the student alone and distilled: same seed, so same weights, order and augmentation.
  Workspace<LeNet5, batch_capacity> workspace;
  std::vector<Run> alone, distilled;
  const auto train = [&](std::uint64_t seed, bool taught) {
    std::printf("\n-- seed %llu, %s\n", static_cast<unsigned long long>(seed), taught ? "distilled" : "alone");
    TrainerOptions options = cli.trainer;
    options.seed = seed;
    const std::string name = std::string(taught ? "distilled" : "alone") + "_seed" + std::to_string(seed);
    options.log_csv = output / ("log_" + name + ".csv");
    options.log_json.clear();
    LeNet5 net(seed);
    Run run;
    run.report = examples::with_optimizer(cli, net, [&](auto& optimizer) {
      Trainer trainer(net, optimizer, workspace, options);
      if (!taught) return trainer.run(data.train, data.validation, data.normalization);
      Distillation teach(teacher, workspace, distill.distillation, data.normalization, teacher_info.normalization);
      return trainer.run(data.train, data.validation, data.normalization, teach);
    });
    const Evaluation test = evaluate(net, workspace, data.test, data.normalization);
    run.test_accuracy = test.accuracy;
    run.test_loss = test.loss;
    save_model(net, output / ("model_" + name + ".safetensors"),
               {.normalization = data.normalization,
                .class_names = examples::digit_names,
                .extra = {{"teacher", taught ? distill.teacher : std::string("none")}}});
    std::printf("test accuracy %.2f%% (%.1f s)\n", 100.0 * run.test_accuracy, run.report.seconds);
    return run;
  };
  for (const std::uint64_t seed : distill.seeds) {
    alone.push_back(train(seed, false));
    distilled.push_back(train(seed, true));
  }

  std::printf("\ndistill: teacher BestNet %.2f%%; student LeNet-5, %zu epochs, T = %g, alpha = %g\n\n",
              100.0 * teacher_accuracy, cli.trainer.epochs, static_cast<double>(distill.distillation.temperature),
              static_cast<double>(distill.distillation.alpha));
  std::printf("%6s %10s %10s %8s\n", "seed", "alone", "distilled", "gain");
  double alone_sum = 0, distilled_sum = 0;
  json seeds = json::array();
  for (std::size_t s = 0; s < distill.seeds.size(); ++s) {
    const double gain = 100.0 * (distilled[s].test_accuracy - alone[s].test_accuracy);
    std::printf("%6llu %9.2f%% %9.2f%% %+8.2f\n", static_cast<unsigned long long>(distill.seeds[s]),
                100.0 * alone[s].test_accuracy, 100.0 * distilled[s].test_accuracy, gain);
    alone_sum += alone[s].test_accuracy;
    distilled_sum += distilled[s].test_accuracy;
    const std::string suffix = "_seed" + std::to_string(distill.seeds[s]) + ".safetensors";
    seeds.push_back({{"seed", distill.seeds[s]},
                     {"alone", run_figures(alone[s], output / ("model_alone" + suffix))},
                     {"distilled", run_figures(distilled[s], output / ("model_distilled" + suffix))},
                     {"gain_points", gain}});
  }
  const double count = static_cast<double>(distill.seeds.size());
  const double mean_gain = 100.0 * (distilled_sum - alone_sum) / count;
  std::printf("%6s %9.2f%% %9.2f%% %+8.2f\n", "mean", 100.0 * alone_sum / count, 100.0 * distilled_sum / count,
              mean_gain);

  const json document{
      {"program", "distill"},
      {"teacher",
       {{"model", distill.teacher},
        {"network", BestNet::signature()},
        {"param_count", BestNet::param_count},
        {"test_accuracy", teacher_accuracy}}},
      {"student", {{"network", LeNet5::signature()}, {"param_count", LeNet5::param_count}}},
      {"temperature", distill.distillation.temperature},
      {"alpha", distill.distillation.alpha},
      {"epochs", cli.trainer.epochs},
      {"data_seed", cli.trainer.seed},
      {"train_images", data.train.size()},
      {"runs", seeds},
      {"mean_alone_test_accuracy", alone_sum / count},
      {"mean_distilled_test_accuracy", distilled_sum / count},
      {"mean_gain_points", mean_gain},
      {"wall_seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  write_file_atomically(output / "results.json", document.dump(2) + "\n");
  save_png(chart(alone, distilled, distill.seeds, teacher_accuracy), output / "distill.png");
  std::printf("\nresults: %s, chart: %s\n", (output / "results.json").c_str(), (output / "distill.png").c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "distill: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
