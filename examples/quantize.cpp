// Post-training int8 quantization of a trained model (include/ctnn/quantize/): calibrates the
// range of every activation on a few hundred training images, quantizes the network (int8
// weights with one scale per output channel, BatchNorm folded into the convolutions, ReLU into
// the requantization, uint8 activations, float logits), saves the int8 model, loads it back, and
// compares it with the float model on the MNIST test set: accuracy, agreement of the predictions,
// logit error, throughput at batch 256 (both on the same threads, the best of a few timed passes)
// and file sizes. Writes a text table, results.json and model_int8.safetensors into --output.
//   quantize                                             runs/mnist_best/model.safetensors
//   quantize --model runs/lenet/model.safetensors        LeNet-5
//   quantize --percentile 99.99 --calibration-images 1000
//   quantize --help
// g++ 12 with AVX-512 (-march=native) warns inside its own avx512fintrin.h (`__Y` of
// _mm512_undefined_ps "is used uninitialized", GCC PR 105593) when xsimd's conversions inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/quantized_model_file.hpp>
#include <ctnn/quantize/calibration.hpp>
#include <ctnn/quantize/quantized_net.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/mnist_best/model.safetensors";
  std::string data_root;  // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output;     // empty: quantize/ beside the model
  ctnn::CalibrationOptions calibration{.images = 500, .percentile = 100, .seed = 1};
  std::size_t images = 0;  // test images, 0: all
  std::size_t repeats = 3;
  int threads = 0;  // 0: OpenMP's default
};

// One model's figures on the test set.
struct Side {
  float accuracy = 0;
  double seconds = 0;  // the best timed pass over the test images
  double images_per_second = 0;
  std::uintmax_t file_bytes = 0;
};

struct Stage {
  std::string label;
  ctnn::ActivationQuantization input, output;
  bool has_output = false;  // the logits are float
  float weight_scale_min = 0, weight_scale_max = 0;
  bool has_weights = false;
};

struct Report {
  std::string signature;
  std::size_t param_count = 0, images = 0;
  std::vector<Stage> stages;
  Side float_side, int8_side;
  double agreement = 0;
  double max_logit_error = 0, mean_logit_error = 0;
  bool round_trip_identical = false;
};

constexpr std::size_t batch = 256;

void status(const char* text) {
  if (isatty(fileno(stderr))) std::fprintf(stderr, "\r\033[K%s", text);
}

template <class Quantized>
std::vector<Stage> describe_stages(const Quantized& quantized) {
  std::vector<Stage> stages;
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    (
        [&](const auto& stage) {
          Stage row;
          row.label = Quantized::stage_label(S);
          row.input = stage.input;
          row.output = stage.output;
          using StageType = std::remove_cvref_t<decltype(stage)>;
          row.has_output = !StageType::float_output;
          if constexpr (requires { stage.weight_scale; }) {
            row.has_weights = true;
            row.weight_scale_min = *std::min_element(stage.weight_scale.begin(), stage.weight_scale.end());
            row.weight_scale_max = *std::max_element(stage.weight_scale.begin(), stage.weight_scale.end());
          }
          stages.push_back(row);
        }(quantized.template stage<S>()),
        ...);
  }
  (std::make_index_sequence<Quantized::stage_count>{});
  return stages;
}

template <class Logits>
std::size_t argmax(const Logits& logits) {
  return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + logits.size) - logits.data());
}

