// What the example trainers share: their command-line options and the results file. The
// option parsing (CLI11) and the data split are compiled once, in support/training_cli.cpp, so that
// a trainer's own translation unit holds little more than its network; the training flow itself
// stays in each program's main, where a reader can follow it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/train/trainer.hpp>

namespace CLI {
class App;
}

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

// Parses the command line into `cli`, whose values on entry are the program's defaults, then
// applies it: schedule kind, thread count, output folder (created) and the checkpoint and log
// paths in it. Returns the exit status when the program should stop here (--help: 0, a bad
// option: non-zero, after printing why), nothing when it should go on.
// add_options, when given, adds the program's own options to the CLI11 app.
std::optional<int> parse_training_options(TrainingCli& cli, const std::string& description, int argc, char** argv,
                                          const std::function<void(CLI::App&)>& add_options = {});

// A training set split into training and validation images, the test set, and the input
// normalization computed on the training images alone.
struct DataSplits {
  ctnn::Dataset train, validation, test;
  ctnn::Normalization normalization;
};

enum class DataSet { mnist, fashion_mnist };

// Loads `data_set`'s training and test images from --data (or the documented search: CTNN_DATA,
// data/, ../shared/data, the system folder), holds out --validation training images, chosen by
// --seed, and computes the normalization on the rest.
DataSplits load_data(DataSet data_set, const TrainingCli& cli);

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
void report_results(const std::filesystem::path& output, const std::string& program, const std::string& network,
                    std::size_t param_count, const ctnn::TrainReport& report, const ctnn::Evaluation& test,
                    double wall_seconds);

}  // namespace examples
