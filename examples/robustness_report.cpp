// How robust is a trained model? Accuracy on its test set under gradient attacks of growing
// budget (FGSM and PGD under L-infinity, PGD under L2; robust/attacks.hpp) and under seventeen
// common corruptions in the spirit of MNIST-C (data/corruptions.hpp), as a text table,
// report.json with every figure, and four pictures: the accuracy-versus-budget curves, one digit
// under every corruption, adversarial examples with their perturbations, and the corruption
// accuracies as a table.
//   robustness_report                                             LeNet-5 -> runs/robustness/lenet
//   robustness_report --model runs/mnist_best/model.safetensors   any model the example trainers save
//   robustness_report --images 1000 --steps 20                    a quicker look
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <numeric>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/corruptions.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/robust/attacks.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/lenet/model.safetensors";
  std::string dataset = "auto";
  std::string data_root;   // empty: the documented search
  std::string output;      // empty: runs/robustness/<the model's folder name>
  std::size_t images = 0;  // the first this many test images; 0: all
  std::vector<float> linf_epsilons{0, 0.05f, 0.1f, 0.15f, 0.2f, 0.25f, 0.3f};
  std::vector<float> l2_epsilons{0, 0.5f, 1, 1.5f, 2, 2.5f, 3};
  std::size_t steps = 50;
  std::size_t restarts = 1;
  std::uint64_t seed = 1;
  std::vector<std::string> corruptions;  // empty: all
};

const std::vector<std::string> fashion_names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// How many adversarial examples the picture shows, and which test image every corruption is shown on.
constexpr std::size_t adversarial_examples = 8;
constexpr std::size_t corruption_example = 0;

struct CurvePoint {
  float epsilon = 0;
  std::size_t robust_correct = 0;  // correct on the clean image and after the attack
  double seconds = 0;
  bool attacked = false;  // epsilon 0 is the clean accuracy, no attack run
};

struct AttackCurve {
  std::string name;   // for JSON: fgsm_linf, pgd_linf, pgd_l2
  std::string label;  // for people: "FGSM L-inf"
  ctnn::Norm norm = ctnn::Norm::linf;
  bool fgsm = false;
  std::vector<CurvePoint> points;
};

struct CorruptionResult {
  ctnn::Corruption kind{};
  std::uint64_t seed = 0;
  std::size_t correct = 0;
  double seconds = 0;
  std::vector<float> example;  // the corrupted test image `corruption_example`
  std::uint8_t prediction = 0;
  float probability = 0;
};

struct AdversarialExample {
  std::size_t index = 0;
  std::uint8_t label = 0, clean_prediction = 0, adversarial_prediction = 0;
  std::vector<float> clean, adversarial;
};

// Every figure of the report, computed by the typed net; what follows needs no net type.
struct Report {
  std::string signature;
  std::size_t param_count = 0;
  std::vector<std::string> class_names;
  std::string dataset;
  std::size_t images = 0, height = 0, width = 0;
  std::size_t clean_correct = 0;
  double clean_seconds = 0;
  std::uint8_t example_label = 0, example_prediction = 0;
  float example_probability = 0;
  std::vector<float> example_image;
  std::vector<AttackCurve> curves;
  float adversarial_epsilon = 0;
  std::vector<AdversarialExample> adversarial;
  std::vector<CorruptionResult> corruptions;
  double seconds = 0;

  double accuracy(std::size_t correct) const {
    return images ? static_cast<double>(correct) / static_cast<double>(images) : 0.0;
  }
};

template <class... Values>
std::string format(const char* pattern, Values... values) {
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, pattern, values...)), '\0');
  std::snprintf(text.data(), text.size() + 1, pattern, values...);
  return text;
}

// A budget as written on the command line (0.3, not the float's 0.30000001192092896).
double budget(float epsilon) { return std::stod(format("%g", static_cast<double>(epsilon))); }