Report run(const Options& options, const fs::path& int8_path) {
  const std::optional<fs::path> data_root =
      options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);
  return examples::with_model<examples::LeNet5, examples::BestNet>(options.model, [&](auto& net,
                                                                                      const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    using Image = ctnn::tensor_of<typename NetType::in_shape>;
    using Logits = ctnn::tensor_of<typename NetType::out_shape>;
    examples::require_digit_classes<NetType>(options.model, info);
    Report report;
    report.signature = NetType::signature();
    report.param_count = NetType::param_count;

    // Calibrate on training images, quantize, save the int8 model and read it back: the
    // evaluation below runs the file's model, and checks it against the one in memory.
    status("calibrating");
    const ctnn::Dataset train = ctnn::load_mnist(ctnn::Split::train, data_root);
    const auto ranges = ctnn::calibrate(net, train, info.normalization, options.calibration);
    const ctnn::QuantizedNet<NetType> quantized = ctnn::quantize(net, ranges);
    ctnn::ModelInfo int8_info = info;
    int8_info.extra["calibration"] = std::to_string(std::min(options.calibration.images, train.size())) +
                                     " MNIST training images, seed " + std::to_string(options.calibration.seed) +
                                     ", percentile " + json(options.calibration.percentile).dump();
    int8_info.extra["float_model"] = options.model;
    ctnn::save_quantized(quantized, int8_path, int8_info);
    ctnn::QuantizedNet<NetType> loaded;
    ctnn::load_quantized(loaded, int8_path);
    report.stages = describe_stages(loaded);

    // The normalized test images, and both models' logits for them, batch by batch.
    status("evaluating");
    const ctnn::Dataset test = ctnn::load_mnist(ctnn::Split::test, data_root);
    report.images = options.images ? std::min(options.images, test.size()) : test.size();
    std::vector<Image> images(report.images);
    for (std::size_t i = 0; i < images.size(); ++i) {
      const auto pixels = test.image(i);
      for (std::size_t p = 0; p < Image::size; ++p)
        images[i][p] = (pixels[p] - info.normalization.mean) / info.normalization.stddev;
    }
    std::vector<Logits> float_logits(images.size()), int8_logits(images.size()), memory_logits(images.size());
    const auto workspace = std::make_unique<ctnn::Workspace<NetType, batch>>();
    const auto run_float = [&] {
      for (std::size_t first = 0; first < images.size(); first += batch) {
        const std::size_t count = std::min(batch, images.size() - first);
        workspace->count = count;
        for (std::size_t b = 0; b < count; ++b) {
          workspace->input(b) = images[first + b];
          workspace->labels[b] = test.labels[first + b];
        }
        net.forward(*workspace, ctnn::Mode::eval);
        for (std::size_t b = 0; b < count; ++b) float_logits[first + b] = workspace->output(b);
      }
    };
    const auto run_int8 = [&](const ctnn::QuantizedNet<NetType>& model, std::vector<Logits>& logits) {
      for (std::size_t first = 0; first < images.size(); first += batch) {
        const std::size_t count = std::min(batch, images.size() - first);
        model.forward(std::span<const Image>(images).subspan(first, count), std::span(logits).subspan(first, count));
      }
    };
    const auto seconds = [](auto&& pass) {
      const auto start = std::chrono::steady_clock::now();
      pass();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    // Alternating timed passes, so that both see the same machine; the best of each counts.
    report.float_side.seconds = report.int8_side.seconds = 1e300;
    for (std::size_t pass = 0; pass < std::max<std::size_t>(1, options.repeats); ++pass) {
      report.float_side.seconds = std::min(report.float_side.seconds, seconds(run_float));
      report.int8_side.seconds = std::min(report.int8_side.seconds, seconds([&] { run_int8(loaded, int8_logits); }));
    }
    run_int8(quantized, memory_logits);
    report.round_trip_identical = memory_logits == int8_logits;

    std::size_t float_correct = 0, int8_correct = 0, agree = 0;
    double total_error = 0;
    for (std::size_t i = 0; i < images.size(); ++i) {
      const std::size_t float_class = argmax(float_logits[i]), int8_class = argmax(int8_logits[i]);
      float_correct += float_class == test.labels[i];
      int8_correct += int8_class == test.labels[i];
      agree += float_class == int8_class;
      for (std::size_t k = 0; k < NetType::classes; ++k) {
        const double error = std::fabs(static_cast<double>(float_logits[i][k]) - int8_logits[i][k]);
        report.max_logit_error = std::max(report.max_logit_error, error);
        total_error += error;
      }
    }
    const double count = static_cast<double>(std::max<std::size_t>(1, images.size()));
    report.float_side.accuracy = static_cast<float>(float_correct / count);
    report.int8_side.accuracy = static_cast<float>(int8_correct / count);
    report.agreement = agree / count;
    report.mean_logit_error = total_error / (count * NetType::classes);
    for (Side* side : {&report.float_side, &report.int8_side}) side->images_per_second = count / side->seconds;
    status("");
    return report;
  });
}

