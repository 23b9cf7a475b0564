// Certifies a trained model's robustness on the MNIST test set by interval bound propagation
// (Gowal et al. 2018, include/ctnn/robust/interval.hpp): an image is verified at eps when no
// input in its L-inf ball of radius eps (pixels in [0, 1]) can change the prediction from its
// label. Beside it, the accuracy under a PGD attack at the same eps, an upper bound of the true
// robust accuracy where the verified accuracy is a lower bound: the gap is what the bounds
// cannot decide. Writes a text table, report.json, and certify.png (the three accuracies
// against eps over 0..0.4).
//   certify                                              runs/certified/model.safetensors
//   certify --model runs/lenet/model.safetensors --eps 0.01,0.05 --images 1000
//   certify --help
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <optional>
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
#include <ctnn/io/plots.hpp>
#include <ctnn/robust/attacks.hpp>
#include <ctnn/robust/interval.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/certified/model.safetensors";
  std::string data_root;  // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output;     // empty: certify/ beside the model
  std::vector<float> epsilons{0.1f, 0.3f};
  std::size_t images = 0;  // 0: the whole test set
  std::size_t attack_steps = 20;
  std::size_t attack_restarts = 1;
  std::size_t curve_images = 1000;
  std::uint64_t seed = 1;
};

struct Row {
  float epsilon = 0;
  std::size_t images = 0;
  float verified = 0, attacked = NAN;  // attacked: NaN without an attack
  double verify_seconds = 0, attack_seconds = 0;
};

struct Report {
  std::string signature;
  std::size_t param_count = 0;
  std::size_t images = 0;
  float clean = 0;
  std::vector<Row> rows, curve;
};

// Verified accuracy, and PGD accuracy when steps > 0, at each eps on the first `images` images.
template <class NetType>
std::vector<Row> measure(NetType& net, const ctnn::Dataset& test, ctnn::Normalization normalization,
                         const std::vector<float>& epsilons, std::size_t images, const Options& options) {
  const bool progress = isatty(fileno(stderr)) != 0;
  auto workspace = std::make_unique<ctnn::Workspace<NetType, 100>>();
  std::vector<Row> rows;
  for (const float epsilon : epsilons) {
    if (progress) std::fprintf(stderr, "\r\033[Kcertifying %zu images at eps %.3g", images, epsilon);
    Row row{.epsilon = epsilon};
    const ctnn::Verification verification = ctnn::verify(net, test, normalization, epsilon, images);
    row.images = verification.images;
    row.verified = verification.verified_accuracy();
    row.verify_seconds = verification.seconds;
    if (options.attack_steps > 0 && epsilon > 0) {
      if (progress)
        std::fprintf(stderr, "\r\033[Kattacking %zu images at eps %.3g (PGD-%zu)", images, epsilon,
                     options.attack_steps);
      ctnn::AttackOptions attack = ctnn::pgd(ctnn::Norm::linf, epsilon, options.attack_steps, options.attack_restarts);
      attack.seed = options.seed;
      const ctnn::AttackResult result = ctnn::attack_dataset(net, *workspace, test, normalization, attack, images);
      row.attacked = result.robust_accuracy();
      row.attack_seconds = result.seconds;
    } else if (options.attack_steps > 0) {
      row.attacked = verification.clean_accuracy();
    }
    rows.push_back(row);
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  return rows;
}

Report run(const Options& options, const std::vector<float>& curve_epsilons) {
  const std::optional<fs::path> data_root =
      options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);
  return examples::with_example_model(options.model, [&](auto& net, const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    const ctnn::Normalization normalization = info.normalization;
    if (!std::isfinite(normalization.mean) || !(normalization.stddev > 0) || !std::isfinite(normalization.stddev))
      throw ctnn::ModelError(options.model + ": its input normalization is not usable");
    if (NetType::classes != 10 || (!info.class_names.empty() && info.class_names.front() != "0"))
      throw ctnn::ModelError(options.model + ": not a model of the digits 0-9");
    const ctnn::Dataset test = ctnn::load_mnist(ctnn::Split::test, data_root);
    Report report{NetType::signature(), NetType::param_count, 0, 0, {}, {}};
    report.images = options.images ? std::min(options.images, test.size()) : test.size();
    report.clean = ctnn::verify(net, test, normalization, 0.0f, report.images).clean_accuracy();
    report.rows = measure(net, test, normalization, options.epsilons, report.images, options);
    if (options.curve_images > 0)
      report.curve =
          measure(net, test, normalization, curve_epsilons, std::min(options.curve_images, test.size()), options);
    return report;
  });
}

