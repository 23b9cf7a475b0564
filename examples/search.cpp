// Hyper-parameter search on MNIST (include/ctnn/train/search.hpp): a grid and a random search
// over the learning rate, batch size, momentum, weight decay, dropout and augmentation strength,
// then a search over network types, each trial trained briefly on a subset of the training split
// and scored on the validation split. The best trial is retrained on the whole training split
// and tested once. Writes trials.json, trials.csv, best.json, search.png (validation accuracy
// against learning rate and augmentation strength), the final model and its training log.
//   search                                          the default run: 96 grid + 32 random trials,
//                                                   2 other networks, then 15 epochs of the best
//   search --strategy random --trials 60 --epochs 3
//   search --help
//
// Dropout's rate is part of a network's type in ctnn (Dropout<std::ratio<1, 4>>), so the dropout
// axis is a choice among LeNet-5 compiled three times, with no dropout, 1/4 and 1/2 before its
// last layer: a trial's dropout value picks which of the three it trains. Every other
// hyper-parameter is a run-time value.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <ratio>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/train/search.hpp>
#include <ctnn/train/trainer.hpp>

#include "digit_reader.hpp"
#include "models.hpp"
#include "training_cli.hpp"

namespace fs = std::filesystem;
using namespace ctnn;
using nlohmann::json;