std::vector<double> budgets(const std::vector<float>& epsilons) {
  std::vector<double> values;
  for (const float epsilon : epsilons) values.push_back(budget(epsilon));
  return values;
}

// The OpenMP threads the timings were taken with.
int threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What the program is doing, on one line redrawn in place, only on a terminal.
class Status {
 public:
  Status() : enabled_(isatty(fileno(stderr)) != 0) {}
  void show(const std::string& text) {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
  }
  void clear() {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  bool enabled_;
};

std::vector<std::string> class_names_for(const ctnn::ModelInfo& info, std::size_t classes) {
  if (info.class_names.size() == classes) return info.class_names;
  std::vector<std::string> names;
  for (std::size_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

std::vector<ctnn::Corruption> chosen_corruptions(const Options& options) {
  std::vector<ctnn::Corruption> kinds;
  if (options.corruptions.empty())
    for (const ctnn::CorruptionInfo& info : ctnn::all_corruptions) kinds.push_back(info.kind);
  for (const std::string& name : options.corruptions) kinds.push_back(ctnn::parse_corruption(name));
  return kinds;
}

// Loads the model and its test set, then measures everything.
Report measure(const Options& options, const std::optional<fs::path>& data_root, Status& status) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ctnn::Corruption> corruption_kinds = chosen_corruptions(options);
  return examples::with_example_model(options.model, [&](auto& net, const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    const ctnn::Normalization normalization = info.normalization;
    if (!std::isfinite(normalization.mean) || !(normalization.stddev > 0) || !std::isfinite(normalization.stddev))
      throw ctnn::ModelError(options.model + ": its input normalization (mean " + std::to_string(normalization.mean) +
                             ", stddev " + std::to_string(normalization.stddev) + ") is not usable");
    Report report;
    report.signature = NetType::signature();
    report.param_count = NetType::param_count;
    report.class_names = class_names_for(info, NetType::classes);
    const bool fashion =
        options.dataset == "fashion" || (options.dataset == "auto" && info.class_names == fashion_names);
    status.show("loading the test set");
    ctnn::Dataset test = fashion ? ctnn::load_fashion_mnist(ctnn::Split::test, data_root)
                                 : ctnn::load_mnist(ctnn::Split::test, data_root);
    ctnn::check_input_shape<NetType>(test);
    if (ctnn::class_count(test) > NetType::classes)
      throw ctnn::DataError(test.name + " has labels up to " + std::to_string(ctnn::class_count(test) - 1) +
                            " but the network has " + std::to_string(NetType::classes) + " classes");
    if (options.images && options.images < test.size()) {
      std::vector<std::size_t> first(options.images);
      std::iota(first.begin(), first.end(), std::size_t{0});
      test = ctnn::subset(test, first, test.name);
    }
    report.dataset = test.name;
    report.images = test.size();
    report.height = test.height;
    report.width = test.width;
    if (test.size() == 0) throw ctnn::DataError(test.name + ": no test images");

    auto workspace = std::make_unique<ctnn::Workspace<NetType, 100>>();
    status.show("clean accuracy");
    auto phase = std::chrono::steady_clock::now();
    const ctnn::Evaluation clean = ctnn::evaluate(net, *workspace, test, normalization);
    report.clean_seconds = seconds_since(phase);
    for (std::size_t i = 0; i < test.size(); ++i) report.clean_correct += clean.predictions[i] == test.labels[i];
    report.example_label = test.labels[corruption_example];
    report.example_prediction = clean.predictions[corruption_example];
    report.example_probability = clean.probabilities[corruption_example * NetType::classes + report.example_prediction];
    const auto example = test.image(corruption_example);
    report.example_image.assign(example.begin(), example.end());

    report.curves = {{"fgsm_linf", "FGSM L-inf", ctnn::Norm::linf, true, {}},
                     {"pgd_linf", "PGD L-inf", ctnn::Norm::linf, false, {}},
                     {"pgd_l2", "PGD L2", ctnn::Norm::l2, false, {}}};
    std::size_t runs = 0, run = 0;
    for (const AttackCurve& curve : report.curves)
      runs += (curve.norm == ctnn::Norm::linf ? options.linf_epsilons : options.l2_epsilons).size();
    for (AttackCurve& curve : report.curves) {
      for (const float epsilon : curve.norm == ctnn::Norm::linf ? options.linf_epsilons : options.l2_epsilons) {
        ++run;
        CurvePoint point{.epsilon = epsilon, .robust_correct = report.clean_correct};
        if (epsilon > 0) {
          status.show(format("attack %zu of %zu: %s, epsilon %g, %zu images", run, runs, curve.label.c_str(),
                             static_cast<double>(epsilon), test.size()));
          ctnn::AttackOptions attack =
              curve.fgsm ? ctnn::fgsm(epsilon) : ctnn::pgd(curve.norm, epsilon, options.steps, options.restarts);
          attack.seed = options.seed;
          const ctnn::AttackResult result = ctnn::attack_dataset(net, *workspace, test, normalization, attack);
          point = {epsilon, result.robust_correct, result.seconds, true};
        }
        curve.points.push_back(point);
      }
    }

    // The examples: PGD L-inf at the largest budget on the first test images. Each image's random
    // start depends only on its place in the batch, so these are the images of the curve's run.
    report.adversarial_epsilon = *std::max_element(options.linf_epsilons.begin(), options.linf_epsilons.end());
    const std::size_t shown = std::min(adversarial_examples, test.size());
    status.show(format("adversarial examples at epsilon %g", static_cast<double>(report.adversarial_epsilon)));
    ctnn::AttackOptions attack =
        ctnn::pgd(ctnn::Norm::linf, report.adversarial_epsilon, options.steps, options.restarts);
    attack.seed = options.seed;
    const ctnn::AttackResult attacked =
        ctnn::attack_dataset(net, *workspace, test, normalization, attack, shown, /*keep_images=*/true);
    const std::size_t size = test.image_size();
    for (std::size_t i = 0; i < shown; ++i) {
      const auto image = test.image(i);
      const auto adversarial = std::span(attacked.adversarial).subspan(i * size, size);
      report.adversarial.push_back({i, test.labels[i], clean.predictions[i], attacked.predictions[i],
                                    std::vector<float>(image.begin(), image.end()),
                                    std::vector<float>(adversarial.begin(), adversarial.end())});
    }

    for (std::size_t k = 0; k < corruption_kinds.size(); ++k) {
      const ctnn::Corruption kind = corruption_kinds[k];
      status.show(format("corruption %zu of %zu: %s, %zu images", k + 1, corruption_kinds.size(),
                         std::string(ctnn::to_string(kind)).c_str(), test.size()));
      CorruptionResult result;
      result.kind = kind;
      result.seed = ctnn::derive_seed(options.seed, static_cast<std::uint64_t>(kind));
      phase = std::chrono::steady_clock::now();
      const ctnn::Dataset corrupted = ctnn::corrupt_dataset(test, kind, result.seed);
      const ctnn::Evaluation evaluation = ctnn::evaluate(net, *workspace, corrupted, normalization);
      result.seconds = seconds_since(phase);
      for (std::size_t i = 0; i < corrupted.size(); ++i)
        result.correct += evaluation.predictions[i] == corrupted.labels[i];
      const auto shown_image = corrupted.image(corruption_example);
      result.example.assign(shown_image.begin(), shown_image.end());
      result.prediction = evaluation.predictions[corruption_example];
      result.probability = evaluation.probabilities[corruption_example * NetType::classes + result.prediction];
      report.corruptions.push_back(std::move(result));
    }
    status.clear();
    report.seconds = seconds_since(start);
    return report;
  });
}

double mean_corruption_accuracy(const Report& report) {
  if (report.corruptions.empty()) return std::nan("");
  double sum = 0;
  for (const CorruptionResult& result : report.corruptions) sum += report.accuracy(result.correct);
  return sum / static_cast<double>(report.corruptions.size());
}

std::string text_report(const Report& report, const Options& options) {
  const double clean = report.accuracy(report.clean_correct);
  std::string text;
  text += format("model     %s\n", options.model.c_str());
  text += format("network   %s (%zu parameters)\n", report.signature.c_str(), report.param_count);
  text += format("data      %s test set, %s%zu images\n", report.dataset.c_str(),
                 options.images && options.images <= report.images ? "the first " : "", report.images);
  text += format("clean     %.2f%% (%zu of %zu), %.2f s\n\n", 100 * clean, report.clean_correct, report.images,
                 report.clean_seconds);

  text += format(
      "accuracy under attack (PGD: %zu steps of 2.5 eps / %zu, %zu restart%s, random start; eps in pixel "
      "units, pixels in [0, 1]; eps 0 is the clean accuracy)\n",
      options.steps, options.steps, options.restarts, options.restarts == 1 ? "" : "s");
  const AttackCurve &fgsm = report.curves[0], &pgd_linf = report.curves[1], &pgd_l2 = report.curves[2];
  text += "L-inf eps  FGSM     PGD        seconds\n";
  for (std::size_t i = 0; i < fgsm.points.size(); ++i)
    text += format("%9.3f  %6.2f%%  %6.2f%%  %8.1f\n", static_cast<double>(fgsm.points[i].epsilon),
                   100 * report.accuracy(fgsm.points[i].robust_correct),
                   100 * report.accuracy(pgd_linf.points[i].robust_correct),
                   fgsm.points[i].seconds + pgd_linf.points[i].seconds);
  text += "\n   L2 eps  PGD        seconds\n";
  for (const CurvePoint& point : pgd_l2.points)
    text += format("%9.3f  %6.2f%%  %8.1f\n", static_cast<double>(point.epsilon),
                   100 * report.accuracy(point.robust_correct), point.seconds);

  text += "\naccuracy under corruption (one fixed severity each, data/corruptions.hpp)\n";
  text += "corruption      accuracy  vs clean  seconds  severity\n";
  for (const CorruptionResult& result : report.corruptions) {
    const ctnn::CorruptionInfo& info = ctnn::corruption_info(result.kind);
    const double accuracy = report.accuracy(result.correct);
    text += format("%-14s  %7.2f%%  %+7.2f  %7.2f  %s\n", std::string(info.name).c_str(), 100 * accuracy,
                   100 * (accuracy - clean), result.seconds, std::string(info.severity).c_str());
  }
  const double mean = mean_corruption_accuracy(report);
  text += format("%-14s  %7.2f%%  %+7.2f\n", "mean", 100 * mean, 100 * (mean - clean));
  text += format("\ntotal %.1f s, %d OpenMP thread%s\n", report.seconds, threads(), threads() == 1 ? "" : "s");
  return text;
}

json json_report(const Report& report, const Options& options) {
  json curves = json::array();
  for (const AttackCurve& curve : report.curves) {
    json points = json::array();
    for (const CurvePoint& point : curve.points)
      points.push_back({{"epsilon", budget(point.epsilon)},
                        {"accuracy", report.accuracy(point.robust_correct)},
                        {"robust_correct", point.robust_correct},
                        {"attacked", point.attacked},
                        {"seconds", point.seconds}});
    curves.push_back({{"name", curve.name},
                      {"label", curve.label},
                      {"norm", ctnn::norm_name(curve.norm)},
                      {"steps", curve.fgsm ? std::size_t{1} : options.steps},
                      {"step_size", curve.fgsm ? "epsilon" : "2.5 epsilon / steps"},
                      {"restarts", curve.fgsm ? std::size_t{1} : options.restarts},
                      {"random_start", !curve.fgsm},
                      {"points", points}});
  }
  json corruptions = json::array();
  for (const CorruptionResult& result : report.corruptions) {
    const ctnn::CorruptionInfo& info = ctnn::corruption_info(result.kind);
    corruptions.push_back({{"name", info.name},
                           {"severity", info.severity},
                           {"seed", result.seed},
                           {"accuracy", report.accuracy(result.correct)},
                           {"correct", result.correct},
                           {"seconds", result.seconds},
                           {"example_prediction", result.prediction},
                           {"example_probability", result.probability}});
  }
  json adversarial = json::array();
  for (const AdversarialExample& example : report.adversarial)
    adversarial.push_back({{"index", example.index},
                           {"label", example.label},
                           {"clean_prediction", example.clean_prediction},
                           {"adversarial_prediction", example.adversarial_prediction}});
  const double mean = mean_corruption_accuracy(report);
  return {{"program", "robustness_report"},
          {"model", options.model},
          {"network", report.signature},
          {"param_count", report.param_count},
          {"dataset", report.dataset},
          {"split", "test"},
          {"images", report.images},
          {"options",
           {{"images", options.images},
            {"steps", options.steps},
            {"restarts", options.restarts},
            {"seed", options.seed},
            {"linf_epsilons", budgets(options.linf_epsilons)},
            {"l2_epsilons", budgets(options.l2_epsilons)}}},
          {"clean",
           {{"accuracy", report.accuracy(report.clean_correct)},
            {"correct", report.clean_correct},
            {"seconds", report.clean_seconds}}},
          {"attacks", curves},
          {"adversarial_examples",
           {{"attack", "pgd_linf"}, {"epsilon", budget(report.adversarial_epsilon)}, {"images", adversarial}}},
          {"corruptions", corruptions},
          {"mean_corruption_accuracy", std::isnan(mean) ? json(nullptr) : json(mean)},
          {"seconds", report.seconds},
          {"threads", threads()}};
}

ctnn::Picture curves_picture(const Report& report) {
  const auto chart = [&](const std::string& title, const std::string& x_label, std::vector<std::size_t> which) {
    ctnn::LineChart line_chart{.title = title,
                               .x_label = x_label,
                               .y_label = "accuracy (%)",
                               .series = {},
                               .x_range = std::nullopt,
                               .y_range = ctnn::AxisRange{0, 100},
                               .legend = ctnn::LegendPosition::bottom_left,
                               .width = 640,
                               .height = 480};
    double largest = 0;
    for (const std::size_t c : which) {
      const AttackCurve& curve = report.curves[c];
      ctnn::Series series{.name = curve.label, .x = {}, .y = {}, .color = ctnn::category_colors[c], .markers = true};
      for (const CurvePoint& point : curve.points) {
        series.x.push_back(point.epsilon);
        largest = std::max(largest, static_cast<double>(point.epsilon));
        series.y.push_back(100 * report.accuracy(point.robust_correct));
      }
      line_chart.series.push_back(std::move(series));
    }
    if (largest > 0) line_chart.x_range = ctnn::AxisRange{0, largest};
    return ctnn::draw_line_chart(line_chart);
  };
  return ctnn::side_by_side({chart("accuracy under L-inf attacks", "epsilon (L-inf, pixels in [0, 1])", {0, 1}),
                             chart("accuracy under L2 attacks", "epsilon (L2, pixels in [0, 1])", {2})});
}

ctnn::TextLine prediction_line(const Report& report, std::uint8_t prediction, std::uint8_t label, float probability) {
  const ctnn::Color right{30, 120, 30}, wrong{200, 30, 30};
  std::string text = "pred " + report.class_names[prediction];
  if (probability >= 0) text += format(" %.2f", static_cast<double>(probability));
  return {text, prediction == label ? right : wrong};
}

ctnn::Picture corruptions_picture(const Report& report) {
  ctnn::ImageGrid grid{.title = format("test image %zu (a %s) under each corruption, with the net's prediction",
                                       corruption_example, report.class_names[report.example_label].c_str()),
                       .tiles = {},
                       .columns = 6,
                       .scale = 4};
  grid.tiles.push_back(
      {{report.example_image, report.width, report.height},
       {{"clean", ctnn::colors::black},
        prediction_line(report, report.example_prediction, report.example_label, report.example_probability)}});
  for (const CorruptionResult& result : report.corruptions)
    grid.tiles.push_back({{result.example, report.width, report.height},
                          {{std::string(ctnn::to_string(result.kind)), ctnn::colors::black},
                           prediction_line(report, result.prediction, report.example_label, result.probability)}});
  return ctnn::draw_image_grid(grid);
}

// Each row: the clean image, the perturbation (gray is no change, white added ink, black removed,
// at full scale for +-epsilon), the adversarial image.
ctnn::Picture adversarial_picture(const Report& report, std::vector<std::vector<float>>& perturbations) {
  const float epsilon = report.adversarial_epsilon;
  ctnn::ImageGrid grid{.title = format("PGD L-inf, epsilon %g: clean, perturbation (gray 0, white +eps, black -eps), "
                                       "adversarial",
                                       static_cast<double>(epsilon)),
                       .tiles = {},
                       .columns = 3,
                       .scale = 4};
  perturbations.clear();
  for (const AdversarialExample& example : report.adversarial) {
    std::vector<float> perturbation(example.clean.size());
    for (std::size_t i = 0; i < perturbation.size(); ++i)
      perturbation[i] = epsilon > 0
                            ? std::clamp(0.5f + (example.adversarial[i] - example.clean[i]) / (2 * epsilon), 0.0f, 1.0f)
                            : 0.5f;
    perturbations.push_back(std::move(perturbation));
  }
  for (std::size_t k = 0; k < report.adversarial.size(); ++k) {
    const AdversarialExample& example = report.adversarial[k];
    double largest = 0;
    for (std::size_t i = 0; i < example.clean.size(); ++i)
      largest = std::max(largest, static_cast<double>(std::abs(example.adversarial[i] - example.clean[i])));
    grid.tiles.push_back(
        {{example.clean, report.width, report.height},
         {{format("#%zu, a %s", example.index, report.class_names[example.label].c_str()), ctnn::colors::black},
          prediction_line(report, example.clean_prediction, example.label, -1)}});
    grid.tiles.push_back({{perturbations[k], report.width, report.height},
                          {{"perturbation", ctnn::colors::black}, {format("max |d| %.3f", largest), {110, 110, 110}}}});
    grid.tiles.push_back({{example.adversarial, report.width, report.height},
                          {{"adversarial", ctnn::colors::black},
                           prediction_line(report, example.adversarial_prediction, example.label, -1)}});
  }
  return ctnn::draw_image_grid(grid);
}

// The corruption accuracies as a table whose shades grow with the error.
ctnn::Picture corruption_table_picture(const Report& report, const std::string& title) {
  std::vector<std::pair<std::string, std::size_t>> rows{{"clean", report.clean_correct}};
  for (const CorruptionResult& result : report.corruptions)
    rows.emplace_back(std::string(ctnn::to_string(result.kind)), result.correct);
  double worst_error = 0;
  for (const auto& row : rows) worst_error = std::max(worst_error, 1 - report.accuracy(row.second));
  const double clean = report.accuracy(report.clean_correct);
  ctnn::HeatMap map{.title = title,
                    .row_title = "",
                    .column_title = "",
                    .row_labels = {},
                    .column_labels = {"accuracy", "vs clean"},
                    .shades = {},
                    .cells = {},
                    .note = "shade: error rate, darkest the worst"};
  for (const auto& row : rows) {
    const double accuracy = report.accuracy(row.second);
    const double shade = worst_error > 0 ? (1 - accuracy) / worst_error : 0.0;
    map.row_labels.push_back(row.first);
    map.cells.push_back(format("%.2f%%", 100 * accuracy));
    map.cells.push_back(format("%+.2f", 100 * (accuracy - clean)));
    map.shades.push_back(shade);
    map.shades.push_back(shade);
  }
  return ctnn::draw_heat_map(map);
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Measure a trained model's robustness on its test set: accuracy under FGSM and PGD attacks of growing budget "
      "(L-inf and L2) and under 17 common corruptions (MNIST-C's kinds), as text, JSON and pictures.");
  app.add_option("--model", options.model, "Model file saved by an example trainer")->capture_default_str();
  app.add_option("--dataset", options.dataset,
                 "mnist or fashion; auto: fashion when the model's class names are Fashion-MNIST's, else mnist")
      ->check(CLI::IsMember({"auto", "mnist", "fashion"}))
      ->capture_default_str();
  app.add_option("--data", options.data_root,
                 "Folder holding mnist/ or fashion-mnist/ (default: $CTNN_DATA, ./data, ../shared/data, then system "
                 "folders)");
  app.add_option("--output", options.output, "Folder for the report (default: runs/robustness/<the model's folder>)");
  app.add_option("--images", options.images, "Use the first N test images (0: all)")->capture_default_str();
  app.add_option("--linf-eps", options.linf_epsilons, "L-inf budgets for FGSM and PGD, in pixel units")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--l2-eps", options.l2_epsilons, "L2 budgets for PGD, in pixel units")
      ->delimiter(',')
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--steps", options.steps, "PGD steps (each 2.5 eps / steps long)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--restarts", options.restarts, "PGD restarts from random starts; an image fooled once stays fooled")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seed", options.seed, "Seed of the random starts and the corruptions")->capture_default_str();
  app.add_option("--corruptions", options.corruptions, "Corruptions to measure, e.g. fog,zigzag (default: all 17)")
      ->delimiter(',');
  CLI11_PARSE(app, argc, argv);
  if (options.linf_epsilons.empty() || options.l2_epsilons.empty())
    throw std::invalid_argument("--linf-eps and --l2-eps need at least one budget each");
  chosen_corruptions(options);  // a bad name fails here, before the model is read

