// Transfer learning from MNIST to USPS. A net trained on MNIST reads USPS's test digits as they
// are, then learns USPS in two steps, as Yosinski et al. (2014) and Howard & Ruder (2018) do:
//  1. the convolutional layers (every layer before the first Dense) are frozen and the dense head
//     is trained on USPS; the frozen parameters stay bit-identical, which the program checks;
//  2. every layer is fine-tuned at a lower rate, starting from step 1's weights.
// The same network trained on USPS alone, for the same number of epochs, is the baseline.
//
// USPS's digits fill their 16x16 frame; MNIST's sit in a 20x20 box, centred by mass in 28x28
// (LeCun et al. 1998). Every USPS image is therefore prepared as MNIST's were (prepare_ink in
// data/digit_preparation.hpp): cropped to its ink, its longer side scaled to 20 pixels, its centre
// of mass put at (14, 14). The first table row shows what a plain 16 -> 28 stretch costs instead.
//
// BatchNorm: a frozen block's gamma and beta are parameters and stay fixed, but its running mean
// and variance are statistics of the data it sees, not parameters. Training on USPS re-estimates
// them on USPS (AdaBN, Li et al. 2016): the frozen features are the MNIST features normalized for
// USPS. A row of the table shows that re-estimation alone, before any training. A net without
// BatchNorm (LeNet-5) has no such state.
//
// Each run keeps the weights of its best epoch on a validation split of USPS's training set, by
// validation loss: on 1000 images the accuracy of a fine-tuned net sits at 99.4-99.8%, a handful
// of errors, too coarse to choose by. USPS's test set is read once per reported figure. Writes a
// table, results.json, curves.png (validation accuracy per epoch), log_<run>.csv and the
// fine-tuned model, model.safetensors.
//   transfer_usps          runs/mnist_best/model.safetensors: >= 98.5% fine-tuned, about 3 minutes on one core
//   transfer_usps --model runs/lenet/model.safetensors --output runs/transfer_usps_lenet
//   transfer_usps --help
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <ctnn/ctnn.hpp>
#include <ctnn/data/digit_preparation.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/io/resize.hpp>
#include <ctnn/train/trainer.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/mnist_best/model.safetensors";
  std::string data_root;  // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output = "runs/transfer_usps";
  std::size_t validation = 1000;
  std::size_t train_images = 0;  // 0: every USPS training image not held out
  std::size_t frozen_epochs = 4, full_epochs = 8;
  float frozen_rate = 0.01f, full_rate = 0.002f, scratch_rate = 0.05f;
  std::string schedule = "cosine";
  std::string monitor = "loss";  // the validation figure that picks each run's epoch
  std::size_t batch_size = 64;
  float momentum = 0.9f, weight_decay = 5e-4f;
  ctnn::AffineRange augmentation{.max_rotation_degrees = 8, .max_scale_change = 0.08f, .max_translation_pixels = 2};
  std::uint64_t seed = 1;
  int threads = 0;  // 0: OpenMP's default
};

// One row of the table: a net and how it did on USPS's and MNIST's test sets.
struct Run {
  std::string name, description;
  std::size_t epochs = 0, best_epoch = 0;  // 0: not trained on USPS
  float learning_rate = 0;
  ctnn::Evaluation usps{}, mnist{};
  std::vector<float> validation_accuracy{};  // per epoch
  double seconds = 0;
};

// What freezing did: the scalars the mask fixed and the ones it left trainable, and how many of
// each differ (bit for bit) from the MNIST net after training; BatchNorm statistics likewise.
struct FreezeCheck {
  std::size_t frozen_layers = 0;
  std::vector<std::string> frozen_labels;
  std::size_t fixed = 0, fixed_changed = 0, trainable = 0, trainable_changed = 0;
  std::size_t statistics = 0, statistics_changed = 0;
};

struct Report {
  std::string signature;
  std::size_t param_count = 0;
  std::size_t train_images = 0, validation_images = 0, test_images = 0;
  float as_is_validation = 0;  // the MNIST net's accuracy on the validation split, before any training
  FreezeCheck freeze;
  std::vector<Run> runs;
};