namespace {

// The networks, from input to output; the first three are the LeNet-5 family the run-time search
// trains (examples/models.hpp), the other two are the architecture axis's smaller and wider nets.
using LeNet5 = examples::LeNet5;
using LeNet5Dropout25 =
    Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dropout<std::ratio<1, 4>>, Dense<10>>::bind<Shape<1, 28, 28>>;
using LeNet5Dropout50 =
    Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dropout<std::ratio<1, 2>>, Dense<10>>::bind<Shape<1, 28, 28>>;
// Fewer filters than LeNet-5 (4 and 8), a second pooling and 32 units: 5,370 parameters.
using SmallNet = Net<Conv<4, 5>, MaxPool<2>, Conv<8, 5>, MaxPool<2>, Dense<32>, Dense<10>>::bind<Shape<1, 28, 28>>;
// More than twice LeNet-5's filters and units: 540,362 parameters.
using WideNet = Net<Conv<16, 5>, MaxPool<2>, Conv<32, 5>, Dense<256>, Dense<10>>::bind<Shape<1, 28, 28>>;
static_assert(SmallNet::param_count == 5'370 && LeNet5::param_count == 126'782 && WideNet::param_count == 540'362);

using Networks = Architectures<LeNet5, LeNet5Dropout25, LeNet5Dropout50, SmallNet, WideNet>;
struct NetworkInfo {
  std::string_view name;
  double dropout;  // the rate compiled into the type
  bool lenet_family;
};
constexpr std::array<NetworkInfo, Networks::size> networks{{{"lenet5", 0, true},
                                                            {"lenet5+dropout", 0.25, true},
                                                            {"lenet5+dropout", 0.5, true},
                                                            {"small", 0, false},
                                                            {"wide", 0, false}}};

// Mini-batches up to 256 images; a trial's batch size is any size up to it.
constexpr std::size_t batch_capacity = 256;

// The augmentation at strength 1: train_lenet's (rotation, scale and translation); strength s
// scales every range by s, and 0 is none.
Augmentation augmentation_at(double strength) {
  const auto s = static_cast<float>(strength);
  Augmentation augmentation;
  augmentation.affine = {.max_rotation_degrees = 8 * s, .max_scale_change = 0.08f * s, .max_translation_pixels = 2 * s};
  return augmentation;
}

struct Options {
  std::string data_root;  // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output = "runs/search";
  std::string strategy = "both";
  std::size_t trials = 32;  // random trials
  std::size_t epochs = 2;   // per trial
  std::size_t train_limit = 12'000;
  std::size_t validation = 5000;
  bool architectures = true;
  std::size_t final_epochs = 15;
  std::size_t final_limit = 0;  // 0: the whole training split
  std::uint64_t seed = 1;
  int threads = 0;
};

// What a trial trains with, read from a configuration of the space below (its dropout picks the
// network instead).
struct HyperParameters {
  float learning_rate;
  std::size_t batch_size;
  float momentum, weight_decay;
  double augmentation;

  explicit HyperParameters(const Configuration& c)
      : learning_rate(static_cast<float>(c["learning_rate"])),
        batch_size(static_cast<std::size_t>(c["batch_size"])),
        momentum(static_cast<float>(c["momentum"])),
        weight_decay(static_cast<float>(c["weight_decay"])),
        augmentation(c["augmentation"]) {}
};

// Trains `net` with SGD (Nesterov momentum, L2 weight decay) under a one-cycle schedule peaking
// at the learning rate, keeping the weights of its best validation epoch.
template <class NetType>
TrainReport fit(NetType& net, Workspace<NetType, batch_capacity>& workspace, const HyperParameters& hyper,
                const Dataset& train, const Dataset& validation, Normalization normalization, std::size_t epochs,
                std::uint64_t seed, const fs::path& log_folder = {}) {
  TrainerOptions trainer;
  trainer.epochs = epochs;
  trainer.batch_size = hyper.batch_size;
  trainer.schedule = {.kind = Schedule::Kind::one_cycle, .learning_rate = hyper.learning_rate};
  trainer.augmentation = augmentation_at(hyper.augmentation);
  trainer.seed = seed;
  if (!log_folder.empty()) {
    trainer.log_csv = log_folder / "log.csv";
    trainer.log_json = log_folder / "log.json";
  }
  Sgd optimizer(net, {.learning_rate = hyper.learning_rate,
                      .momentum = hyper.momentum,
                      .nesterov = true,
                      .weight_decay = hyper.weight_decay});
  return Trainer(net, optimizer, workspace, trainer).run(train, validation, normalization);
}

std::string format(const char* pattern, double value) {
  char text[32];
  std::snprintf(text, sizeof text, pattern, value);
  return text;
}

std::string architecture_name(std::size_t index) {
  const NetworkInfo& info = networks[index];
  return std::string(info.name) + (info.dropout > 0 ? format("%g", info.dropout) : "");
}

// The network a configuration trains: the LeNet-5 compiled with its dropout.
std::size_t lenet_with_dropout(double dropout) {
  for (std::size_t index = 0; index < networks.size(); ++index)
    if (networks[index].lenet_family && networks[index].dropout == dropout) return index;
  throw std::invalid_argument(std::string("no LeNet-5 is compiled with dropout ") + format("%g", dropout));
}

std::string table(const std::vector<Trial>& ranked) {
  std::string text;
  char line[256];
  std::snprintf(line, sizeof line, "%4s  %-12s %-20s %9s %5s %8s %9s %7s %7s %8s %8s %7s\n", "rank", "strategy",
                "architecture", "lr", "batch", "momentum", "wd", "dropout", "augment", "val acc", "val loss",
                "seconds");
  text += line;
  for (std::size_t rank = 0; rank < ranked.size(); ++rank) {
    const Trial& trial = ranked[rank];
    const Configuration& c = trial.configuration;
    std::snprintf(line, sizeof line, "%4zu  %-12s %-20s %9.5f %5.0f %8.3f %9.2e %7.2f %7.2f %7.2f%% %8.4f %7.1f\n",
                  rank + 1, trial.strategy.c_str(), trial.architecture.c_str(), c["learning_rate"], c["batch_size"],
                  c["momentum"], c["weight_decay"], c["dropout"], c["augmentation"], 100.0 * trial.score, trial.loss,
                  trial.seconds);
    text += line;
  }
  return text;
}

json to_json(const Configuration& configuration) {
  json object = json::object();
  for (const Setting& setting : configuration.settings) object[setting.name] = setting.value;
  return object;
}

json to_json(const Parameter& parameter) {
  static constexpr std::array<const char*, 3> kinds{"choice", "uniform", "log_uniform"};
  json object{{"name", parameter.name},
              {"kind", kinds[static_cast<std::size_t>(parameter.kind)]},
              {"grid", parameter.grid_values()}};
  if (parameter.kind == Parameter::Kind::choice)
    object["choices"] = parameter.choices;
  else
    object["range"] = {parameter.low, parameter.high};
  return object;
}

json to_json(const Trial& trial, std::size_t rank) {
  const bool failed = std::isnan(trial.score);
  return {{"rank", rank},
          {"id", trial.id},
          {"strategy", trial.strategy},
          {"architecture", trial.architecture},
          {"configuration", to_json(trial.configuration)},
          {"validation_accuracy", failed ? json(nullptr) : json(trial.score)},
          {"validation_loss", failed ? json(nullptr) : json(trial.loss)},
          {"failed", failed},
          {"seconds", trial.seconds}};
}

// One row per trial, best first; a failed trial's score and loss are empty.
std::string csv(const std::vector<Trial>& ranked) {
  std::ostringstream out;
  out.precision(9);
  out << "rank,id,strategy,architecture";
  for (const Setting& setting : ranked.front().configuration.settings) out << ',' << setting.name;
  out << ",validation_accuracy,validation_loss,seconds\n";
  for (std::size_t rank = 0; rank < ranked.size(); ++rank) {
    const Trial& trial = ranked[rank];
    out << rank + 1 << ',' << trial.id << ',' << trial.strategy << ',' << trial.architecture;
    for (const Setting& setting : trial.configuration.settings) out << ',' << setting.value;
    out << ',';
    if (!std::isnan(trial.score)) out << trial.score;
    out << ',';
    if (!std::isnan(trial.loss)) out << trial.loss;
    out << ',' << trial.seconds << '\n';
  }
  return out.str();
}

// Validation accuracy against one hyper-parameter, a point per trial, a color per strategy. The
// accuracy axis spans at most 5 points below the best trial, so that a few poor trials do not
// flatten the rest (the title counts those left off), and a point or so above it, where the
// legend sits.
Picture scatter(const std::vector<Trial>& trials, const std::string& parameter, const std::string& x_label,
                bool log_scale) {
  const std::array<std::string, 3> strategies{"grid", "random", "architecture"};
  double best = 0, lowest = 100;
  for (const Trial& trial : trials)
    if (!std::isnan(trial.score)) {
      best = std::max(best, 100.0 * trial.score);
      lowest = std::min(lowest, 100.0 * trial.score);
    }
  const double bottom = std::floor(std::max(lowest, best - 5)),
               top = std::max(bottom + 1, std::min(100.0, std::ceil(best + 1)));
  std::size_t below = 0;
  std::vector<Series> series;
  for (std::size_t s = 0; s < strategies.size(); ++s) {
    bool named = false;
    for (const Trial& trial : trials) {
      if (trial.strategy != strategies[s] || std::isnan(trial.score)) continue;
      below += 100.0 * trial.score < bottom;
      const double x = trial.configuration[parameter];
      series.push_back({.name = named ? "" : strategies[s],
                        .x = {log_scale ? std::log10(x) : x},
                        .y = {100.0 * trial.score},
                        .color = category_colors[s],
                        .markers = true});
      named = true;
    }
  }
  std::string title = "trials by " + x_label;
  if (below > 0) title += std::string(" (") + std::to_string(below) + " under " + format("%g", bottom) + "%)";
  return draw_line_chart({.title = title,
                          .x_label = log_scale ? "log10 " + x_label : x_label,
                          .y_label = "validation accuracy (%)",
                          .series = series,
                          .x_range = std::nullopt,
                          .y_range = AxisRange{bottom, top},
                          .legend = LegendPosition::top_right,
                          .width = 640,
                          .height = 480});
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  Options options;
  CLI::App app(
      "Grid and random search over LeNet-5's training hyper-parameters and over network types on MNIST, "
      "scored on the validation split; the best trial is retrained on the whole training split and tested once.");
  app.add_option("--data", options.data_root, "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", options.output, "Folder for trials.json, trials.csv, best.json, search.png, the model")
      ->capture_default_str();
  app.add_option("--strategy", options.strategy, "grid, random or both")
      ->check(CLI::IsMember({"grid", "random", "both"}))
      ->capture_default_str();
  app.add_option("--trials", options.trials, "Random-search trials")->capture_default_str();
  app.add_option("--epochs", options.epochs, "Training epochs of each trial")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--train-limit", options.train_limit, "Training images of each trial (0: the whole training split)")
      ->capture_default_str();
  app.add_option("--validation", options.validation, "Training images held out for validation")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--architectures", options.architectures,
                 "Also train the other networks with the best hyper-parameters (true/false)")
      ->capture_default_str();
  app.add_option("--final-epochs", options.final_epochs, "Training epochs of the best trial's retraining")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--final-limit", options.final_limit, "Training images of the retraining (0: the whole split)")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the split, the subset, the random search and every trial")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP threads (0: all cores)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
#ifdef _OPENMP
  if (options.threads > 0) omp_set_num_threads(options.threads);
#endif
  if (options.strategy == "random" && options.trials == 0)
    throw std::invalid_argument("--strategy random with --trials 0 has no trial to run");
  const fs::path output = options.output;

