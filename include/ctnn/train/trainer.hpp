// The training loop: mini-batch descent over a training set with on-the-fly augmentation, a
// learning-rate schedule, validation after every epoch, early stopping with best-weights restore,
// an atomic checkpoint every epoch, and resume that reproduces an uninterrupted run bit for bit.
//
// Every random choice is a pure function of (seed, epoch, step): the epoch's shuffle, each
// image's augmentation, the dropout masks. A checkpoint therefore needs no generator state, only
// the weights, the optimizer's state, the epoch and the early-stopping record.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/core/net.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/augment.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/train/checkpoint.hpp>
#include <ctnn/train/progress.hpp>
#include <ctnn/train/schedule.hpp>
#include <ctnn/train/training_log.hpp>

namespace ctnn {

// Thrown when training cannot go on: a NaN or infinite loss, or a checkpoint that does not fit.
class TrainingError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct EarlyStopping {
  enum class Monitor { validation_loss, validation_accuracy };
  Monitor monitor = Monitor::validation_accuracy;
  std::size_t patience = 0;  // epochs without improvement before stopping; 0 never stops early
  float min_delta = 0.0f;    // smallest change that counts as an improvement
  bool restore_best = true;  // end with the weights of the best validation epoch
};

struct TrainerOptions {
  std::size_t epochs = 10;
  std::size_t batch_size = 64;  // at most the Workspace capacity
  Schedule schedule;
  EarlyStopping early_stopping;
  Augmentation augmentation;
  float label_smoothing = 0.0f;
  std::uint64_t seed = 1;
  std::filesystem::path checkpoint;  // written atomically after every epoch; empty: none
  bool resume = false;               // continue from `checkpoint` if it exists
  std::filesystem::path log_csv, log_json;
  bool progress = isatty(fileno(stderr)) != 0;  // a live progress line, only on a terminal
  std::size_t stop_after_epochs = 0;            // end this run early, as if interrupted (tests)
};

struct TrainReport {
  std::vector<EpochRecord> history;
  std::size_t best_epoch = 0;  // 1-based; 0 before any epoch
  bool stopped_early = false;
  double seconds = 0;            // wall time of this run (not of earlier, resumed runs)
  double images_per_second = 0;  // training images per second in this run
};

template <class NetType, class Optimizer, class WorkspaceType>
class Trainer {
 public:
  Trainer(NetType& net, Optimizer& optimizer, WorkspaceType& ws, TrainerOptions options)
      : net_(net), optimizer_(optimizer), ws_(ws), options_(std::move(options)) {
    if (options_.batch_size == 0 || options_.batch_size > WorkspaceType::batch_size)
      throw std::invalid_argument("batch size " + std::to_string(options_.batch_size) + " must be in 1.." +
                                  std::to_string(WorkspaceType::batch_size) + " (the workspace capacity)");
  }

  TrainReport run(const Dataset& train_set, const Dataset& validation_set, Normalization normalization) {
    return run(train_set, validation_set, normalization, [](WorkspaceType&, double, std::uint64_t) {});
  }