// 12345.6 -> "12,346". Built forwards: inserting into the string trips g++ 12's false -Wrestrict
// (PR 105329).
std::string grouped(double value) {
  const std::string digits = std::to_string(std::llround(value));
  std::string text;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') text += ',';
    text += digits[i];
  }
  return text;
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Quantize a trained MNIST model to int8 (calibrated on training images) and compare it with the float model "
      "on the test set: accuracy, agreement, throughput at batch 256, file size.");
  app.add_option("--model", options.model, "Float model file (LeNet-5 or the best MNIST net)")->capture_default_str();
  app.add_option("--data", options.data_root, "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", options.output,
                 "Folder for results.json and model_int8.safetensors (default: quantize/ beside the model)");
  app.add_option("--calibration-images", options.calibration.images, "Training images the ranges are measured on")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--percentile", options.calibration.percentile,
                 "Range of each activation: 100 is min..max, below clips that share of the values at each end")
      ->check(CLI::Range(50.0, 100.0))
      ->capture_default_str();
  app.add_option("--seed", options.calibration.seed, "Seed of the choice of calibration images")->capture_default_str();
  app.add_option("--images", options.images, "Test images (0: all)")->capture_default_str();
  app.add_option("--repeats", options.repeats, "Timed passes over the test images (the best counts)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--threads", options.threads, "Threads (0: OpenMP's default)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
#ifdef _OPENMP
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const int threads = omp_get_max_threads();
#else
  const int threads = 1;
#endif
  const fs::path output =
      options.output.empty() ? fs::path(options.model).parent_path() / "quantize" : fs::path(options.output);
  fs::create_directories(output);
  const fs::path int8_path = output / "model_int8.safetensors";

  Report report = run(options, int8_path);
  report.float_side.file_bytes = fs::file_size(options.model);
  report.int8_side.file_bytes = fs::file_size(int8_path);

  std::printf("quantize: %s (%zu parameters)\n", report.signature.c_str(), report.param_count);
  std::printf("calibration: %zu MNIST training images (seed %llu), %s\n\n", options.calibration.images,
              static_cast<unsigned long long>(options.calibration.seed),
              options.calibration.percentile == 100
                  ? "ranges min..max"
                  : ("ranges clipped at percentile " + json(options.calibration.percentile).dump()).c_str());
  std::printf("%-44s %20s %20s %18s\n", "int8 stage", "input scale / zero", "output scale / zero", "weight scales");
  for (const Stage& stage : report.stages) {
    char input[32], out[32], weights[32] = "-";
    std::snprintf(input, sizeof input, "%.5f / %d", static_cast<double>(stage.input.scale), stage.input.zero_point);
    std::snprintf(out, sizeof out, "%.5f / %d", static_cast<double>(stage.output.scale), stage.output.zero_point);
    if (stage.has_weights)
      std::snprintf(weights, sizeof weights, "%.5f..%.5f", static_cast<double>(stage.weight_scale_min),
                    static_cast<double>(stage.weight_scale_max));
    std::printf("%-44s %20s %20s %18s\n", stage.label.c_str(), input, stage.has_output ? out : "float logits", weights);
  }
  const Side& f = report.float_side;
  const Side& q = report.int8_side;
  const double speedup = q.images_per_second / f.images_per_second;
  std::printf("\nMNIST test set, %zu images, batch %zu, %d thread%s:\n", report.images, batch, threads,
              threads == 1 ? "" : "s");
  std::printf("%-10s %10s %14s %16s\n", "model", "accuracy", "images/s", "file bytes");
  std::printf("%-10s %9.2f%% %14s %16s\n", "float32", 100.0 * f.accuracy, grouped(f.images_per_second).c_str(),
              grouped(static_cast<double>(f.file_bytes)).c_str());
  std::printf("%-10s %9.2f%% %14s %16s\n", "int8", 100.0 * q.accuracy, grouped(q.images_per_second).c_str(),
              grouped(static_cast<double>(q.file_bytes)).c_str());
  std::printf("int8 - float: %+.2f points, %.2fx the throughput, %.2fx smaller\n",
              100.0 * (static_cast<double>(q.accuracy) - f.accuracy), speedup,
              static_cast<double>(f.file_bytes) / static_cast<double>(q.file_bytes));
  std::printf("predictions agree on %.2f%% of the images; logits differ by %.4f at most, %.4f on average\n",
              100.0 * report.agreement, report.max_logit_error, report.mean_logit_error);
  std::printf("the saved int8 model gives %s outputs to the one in memory\n",
              report.round_trip_identical ? "identical" : "DIFFERENT");

  json stages = json::array();
  for (const Stage& stage : report.stages) {
    json row{{"stage", stage.label}, {"input_scale", stage.input.scale}, {"input_zero_point", stage.input.zero_point}};
    if (stage.has_output) {
      row["output_scale"] = stage.output.scale;
      row["output_zero_point"] = stage.output.zero_point;
    }
    if (stage.has_weights) row["weight_scale_range"] = {stage.weight_scale_min, stage.weight_scale_max};
    stages.push_back(row);
  }
  const auto side_json = [](const Side& side, const std::string& file) {
    return json{{"accuracy", side.accuracy},
                {"images_per_second", side.images_per_second},
                {"seconds", side.seconds},
                {"file", file},
                {"file_bytes", side.file_bytes}};
  };
  const json document{{"program", "quantize"},
                      {"model", options.model},
                      {"network", report.signature},
                      {"param_count", report.param_count},
                      {"calibration",
                       {{"images", options.calibration.images},
                        {"percentile", options.calibration.percentile},
                        {"seed", options.calibration.seed},
                        {"method", options.calibration.percentile == 100 ? "min/max" : "histogram percentile"}}},
                      {"quantization", ctnn::quantization_description},
                      {"stages", stages},
                      {"test_images", report.images},
                      {"batch", batch},
                      {"threads", threads},
                      {"float", side_json(f, options.model)},
                      {"int8", side_json(q, int8_path.string())},
                      {"accuracy_change_points", 100.0 * (static_cast<double>(q.accuracy) - f.accuracy)},
                      {"speedup", speedup},
                      {"agreement", report.agreement},
                      {"logit_error", {{"max", report.max_logit_error}, {"mean", report.mean_logit_error}}},
                      {"round_trip_identical", report.round_trip_identical}};
  ctnn::write_file_atomically(output / "results.json", document.dump(2) + "\n");
  std::printf("\nresults: %s, int8 model: %s\n", (output / "results.json").c_str(), int8_path.c_str());
  return report.round_trip_identical ? 0 : 1;
} catch (const std::exception& error) {
  std::fprintf(stderr, "quantize: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