  // The search space. The random search draws from the ranges and choices; the grid takes the
  // listed values, 3 x 2 x 2 x 2 x 2 x 2 = 96 configurations. Scale parameters are log-uniform.
  const SearchSpace space{
      Parameter::log_uniform("learning_rate", 0.005, 0.3, {0.01, 0.04, 0.15}),
      Parameter::choice("batch_size", {32, 64, 128, 256}, {32, 128}),
      Parameter::uniform("momentum", 0.5, 0.95, {0.8, 0.9}),
      Parameter::log_uniform("weight_decay", 1e-6, 1e-2, {1e-5, 1e-3}),
      Parameter::choice("dropout", {0, 0.25, 0.5}, {0, 0.5}),
      Parameter::uniform("augmentation", 0, 1.5, {0, 1}),
  };

  // MNIST: `validation` training images held out, the rest the training split; each trial trains
  // on the same random `train_limit` of them, and every trial starts from the same seed, so two
  // trials differ only by their hyper-parameters.
  examples::TrainingCli data_options;
  data_options.data_root = options.data_root;
  data_options.validation = options.validation;
  data_options.trainer.seed = options.seed;
  const examples::DataSplits data = examples::load_data(examples::DataSet::mnist, data_options);
  const auto random_part = [&](std::size_t limit, std::uint64_t stream) -> std::optional<Dataset> {
    if (limit == 0 || limit >= data.train.size()) return std::nullopt;
    std::vector<std::size_t> indices = shuffled_indices(data.train.size(), derive_seed(options.seed, stream));
    indices.resize(limit);
    std::sort(indices.begin(), indices.end());
    return subset(data.train, indices, "MNIST train subset");
  };
  const std::optional<Dataset> trial_part = random_part(options.train_limit, 1);
  const Dataset& trial_train = trial_part ? *trial_part : data.train;