// Every USPS image prepared as MNIST's digits were (see the header); a blank image stays blank.
ctnn::Dataset frame_like_mnist(const ctnn::Dataset& usps) {
  ctnn::Dataset framed;
  framed.name = usps.name + " (framed as MNIST)";
  framed.height = framed.width = ctnn::mnist_side;
  framed.labels = usps.labels;
  framed.images.assign(usps.size() * ctnn::mnist_side * ctnn::mnist_side, 0.0f);
  ctnn::GrayImage ink(usps.height, usps.width);
  for (std::size_t i = 0; i < usps.size(); ++i) {
    std::copy(usps.image(i).begin(), usps.image(i).end(), ink.pixels.begin());
    try {
      const ctnn::PreparedDigit digit = ctnn::prepare_ink(ink);
      std::copy(digit.pixels.begin(), digit.pixels.end(), framed.image(i).begin());
    } catch (const ctnn::NoInkError&) {
    }
  }
  return framed;
}

// Every layer's label, as summary() lists them.
template <class NetType>
std::vector<std::string> layer_labels() {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return std::vector<std::string>{NetType::template layer_type<I>::label()...};
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

// Whether any layer keeps running statistics (BatchNorm).
template <class NetType>
constexpr bool has_batch_norm() {
  return []<std::size_t... I>(std::index_sequence<I...>) {
    return (ctnn::StatefulLayer<typename NetType::template layer_type<I>> || ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

// The convolutional part of a net: its layers before the first Dense, which flattens the image.
inline std::size_t convolutional_layer_count(const std::vector<std::string>& labels) {
  return static_cast<std::size_t>(
      std::find_if(labels.begin(), labels.end(), [](const std::string& label) { return label.starts_with("Dense"); }) -
      labels.begin());
}

template <class Tensor>
std::size_t changed_scalars(const Tensor& after, const Tensor& before, std::size_t first, std::size_t last) {
  std::size_t changed = 0;
  for (std::size_t i = first; i < last; ++i)
    changed += std::memcmp(after.data() + i, before.data() + i, sizeof(float)) != 0;
  return changed;
}

// Compares `after` with `before` scalar by scalar, split by `mask` (0: fixed).
template <class NetType>
void count_changes(const NetType& after, const NetType& before, const ctnn::UpdateMask<NetType>& mask,
                   FreezeCheck& check) {
  ctnn::for_each_parameter(
      [&check](const auto& now, const auto& then, const auto& flags) {
        for (std::size_t i = 0; i < now.size; ++i) {
          const bool changed = changed_scalars(now, then, i, i + 1) != 0;
          if (flags[i] == 0.0f) {
            ++check.fixed;
            check.fixed_changed += changed;
          } else {
            ++check.trainable;
            check.trainable_changed += changed;
          }
        }
      },
      after.parameters(), before.parameters(), mask.flags());
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&](const auto& now, const auto& then) {
          if constexpr (ctnn::StatefulLayer<std::remove_cvref_t<decltype(now)>>)
            if (I < check.frozen_layers) {
              const auto visit = [&check](const auto& now_tensor, const auto& then_tensor) {
                check.statistics += now_tensor.size;
                check.statistics_changed += changed_scalars(now_tensor, then_tensor, 0, now_tensor.size);
              };
              ctnn::detail::for_each_in_layer(visit, now.state(), then.state());
            }
        }(after.template layer<I>(), before.template layer<I>()),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

// AdaBN (Li et al. 2016): the net's BatchNorm running statistics re-estimated on `images`, nothing
// else changed. One pass in training mode without a step: the running averages (momentum 0.1)
// forget MNIST's statistics within a few dozen batches.
template <class NetType, class WorkspaceType>
void reestimate_statistics(NetType& net, WorkspaceType& workspace, const ctnn::Dataset& images,
                           ctnn::Normalization normalization, std::size_t batch_size, std::uint64_t seed) {
  for (std::size_t first = 0; first < images.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, images.size() - first);
    ctnn::load_batch(
        workspace,
        std::span<const float>(images.images).subspan(first * images.image_size(), count * images.image_size()),
        std::span<const std::uint8_t>(images.labels).subspan(first, count), normalization);
    workspace.seed = ctnn::derive_seed(seed, first);
    net.forward(workspace, ctnn::Mode::train);
  }
}

// Trains `net` on USPS with the first `frozen_layers` layers frozen, keeping the weights of the best
// validation epoch, and returns the run with its test figures.
template <class NetType, class WorkspaceType>
Run train_run(NetType& net, WorkspaceType& workspace, Run run, std::size_t frozen_layers, const Options& options,
              const ctnn::Dataset& train, const ctnn::Dataset& validation, ctnn::Normalization normalization,
              const ctnn::Dataset& usps_test, const ctnn::Dataset& mnist_test, FreezeCheck* freeze = nullptr) {
  std::printf("\n%s: %zu epochs at %g\n", run.description.c_str(), run.epochs, static_cast<double>(run.learning_rate));
  const NetType before = net;
  ctnn::Sgd<NetType> optimizer(net, {.learning_rate = run.learning_rate,
                                     .momentum = options.momentum,
                                     .nesterov = true,
                                     .weight_decay = options.weight_decay});
  optimizer.mask.freeze_layers(0, frozen_layers);
  ctnn::TrainerOptions trainer;
  trainer.epochs = run.epochs;
  trainer.batch_size = options.batch_size;
  trainer.schedule.kind = ctnn::Schedule::parse_kind(options.schedule);
  trainer.schedule.learning_rate = run.learning_rate;
  trainer.augmentation.affine = options.augmentation;
  trainer.early_stopping.monitor = options.monitor == "accuracy" ? ctnn::EarlyStopping::Monitor::validation_accuracy
                                                                 : ctnn::EarlyStopping::Monitor::validation_loss;
  trainer.seed = options.seed;
  trainer.log_csv = fs::path(options.output) / ("log_" + run.name + ".csv");
  const ctnn::TrainReport report =
      ctnn::Trainer(net, optimizer, workspace, trainer).run(train, validation, normalization);
  if (freeze) {
    freeze->frozen_layers = frozen_layers;
    count_changes(net, before, optimizer.mask, *freeze);
  }
  run.best_epoch = report.best_epoch;
  run.seconds = report.seconds;
  for (const ctnn::EpochRecord& record : report.history) run.validation_accuracy.push_back(record.validation_accuracy);
  run.usps = ctnn::evaluate(net, workspace, usps_test, normalization);
  run.mnist = ctnn::evaluate(net, workspace, mnist_test, normalization);
  return run;
}

// The whole experiment for the net type that saved the model.
template <class NetType>
Report transfer(NetType& mnist_net, const ctnn::ModelInfo& info, const Options& options) {
  examples::require_digit_classes<NetType>(options.model, info);
  const ctnn::Normalization mnist_normalization = info.normalization;
  if (!std::isfinite(mnist_normalization.mean) || !(mnist_normalization.stddev > 0) ||
      !std::isfinite(mnist_normalization.stddev))
    throw ctnn::ModelError(options.model + ": its input normalization is not usable");
  constexpr std::size_t batch_capacity = 128;
  if (options.batch_size == 0 || options.batch_size > batch_capacity)
    throw std::invalid_argument("--batch-size must be in 1.." + std::to_string(batch_capacity));
  NetType::summary();

  // USPS: 7,291 training images, of which `validation` are held out, and 2,007 test images;
  // MNIST's test set shows what fine-tuning makes the net forget.
  const std::optional<fs::path> data_root =
      options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);
  const ctnn::Dataset usps_train = ctnn::load_usps(ctnn::Split::train, data_root);
  const ctnn::Dataset usps_test = ctnn::load_usps(ctnn::Split::test, data_root);
  const ctnn::Dataset mnist_test = ctnn::load_mnist(ctnn::Split::test, data_root);
  if (options.validation == 0 || options.validation >= usps_train.size())
    throw std::invalid_argument("--validation must be in 1.." + std::to_string(usps_train.size() - 1));
  const ctnn::Dataset framed_train = frame_like_mnist(usps_train);
  const ctnn::Dataset framed_test = frame_like_mnist(usps_test);
  ctnn::SplitIndices split = ctnn::holdout_split(framed_train.size(), options.validation, options.seed);
  if (options.train_images > 0 && options.train_images < split.train.size()) split.train.resize(options.train_images);
  const ctnn::Dataset train = ctnn::subset(framed_train, split.train, "usps train");
  const ctnn::Dataset validation = ctnn::subset(framed_train, split.validation, "usps validation");
  std::printf("\nUSPS: %zu training, %zu validation, %zu test images, 16x16 framed as MNIST's digits\n", train.size(),
              validation.size(), framed_test.size());

  Report report;
  report.signature = NetType::signature();
  report.param_count = NetType::param_count;
  report.train_images = train.size();
  report.validation_images = validation.size();
  report.test_images = framed_test.size();
  auto workspace = std::make_unique<ctnn::Workspace<NetType, batch_capacity>>();

  // As is: the MNIST net on USPS, stretched and framed.
  const ctnn::Evaluation mnist_as_is = ctnn::evaluate(mnist_net, *workspace, mnist_test, mnist_normalization);
  Run stretched{.name = "as_is_stretched", .description = "as is, 16x16 stretched to 28x28"};
  stretched.usps = ctnn::evaluate(
      mnist_net, *workspace, ctnn::resize_bilinear(usps_test, ctnn::mnist_side, ctnn::mnist_side), mnist_normalization);
  stretched.mnist = mnist_as_is;
  Run as_is{.name = "as_is", .description = "as is, framed as MNIST"};
  as_is.usps = ctnn::evaluate(mnist_net, *workspace, framed_test, mnist_normalization);
  as_is.mnist = mnist_as_is;
  report.runs = {stretched, as_is};
  report.as_is_validation = ctnn::evaluate(mnist_net, *workspace, validation, mnist_normalization).accuracy;
  if constexpr (has_batch_norm<NetType>()) {
    NetType adapted = mnist_net;
    reestimate_statistics(adapted, *workspace, train, mnist_normalization, options.batch_size, options.seed);
    Run adabn{.name = "as_is_adabn", .description = "as is, BatchNorm statistics of USPS"};
    adabn.usps = ctnn::evaluate(adapted, *workspace, framed_test, mnist_normalization);
    adabn.mnist = ctnn::evaluate(adapted, *workspace, mnist_test, mnist_normalization);
    report.runs.push_back(adabn);
  }

  // 1. The convolutional layers frozen, the dense head trained on USPS.
  const std::vector<std::string> labels = layer_labels<NetType>();
  const std::size_t frozen_layers = convolutional_layer_count(labels);
  report.freeze.frozen_labels.assign(labels.begin(), labels.begin() + static_cast<std::ptrdiff_t>(frozen_layers));
  NetType tuned = mnist_net;
  report.runs.push_back(train_run(tuned, *workspace,
                                  {.name = "frozen",
                                   .description = "fine-tuned, convolutions frozen",
                                   .epochs = options.frozen_epochs,
                                   .learning_rate = options.frozen_rate},
                                  frozen_layers, options, train, validation, mnist_normalization, framed_test,
                                  mnist_test, &report.freeze));

  // 2. Every layer, at a lower rate, from step 1's weights.
  report.runs.push_back(train_run(tuned, *workspace,
                                  {.name = "full",
                                   .description = "then all layers fine-tuned",
                                   .epochs = options.full_epochs,
                                   .learning_rate = options.full_rate},
                                  0, options, train, validation, mnist_normalization, framed_test, mnist_test));
  ctnn::ModelInfo tuned_info{.normalization = mnist_normalization, .class_names = examples::digit_names, .extra = {}};
  tuned_info.extra["fine_tuned_from"] = options.model;
  tuned_info.extra["data"] = "USPS, 16x16 framed as MNIST's digits (ctnn::prepare_ink)";
  save_model(tuned, fs::path(options.output) / "model.safetensors", tuned_info);

  // The baseline: the same net trained on USPS alone for as many epochs as both steps together.
  NetType scratch(options.seed);
  report.runs.push_back(train_run(scratch, *workspace,
                                  {.name = "scratch",
                                   .description = "from scratch on USPS",
                                   .epochs = options.frozen_epochs + options.full_epochs,
                                   .learning_rate = options.scratch_rate},
                                  0, options, train, validation, ctnn::compute_normalization(train.images), framed_test,
                                  mnist_test));
  return report;
}

std::string percent(float fraction) {
  char text[16];
  std::snprintf(text, sizeof text, "%.2f%%", 100.0 * static_cast<double>(fraction));
  return text;
}

// Validation accuracy per epoch: the fine-tuned net (both steps, one after the other) against the
// net trained from scratch over the same epochs, and the MNIST net as it was.
ctnn::Picture curves(const Report& report) {
  ctnn::Series as_is, tuned, scratch, unfrozen;
  as_is.name = "as is";
  tuned.name = "fine-tuned";
  scratch.name = "from scratch";
  unfrozen.name = "all layers unfrozen";
  as_is.color = ctnn::category_colors[2];
  tuned.color = ctnn::category_colors[0];
  scratch.color = ctnn::category_colors[1];
  unfrozen.color = ctnn::colors::black;
  as_is.dash = 6;
  unfrozen.dash = 3;
  unfrozen.thickness = 1;
  tuned.markers = scratch.markers = true;
  double low = 100.0 * static_cast<double>(report.as_is_validation), high = low;
  for (const Run& run : report.runs) {
    ctnn::Series& series = run.name == "scratch" ? scratch : tuned;
    for (const float accuracy : run.validation_accuracy) {
      series.x.push_back(static_cast<double>(series.x.size() + 1));
      series.y.push_back(100.0 * static_cast<double>(accuracy));
      low = std::min(low, series.y.back());
      high = std::max(high, series.y.back());
    }
    if (run.name == "frozen") unfrozen.x.assign(2, static_cast<double>(run.validation_accuracy.size()) + 0.5);
  }
  // Room below the curves for the legend.
  const ctnn::AxisRange y_range{low - 0.6 * std::max(high - low, 0.5), std::min(high + 0.1, 100.0)};
  unfrozen.y = {y_range.low, y_range.high};
  const double last = std::max(static_cast<double>(std::max(tuned.x.size(), scratch.x.size())), 2.0);
  as_is.x = {1.0, last};
  as_is.y.assign(2, 100.0 * static_cast<double>(report.as_is_validation));
  return ctnn::draw_line_chart(
      {.title = "USPS validation accuracy (" + std::to_string(report.validation_images) + " images) per epoch",
       .x_label = "epoch",
       .y_label = "accuracy (%)",
       .series = {as_is, tuned, scratch, unfrozen},
       .x_range = ctnn::AxisRange{1, last},
       .y_range = y_range,
       .legend = ctnn::LegendPosition::bottom_right});
}

json run_json(const Run& run) {
  return {{"name", run.name},
          {"description", run.description},
          {"epochs", run.epochs},
          {"best_epoch", run.best_epoch},
          {"learning_rate", run.learning_rate},
          {"usps_test_accuracy", run.usps.accuracy},
          {"usps_test_loss", run.usps.loss},
          {"mnist_test_accuracy", run.mnist.accuracy},
          {"validation_accuracy", run.validation_accuracy},
          {"train_seconds", run.seconds}};
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  Options options;
  CLI::App app(
      "Transfer an MNIST-trained net to USPS: as is, fine-tuned with its convolutions frozen, then fine-tuned "
      "whole; against the same net trained on USPS alone.");
  app.add_option("--model", options.model,
                 "MNIST model file (train_mnist_best writes the default; train_lenet writes runs/lenet/)")
      ->capture_default_str();
  app.add_option("--data", options.data_root,
                 "Folder holding usps/ and mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", options.output, "Folder for results.json, curves.png, logs and the fine-tuned model")
      ->capture_default_str();
  app.add_option("--validation", options.validation, "USPS training images held out to choose the epoch")
      ->capture_default_str();
  app.add_option("--train-images", options.train_images, "Train on this many USPS images (0: all the rest)")
      ->capture_default_str();
  app.add_option("--frozen-epochs", options.frozen_epochs, "Step 1 (convolutions frozen): epochs")
      ->capture_default_str();
  app.add_option("--frozen-rate", options.frozen_rate, "Step 1: learning rate")->capture_default_str();
  app.add_option("--full-epochs", options.full_epochs, "Step 2 (all layers): epochs")->capture_default_str();
  app.add_option("--full-rate", options.full_rate, "Step 2: learning rate")->capture_default_str();
  app.add_option("--scratch-rate", options.scratch_rate, "From scratch (frozen + full epochs): learning rate")
      ->capture_default_str();
  app.add_option("--schedule", options.schedule, "Each run's schedule: constant, step, cosine or one-cycle")
      ->capture_default_str();
  app.add_option("--monitor", options.monitor, "Validation figure that picks each run's epoch: loss or accuracy")
      ->check(CLI::IsMember({"loss", "accuracy"}))
      ->capture_default_str();
  app.add_option("--batch-size", options.batch_size, "Mini-batch size (at most 128)")->capture_default_str();
  app.add_option("--momentum", options.momentum, "SGD Nesterov momentum")->capture_default_str();
  app.add_option("--weight-decay", options.weight_decay, "SGD weight decay (L2)")->capture_default_str();
  app.add_option("--rotate", options.augmentation.max_rotation_degrees, "Augmentation: max rotation, degrees")
      ->capture_default_str();
  app.add_option("--shift", options.augmentation.max_translation_pixels, "Augmentation: max translation, pixels")
      ->capture_default_str();
  app.add_option("--scale", options.augmentation.max_scale_change, "Augmentation: max scale change")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the split, shuffles, augmentation and the scratch net")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP threads (0: all cores)")->capture_default_str();
  try {
    app.parse(argc, argv);
    ctnn::Schedule::parse_kind(options.schedule);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
#ifdef _OPENMP
  if (options.threads > 0) omp_set_num_threads(options.threads);
#endif
  if (!fs::exists(options.model))
    throw ctnn::ModelError(options.model +
                           ": no such model file; train the MNIST net first: train_mnist_best writes "
                           "runs/mnist_best/model.safetensors, train_lenet runs/lenet/model.safetensors");
  const fs::path output(options.output);
  fs::create_directories(output);

  const Report report = examples::with_model<examples::LeNet5, examples::BestNet>(
      options.model, [&](auto& net, const ctnn::ModelInfo& info) { return transfer(net, info, options); });

  const FreezeCheck& freeze = report.freeze;
  std::string frozen_names;
  for (const std::string& label : freeze.frozen_labels) frozen_names += (frozen_names.empty() ? "" : ", ") + label;
  std::printf("\ntransfer_usps: %s (%zu parameters) from %s\n", report.signature.c_str(), report.param_count,
              options.model.c_str());
  std::printf("frozen in step 1: layers 0..%zu (%s), %zu parameters; %zu of them changed%s\n", freeze.frozen_layers - 1,
              frozen_names.c_str(), freeze.fixed, freeze.fixed_changed,
              freeze.fixed_changed == 0 ? " (bit-identical)" : " (NOT FROZEN)");
  if (freeze.statistics > 0)
    std::printf("their BatchNorm running statistics were re-estimated on USPS (AdaBN): %zu of %zu changed\n",
                freeze.statistics_changed, freeze.statistics);
  std::printf("\n%-34s %11s %8s %10s %11s\n", "USPS test images (2007)", "best/epochs", "rate", "USPS test",
              "MNIST test");
  for (const Run& run : report.runs) {
    const std::string epochs = run.epochs ? std::to_string(run.best_epoch) + "/" + std::to_string(run.epochs) : "-";
    char rate[16] = "-";
    if (run.epochs) std::snprintf(rate, sizeof rate, "%g", static_cast<double>(run.learning_rate));
    std::printf("%-34s %11s %8s %10s %11s\n", run.description.c_str(), epochs.c_str(), rate,
                percent(run.usps.accuracy).c_str(), percent(run.mnist.accuracy).c_str());
  }

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json runs = json::array();
  for (const Run& run : report.runs) runs.push_back(run_json(run));
  const auto accuracy_of = [&report](const std::string& name) {
    for (const Run& run : report.runs)
      if (run.name == name) return run.usps.accuracy;
    return 0.0f;
  };
  const json results{
      {"program", "transfer_usps"},
      {"model", options.model},
      {"network", report.signature},
      {"param_count", report.param_count},
      {"usps",
       {{"train", report.train_images}, {"validation", report.validation_images}, {"test", report.test_images}}},
      {"as_is_accuracy", accuracy_of("as_is")},
      {"as_is_validation_accuracy", report.as_is_validation},
      {"as_is_adabn_accuracy", report.runs.size() > 2 && report.runs[2].name == "as_is_adabn"
                                   ? json(report.runs[2].usps.accuracy)
                                   : json(nullptr)},
      {"frozen_accuracy", accuracy_of("frozen")},
      {"fine_tuned_accuracy", accuracy_of("full")},
      {"scratch_accuracy", accuracy_of("scratch")},
      {"frozen",
       {{"layers", freeze.frozen_layers},
        {"labels", freeze.frozen_labels},
        {"parameters", freeze.fixed},
        {"parameters_changed", freeze.fixed_changed},
        {"bit_identical", freeze.fixed > 0 && freeze.fixed_changed == 0},
        {"trainable_parameters", freeze.trainable},
        {"trainable_parameters_changed", freeze.trainable_changed},
        {"batch_norm_statistics", freeze.statistics},
        {"batch_norm_statistics_changed", freeze.statistics_changed}}},
      {"runs", runs},
      {"seed", options.seed},
#ifdef _OPENMP
      {"threads", omp_get_max_threads()},
#else
      {"threads", 1},
#endif
      {"wall_seconds", wall}};
  ctnn::write_file_atomically(output / "results.json", results.dump(2) + "\n");
  ctnn::save_png(curves(report), output / "curves.png");
  std::printf("\nwall time %.1f s; results: %s, chart: %s, fine-tuned model: %s\n", wall,
              (output / "results.json").c_str(), (output / "curves.png").c_str(),
              (output / "model.safetensors").c_str());
  if (freeze.fixed_changed != 0) {
    std::fprintf(stderr, "transfer_usps: %zu frozen parameters changed\n", freeze.fixed_changed);
    return 1;
  }
} catch (const std::exception& error) {
  std::fprintf(stderr, "transfer_usps: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