  // The same, with prepare_batch(ws, epochs_done, seed) called on every training batch once it
  // is loaded into ws and before the step learns from it; epochs_done counts fractional epochs
  // (for a ramp) and seed is the step's own. Adversarial training replaces the images there.
  template <class PrepareBatch>
  TrainReport run(const Dataset& train_set, const Dataset& validation_set, Normalization normalization,
                  PrepareBatch&& prepare_batch) {
    check_input_shape<NetType>(train_set);
    check_input_shape<NetType>(validation_set);
    if (train_set.size() == 0) throw std::invalid_argument(train_set.name + ": the training set is empty");
    if (train_set.channels != 1 && !is_identity(options_.augmentation))
      throw std::invalid_argument("augmentation works on single-channel images");

    TrainingState state;
    if (options_.resume && !options_.checkpoint.empty() && std::filesystem::exists(options_.checkpoint))
      state = load_checkpoint(options_.checkpoint, net_, optimizer_, best_);
    ws_.loss.label_smoothing = options_.label_smoothing;

    TrainReport report;
    report.history = state.history;
    const auto run_start = std::chrono::steady_clock::now();
    std::size_t images_this_run = 0;
    const std::size_t image_size = train_set.image_size();
    const std::size_t steps = (train_set.size() + options_.batch_size - 1) / options_.batch_size;
    std::vector<float> pixels(options_.batch_size * image_size);
    std::vector<std::uint8_t> labels(options_.batch_size);
    Progress progress(options_.progress);

    const std::size_t first_epoch = state.epochs_done;
    for (std::size_t epoch = first_epoch; epoch < options_.epochs && !state.stopped; ++epoch) {
      if (options_.stop_after_epochs && epoch - first_epoch >= options_.stop_after_epochs) break;
      const auto epoch_start = std::chrono::steady_clock::now();
      const auto order = shuffled_indices(train_set.size(), derive_seed(options_.seed, epoch));
      double loss_sum = 0;
      std::size_t correct = 0, seen = 0;
      float rate = 0;
      for (std::size_t step = 0; step < steps; ++step) {
        const std::size_t first = step * options_.batch_size;
        const std::size_t count = std::min(options_.batch_size, train_set.size() - first);
        const std::span<const std::size_t> indices(order.data() + first, count);
        const std::uint64_t step_seed = derive_seed(derive_seed(options_.seed, epoch), step + 1);
        augment_batch(options_.augmentation, train_set.images.data(), indices, pixels.data(), train_set.height,
                      train_set.width, step_seed);
        for (std::size_t b = 0; b < count; ++b) labels[b] = train_set.labels[indices[b]];
        load_batch(ws_, std::span<const float>(pixels).first(count * image_size),
                   std::span<const std::uint8_t>(labels).first(count), normalization);

        const double epochs_done = static_cast<double>(epoch) + static_cast<double>(step) / static_cast<double>(steps);
        prepare_batch(ws_, epochs_done, step_seed);
        rate = options_.schedule.rate_at(epochs_done, options_.epochs);
        optimizer_.options.learning_rate = rate;
        ws_.seed = step_seed;
        const float loss = net_.forward(ws_, Mode::train);
        if (!std::isfinite(loss)) {
          progress.finish();
          throw TrainingError(std::string("the training loss became ") + (std::isnan(loss) ? "NaN" : "infinite") +
                              " at epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                              " (learning rate " + std::to_string(rate) + "); training stopped" +
                              (options_.checkpoint.empty() || !std::filesystem::exists(options_.checkpoint)
                                   ? std::string(", no checkpoint was written yet")
                                   : ", the last good checkpoint is kept in " + options_.checkpoint.string()));
        }
        ws_.zero_grad();
        net_.backward(ws_);
        optimizer_.update(net_, ws_.grad());

        loss_sum += static_cast<double>(loss) * static_cast<double>(count);
        for (std::size_t b = 0; b < count; ++b) correct += arg_max(ws_.output(b)) == ws_.labels[b];
        seen += count;
        images_this_run += count;
        progress.update(epoch + 1, options_.epochs, step + 1, steps,
                        static_cast<float>(loss_sum / static_cast<double>(seen)),
                        static_cast<float>(correct) / static_cast<float>(seen), seen, epoch_start);
      }
      const Evaluation validation = evaluate(net_, ws_, validation_set, normalization);
      progress.finish();

      EpochRecord record;
      record.epoch = epoch + 1;
      record.learning_rate = rate;
      record.train_loss = static_cast<float>(loss_sum / static_cast<double>(seen));
      record.train_accuracy = static_cast<float>(correct) / static_cast<float>(seen);
      record.validation_loss = validation.loss;
      record.validation_accuracy = validation.accuracy;
      record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
      report.history.push_back(record);
      state.history = report.history;
      state.epochs_done = epoch + 1;
      print_epoch(record, options_.epochs);

      if (improves(record, state)) {
        state.best_epoch = record.epoch;
        state.best_metric = metric(record);
        state.epochs_without_improvement = 0;
        best_ = net_;
      } else if (++state.epochs_without_improvement >= options_.early_stopping.patience &&
                 options_.early_stopping.patience > 0) {
        state.stopped = true;
        std::fprintf(stderr, "early stop: no validation improvement for %zu epochs (best: epoch %zu)\n",
                     state.epochs_without_improvement, state.best_epoch);
      }
      if (!options_.checkpoint.empty()) save_checkpoint(options_.checkpoint, net_, optimizer_, best_, state);
      if (!options_.log_csv.empty()) write_log_csv(options_.log_csv, report.history);
      if (!options_.log_json.empty()) write_log_json(options_.log_json, report.history, state.best_epoch);
    }

    const bool finished = state.stopped || state.epochs_done >= options_.epochs;
    if (finished && options_.early_stopping.restore_best && state.best_epoch > 0) net_ = best_;
    report.best_epoch = state.best_epoch;
    report.stopped_early = state.stopped;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count();
    report.images_per_second = report.seconds > 0 ? static_cast<double>(images_this_run) / report.seconds : 0;
    return report;
  }

 private:
  template <class Tensor>
  static std::size_t arg_max(const Tensor& logits) noexcept {
    return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + NetType::classes) - logits.data());
  }

  float metric(const EpochRecord& record) const noexcept {
    return options_.early_stopping.monitor == EarlyStopping::Monitor::validation_accuracy ? record.validation_accuracy
                                                                                          : -record.validation_loss;
  }
  bool improves(const EpochRecord& record, const TrainingState& state) const noexcept {
    return state.best_epoch == 0 || metric(record) > state.best_metric + options_.early_stopping.min_delta;
  }

  NetType& net_;
  Optimizer& optimizer_;
  WorkspaceType& ws_;
  TrainerOptions options_;
  NetType best_;
};

}  // namespace ctnn