  // One trial: train the network at `index` with `configuration`, score it on the validation split.
  std::vector<Trial> trials;
  const auto run_trial = [&](const std::string& strategy, std::size_t index, const Configuration& configuration) {
    Trial trial{.id = trials.size(),
                .strategy = strategy,
                .architecture = architecture_name(index),
                .configuration = configuration};
    std::printf("\ntrial %zu (%s): %s, lr %.5f, batch %.0f, momentum %.3f, wd %.2e, dropout %.2f, augmentation %.2f\n",
                trial.id + 1, strategy.c_str(), trial.architecture.c_str(), configuration["learning_rate"],
                configuration["batch_size"], configuration["momentum"], configuration["weight_decay"],
                configuration["dropout"], configuration["augmentation"]);
    const auto trial_start = std::chrono::steady_clock::now();
    Networks::visit(index, [&](auto type) {
      using NetType = typename decltype(type)::type;
      NetType net(options.seed);
      auto workspace = std::make_unique<Workspace<NetType, batch_capacity>>();
      try {
        const TrainReport report = fit(net, *workspace, HyperParameters(configuration), trial_train, data.validation,
                                       data.normalization, options.epochs, options.seed);
        const EpochRecord& best = report.history[report.best_epoch - 1];
        trial.score = best.validation_accuracy;
        trial.loss = best.validation_loss;
      } catch (const TrainingError& error) {
        std::printf("trial %zu failed: %s\n", trial.id + 1, error.what());
      }
    });
    trial.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - trial_start).count();
    trials.push_back(trial);
  };

  // 1. Grid search, then random search, over LeNet-5's hyper-parameters.
  if (options.strategy != "random") {
    const std::vector<Configuration> grid = space.grid();
    std::printf("\ngrid search: %zu configurations\n", grid.size());
    for (const Configuration& configuration : grid)
      run_trial("grid", lenet_with_dropout(configuration["dropout"]), configuration);
  }
  if (options.strategy != "grid") {
    std::printf("\nrandom search: %zu configurations\n", options.trials);
    for (const Configuration& configuration : space.random(options.trials, options.seed))
      run_trial("random", lenet_with_dropout(configuration["dropout"]), configuration);
  }

  // 2. The architecture axis: the other networks, trained with the best LeNet-5 trial's
  // hyper-parameters (their dropout is their own: none).
  if (options.architectures && !trials.empty()) {
    Configuration configuration = rank_trials(trials).front().configuration;
    for (Setting& setting : configuration.settings)
      if (setting.name == "dropout") setting.value = 0;
    for (std::size_t index = 0; index < networks.size(); ++index)
      if (!networks[index].lenet_family) run_trial("architecture", index, configuration);
  }

  const std::vector<Trial> ranked = rank_trials(trials);
  std::printf("\n%s", table(ranked).c_str());
  const Trial& best = ranked.front();
  if (std::isnan(best.score)) throw TrainingError("every trial failed; no configuration to retrain");

  // 3. The best trial retrained on the training split (all of it by default) for longer, then
  // tested once.
  const std::optional<Dataset> final_part = random_part(options.final_limit, 2);
  const Dataset& final_train = final_part ? *final_part : data.train;
  std::size_t best_index = 0;
  while (architecture_name(best_index) != best.architecture) ++best_index;
  std::printf("\nretraining the best trial (%zu, %s) on %zu images for %zu epochs\n", best.id + 1,
              best.architecture.c_str(), final_train.size(), options.final_epochs);
  fs::create_directories(output);
  json final_result;
  Networks::visit(best_index, [&](auto type) {
    using NetType = typename decltype(type)::type;
    NetType net(options.seed);
    auto workspace = std::make_unique<Workspace<NetType, batch_capacity>>();
    const TrainReport report = fit(net, *workspace, HyperParameters(best.configuration), final_train, data.validation,
                                   data.normalization, options.final_epochs, options.seed, output);
    const Evaluation test = evaluate(net, *workspace, data.test, data.normalization);
    save_model(net, output / "model.safetensors",
               {.normalization = data.normalization, .class_names = examples::digit_names, .extra = {}});
    const EpochRecord& chosen = report.history[report.best_epoch - 1];
    final_result = {{"signature", NetType::signature()},
                    {"param_count", NetType::param_count},
                    {"train_images", final_train.size()},
                    {"epochs", options.final_epochs},
                    {"best_epoch", report.best_epoch},
                    {"validation_accuracy", chosen.validation_accuracy},
                    {"validation_loss", chosen.validation_loss},
                    {"test_accuracy", test.accuracy},
                    {"test_loss", test.loss},
                    {"train_seconds", report.seconds}};
  });
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "\nsearch: best %s (trial %zu, validation %.2f%% in the search), retrained: validation %.2f%%, "
      "test accuracy %.2f%% (loss %.4f); %zu trials, wall time %.1f s\n",
      best.architecture.c_str(), best.id + 1, 100.0 * best.score,
      100.0 * final_result["validation_accuracy"].get<double>(), 100.0 * final_result["test_accuracy"].get<double>(),
      final_result["test_loss"].get<double>(), trials.size(), wall);

  json trial_list = json::array();
  for (std::size_t rank = 0; rank < ranked.size(); ++rank) trial_list.push_back(to_json(ranked[rank], rank + 1));
  json parameters = json::array();
  for (const Parameter& parameter : space.parameters()) parameters.push_back(to_json(parameter));
  const json settings{{"strategy", options.strategy},
                      {"random_trials", options.trials},
                      {"epochs", options.epochs},
                      {"train_images", trial_train.size()},
                      {"validation_images", data.validation.size()},
                      {"architectures", options.architectures},
                      {"seed", options.seed}};
  ctnn::write_file_atomically(
      output / "trials.json",
      json{{"program", "search"}, {"settings", settings}, {"space", parameters}, {"trials", trial_list}}.dump(2) +
          "\n");
  ctnn::write_file_atomically(output / "trials.csv", csv(ranked));
  ctnn::write_file_atomically(
      output / "best.json",
      json{{"program", "search"}, {"trial", to_json(best, 1)}, {"final", final_result}, {"wall_seconds", wall}}.dump(
          2) +
          "\n");
  save_png(side_by_side({scatter(trials, "learning_rate", "learning rate", true),
                         scatter(trials, "augmentation", "augmentation strength", false)}),
           output / "search.png");
  std::printf("results: %s, %s, %s, %s\n", (output / "trials.json").c_str(), (output / "trials.csv").c_str(),
              (output / "best.json").c_str(), (output / "search.png").c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "search: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