  const fs::path model_path(options.model);
  std::string model_name = model_path.parent_path().filename().string();
  if (model_name.empty()) model_name = model_path.stem().string();
  const fs::path output =
      options.output.empty() ? fs::path("runs") / "robustness" / model_name : fs::path(options.output);
  const std::optional<fs::path> data_root =
      options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);

  Status status;
  const Report report = measure(options, data_root, status);

  const std::string text = text_report(report, options);
  std::fputs(text.c_str(), stdout);
  fs::create_directories(output);
  ctnn::write_file_atomically(output / "report.txt", text);
  ctnn::write_file_atomically(output / "report.json", json_report(report, options).dump(2) + "\n");
  ctnn::save_png(curves_picture(report), output / "attack_curves.png");
  ctnn::save_png(corruptions_picture(report), output / "corruptions.png");
  std::vector<std::vector<float>> perturbations;  // the pictures' pixels, alive until drawn
  ctnn::save_png(adversarial_picture(report, perturbations), output / "adversarial_examples.png");
  ctnn::save_png(corruption_table_picture(report, format("%s: accuracy under corruption, %zu %s test images",
                                                         model_name.c_str(), report.images, report.dataset.c_str())),
                 output / "corruption_accuracy.png");
  std::printf(
      "\nreport: %s (report.txt, report.json, attack_curves.png, corruptions.png, adversarial_examples.png, "
      "corruption_accuracy.png)\n",
      output.c_str());
} catch (const std::exception& error) {
  if (isatty(fileno(stderr))) std::fputs("\r\033[K", stderr);  // after a status line
  std::fprintf(stderr, "robustness_report: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