ctnn::Picture chart(const Report& report, const Options& options) {
  ctnn::Series verified, attacked, clean;
  verified.name = "verified (IBP)";
  attacked.name = "PGD-" + std::to_string(options.attack_steps);
  clean.name = "clean";
  verified.color = ctnn::category_colors[0];
  attacked.color = ctnn::category_colors[1];
  clean.color = ctnn::category_colors[2];
  verified.markers = attacked.markers = true;
  clean.dash = 6;
  for (const Row& row : report.curve) {
    verified.x.push_back(row.epsilon);
    verified.y.push_back(100.0 * row.verified);
    attacked.x.push_back(row.epsilon);
    attacked.y.push_back(100.0 * row.attacked);
  }
  clean.x = {0.0, 0.4};
  clean.y = {100.0 * report.clean, 100.0 * report.clean};
  ctnn::LineChart line{.title = "MNIST test accuracy within an L-inf ball (" +
                                std::to_string(report.curve.empty() ? 0 : report.curve.front().images) + " images)",
                       .x_label = "eps (pixels in [0, 1])",
                       .y_label = "accuracy (%)",
                       .series = {clean, verified},
                       .x_range = ctnn::AxisRange{0, 0.4},
                       .y_range = ctnn::AxisRange{0, 100},
                       .legend = ctnn::LegendPosition::bottom_left};
  if (options.attack_steps > 0) line.series.push_back(attacked);
  return ctnn::draw_line_chart(line);
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Certify a model's robustness on the MNIST test set (interval bound propagation) and attack it "
      "with PGD at the same eps.");
  app.add_option("--model", options.model, "Model file")->capture_default_str();
  app.add_option("--data", options.data_root, "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", options.output,
                 "Folder for report.json and certify.png (default: certify/ beside "
                 "the model)");
  app.add_option("--eps", options.epsilons, "L-inf radii, pixels in [0, 1] (comma-separated)")
      ->delimiter(',')
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
  app.add_option("--images", options.images, "Test images to certify (0: all)")->capture_default_str();
  app.add_option("--attack-steps", options.attack_steps, "PGD steps (0: no attack)")->capture_default_str();
  app.add_option("--attack-restarts", options.attack_restarts, "PGD random restarts")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--curve-images", options.curve_images, "Test images behind certify.png (0: no picture)")
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the attack's random starts")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  const fs::path output =
      options.output.empty() ? fs::path(options.model).parent_path() / "certify" : fs::path(options.output);
  std::vector<float> curve_epsilons;
  for (int step = 0; step <= 8; ++step) curve_epsilons.push_back(0.05f * static_cast<float>(step));

  const Report report = run(options, curve_epsilons);

  std::string text = "certify: " + report.signature + " (" + std::to_string(report.param_count) + " parameters)\n" +
                     std::to_string(report.images) + " MNIST test images, clean accuracy ";
  char line[160];
  std::snprintf(line, sizeof line, "%.2f%%\n\n%8s %12s %12s %8s\n", 100.0 * report.clean, "eps", "verified",
                options.attack_steps ? ("PGD-" + std::to_string(options.attack_steps)).c_str() : "PGD", "gap");
  text += line;
  for (const Row& row : report.rows) {
    if (options.attack_steps > 0)
      std::snprintf(line, sizeof line, "%8.3f %11.2f%% %11.2f%% %8.2f\n", static_cast<double>(row.epsilon),
                    100.0 * row.verified, 100.0 * row.attacked, 100.0 * (row.attacked - row.verified));
    else
      std::snprintf(line, sizeof line, "%8.3f %11.2f%% %12s %8s\n", static_cast<double>(row.epsilon),
                    100.0 * row.verified, "-", "-");
    text += line;
  }
  std::fputs(text.c_str(), stdout);

  const auto rows_json = [&options](const std::vector<Row>& rows) {
    json list = json::array();
    for (const Row& row : rows) {
      json entry{{"epsilon", row.epsilon},
                 {"images", row.images},
                 {"verified_accuracy", row.verified},
                 {"verify_seconds", row.verify_seconds}};
      if (options.attack_steps > 0) {
        entry["pgd_accuracy"] = row.attacked;
        entry["attack_seconds"] = row.attack_seconds;
      }
      list.push_back(entry);
    }
    return list;
  };
  const json document{{"program", "certify"},
                      {"model", options.model},
                      {"network", report.signature},
                      {"param_count", report.param_count},
                      {"images", report.images},
                      {"clean_accuracy", report.clean},
                      {"attack", {{"steps", options.attack_steps}, {"restarts", options.attack_restarts}}},
                      {"results", rows_json(report.rows)},
                      {"curve", rows_json(report.curve)}};
  fs::create_directories(output);
  ctnn::write_file_atomically(output / "report.json", document.dump(2) + "\n");
  if (!report.curve.empty()) ctnn::save_png(chart(report, options), output / "certify.png");
  std::printf("\nreport: %s%s\n", (output / "report.json").c_str(),
              report.curve.empty() ? "" : (", chart: " + (output / "certify.png").string()).c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "certify: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
