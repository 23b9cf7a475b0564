// Evaluates a trained model on its test set and writes a report beside it: a text table
// (per-class precision, recall, F1, support and AUC, their averages, accuracy, top-k accuracy,
// calibration, loss and the confusion matrix), report.json with every number, and four pictures:
// the confusion matrix as a heat map, the most confident mistakes, the ROC curves and the
// training curves of the model's log.csv.
//   evaluate                                               LeNet-5 in runs/lenet -> runs/lenet/report
//   evaluate --model runs/mnist_best/model.safetensors     any model the example trainers save
//   evaluate --help
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/eval/metrics.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/train/training_log.hpp>

#include "models.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/lenet/model.safetensors";
  std::string dataset = "auto";
  std::string data_root;  // empty: the documented search
  std::string log;        // empty: log.csv beside the model, if there is one
  std::string output;     // empty: report/ beside the model
  std::size_t worst = 36;
  std::vector<std::size_t> top_k{2, 3};
};

const std::vector<std::string> fashion_names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// What the network gave on the test set, and what the report says about the network.
struct ModelRun {
  std::string signature;
  std::size_t param_count = 0;
  std::vector<std::string> class_names;
  ctnn::Evaluation evaluation;
  double seconds = 0;
};

// Every number of the report, computed from the predictions.
struct Metrics {
  ctnn::ConfusionMatrix confusion;
  ctnn::ClassificationScores scores;
  std::vector<ctnn::RocCurve> roc;
  std::vector<double> top_k;  // for Options::top_k, in order
  ctnn::Calibration calibration;
  double mean_confidence = 0;  // of the top class, over the test set: above the accuracy is overconfident
  double macro_auc = 0;        // mean over the classes whose AUC is defined
  std::size_t worst_auc_class = 0;
  std::vector<std::size_t> worst_errors;  // misclassified test images, most confident first
};

// printf into a std::string.
template <class... Values>
std::string format(const char* pattern, Values... values) {
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, pattern, values...)), '\0');
  std::snprintf(text.data(), text.size() + 1, pattern, values...);
  return text;
}

// 126782 -> "126,782".
std::string thousands(std::size_t value) {
  std::string digits = std::to_string(value);
  for (std::size_t i = digits.size(); i > 3; i -= 3) digits.insert(i - 3, ",");
  return digits;
}

// A model file's errors can span lines (the known architectures, one per line); a program's
// error is one line.
std::string one_line(std::string text) {
  std::string line;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\n') {
      line += text[i];
      continue;
    }
    while (i + 1 < text.size() && text[i + 1] == ' ') ++i;
    line += line.ends_with(':') ? " " : "; ";
  }
  return line;
}

std::vector<std::string> class_names_for(const ctnn::ModelInfo& info, std::size_t classes) {
  if (info.class_names.size() == classes) return info.class_names;
  if (!info.class_names.empty())
    std::fprintf(stderr, "evaluate: warning: the model file names %zu classes but the network has %zu; using indices\n",
                 info.class_names.size(), classes);
  std::vector<std::string> names;
  for (std::size_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  return names;
}

// ctnn::evaluate over parts of 1,000 images, with a progress line on a terminal: a large net on
// a slow machine takes a while.
template <class NetType>
ctnn::Evaluation evaluate_in_parts(NetType& net, const ctnn::Dataset& test, ctnn::Normalization normalization) {
  constexpr std::size_t part_size = 1000;
  const bool progress = isatty(fileno(stderr)) != 0;
  ctnn::Workspace<NetType, 100> workspace;
  ctnn::Evaluation total;
  total.classes = NetType::classes;
  double loss_sum = 0;
  std::vector<std::size_t> indices;
  for (std::size_t first = 0; first < test.size(); first += part_size) {
    if (progress) std::fprintf(stderr, "\r\033[Kevaluating: %zu of %zu test images", first, test.size());
    indices.resize(std::min(part_size, test.size() - first));
    std::iota(indices.begin(), indices.end(), first);
    const ctnn::Evaluation part = ctnn::evaluate(net, workspace, ctnn::subset(test, indices, test.name), normalization);
    loss_sum += static_cast<double>(part.loss) * static_cast<double>(indices.size());
    total.predictions.insert(total.predictions.end(), part.predictions.begin(), part.predictions.end());
    total.probabilities.insert(total.probabilities.end(), part.probabilities.begin(), part.probabilities.end());
  }
  if (progress) std::fprintf(stderr, "\r\033[K");
  if (test.size() == 0) return total;
  std::size_t correct = 0;
  for (std::size_t i = 0; i < test.size(); ++i) correct += total.predictions[i] == test.labels[i];
  total.loss = static_cast<float>(loss_sum / static_cast<double>(test.size()));
  total.accuracy = static_cast<float>(correct) / static_cast<float>(test.size());
  return total;
}

// Loads the model, then its test set (`dataset`, or for "auto" the one its class names point
// to), and runs the network over it.
ModelRun run_model(const fs::path& path, const std::string& dataset, const std::optional<fs::path>& data_root,
                   ctnn::Dataset& test) {
  return examples::with_example_model(path, [&](auto& net, const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    const bool fashion = dataset == "fashion" || (dataset == "auto" && info.class_names == fashion_names);
    const ctnn::Normalization normalization = info.normalization;
    if (!std::isfinite(normalization.mean) || !(normalization.stddev > 0) || !std::isfinite(normalization.stddev))
      throw ctnn::ModelError(path.string() + ": its input normalization (mean " + std::to_string(normalization.mean) +
                             ", stddev " + std::to_string(normalization.stddev) + ") is not usable");
    ModelRun run{NetType::signature(), NetType::param_count, class_names_for(info, NetType::classes), {}, 0};
    test = fashion ? ctnn::load_fashion_mnist(ctnn::Split::test, data_root)
                   : ctnn::load_mnist(ctnn::Split::test, data_root);
    if (ctnn::class_count(test) > NetType::classes)
      throw ctnn::DataError(test.name + " has labels up to " + std::to_string(ctnn::class_count(test) - 1) +
                            " but the network has " + std::to_string(NetType::classes) + " classes");
    const auto start = std::chrono::steady_clock::now();
    run.evaluation = evaluate_in_parts(net, test, normalization);
    run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto& probabilities = run.evaluation.probabilities;
    const auto bad =
        std::find_if(probabilities.begin(), probabilities.end(), [](float p) { return !std::isfinite(p); });
    if (bad != probabilities.end())
      throw ctnn::ModelError(path.string() + ": the network's output for test image " +
                             std::to_string((bad - probabilities.begin()) / NetType::classes) +
                             " is not a number (are its weights finite?)");
    return run;
  });
}

Metrics compute_metrics(const ctnn::Dataset& test, const ctnn::Evaluation& evaluation, const Options& options) {
  const std::size_t classes = evaluation.classes;
  const std::span<const std::uint8_t> labels = test.labels;
  const std::span<const float> probabilities = evaluation.probabilities;
  Metrics metrics;
  metrics.confusion = ctnn::confusion_matrix(labels, evaluation.predictions, classes);
  metrics.scores = ctnn::classification_scores(metrics.confusion);
  metrics.roc = ctnn::roc_curves(labels, probabilities, classes);
  for (const std::size_t k : options.top_k)
    metrics.top_k.push_back(ctnn::top_k_accuracy(labels, probabilities, classes, k));
  metrics.calibration = ctnn::calibration(labels, probabilities, classes);
  for (const ctnn::CalibrationBin& bin : metrics.calibration.bins)
    metrics.mean_confidence += static_cast<double>(bin.count) * bin.mean_confidence;
  if (!labels.empty()) metrics.mean_confidence /= static_cast<double>(labels.size());

  double auc_sum = 0, worst_auc = 2;
  std::size_t defined = 0;
  for (std::size_t c = 0; c < classes; ++c) {
    const double auc = metrics.roc[c].auc;
    if (std::isnan(auc)) continue;
    auc_sum += auc;
    ++defined;
    if (auc < worst_auc) {
      worst_auc = auc;
      metrics.worst_auc_class = c;
    }
  }
  metrics.macro_auc = defined ? auc_sum / static_cast<double>(defined) : std::nan("");

  for (std::size_t i = 0; i < test.size(); ++i)
    if (evaluation.predictions[i] != test.labels[i]) metrics.worst_errors.push_back(i);
  const auto confidence = [&](std::size_t i) { return probabilities[i * classes + evaluation.predictions[i]]; };
  std::stable_sort(metrics.worst_errors.begin(), metrics.worst_errors.end(),
                   [&](std::size_t a, std::size_t b) { return confidence(a) > confidence(b); });
  if (metrics.worst_errors.size() > options.worst) metrics.worst_errors.resize(options.worst);
  return metrics;
}

// The trainer's log.csv (train/training_log.hpp), read by its header's column names.
std::vector<ctnn::EpochRecord> read_log_csv(const fs::path& path) {
  std::ifstream file(path);
  if (!file) throw ctnn::DataError(path.string() + ": cannot open the training log");
  const auto split = [](const std::string& line) {
    std::vector<std::string> fields;
    std::stringstream stream(line);
    for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
    return fields;
  };
  std::string line;
  std::getline(file, line);
  if (line.ends_with('\r')) line.pop_back();
  const std::vector<std::string> header = split(line);
  std::map<std::string, std::size_t> column;
  for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
  for (const char* name : {"epoch", "train_loss", "train_accuracy", "validation_loss", "validation_accuracy"})
    if (!column.contains(name))
      throw ctnn::DataError(path.string() + ": not a ctnn training log: its header has no \"" + name + "\" column");

  std::vector<ctnn::EpochRecord> records;
  for (std::size_t number = 2; std::getline(file, line); ++number) {
    if (line.ends_with('\r')) line.pop_back();  // written on Windows
    if (line.empty()) continue;
    const std::vector<std::string> fields = split(line);
    if (fields.size() != header.size())
      throw ctnn::DataError(path.string() + ": line " + std::to_string(number) + " has " +
                            std::to_string(fields.size()) + " fields, the header " + std::to_string(header.size()));
    const auto value = [&](const char* name) {
      const std::string& text = fields[column.at(name)];
      double parsed = 0;
      const auto result = std::from_chars(text.data(), text.data() + text.size(), parsed);
      if (result.ec != std::errc{} || result.ptr != text.data() + text.size())
        throw ctnn::DataError(path.string() + ": line " + std::to_string(number) + ": " + name + " is \"" +
                              text.substr(0, 40) + (text.size() > 40 ? "...\"" : "\"") + ", not a number");
      return parsed;
    };
    ctnn::EpochRecord record;
    const double epoch = value("epoch");
    if (!(epoch >= 1 && epoch < 1e9))
      throw ctnn::DataError(path.string() + ": line " + std::to_string(number) + ": epoch " + fields[column["epoch"]] +
                            " is not a positive count");
    record.epoch = static_cast<std::size_t>(epoch);
    record.train_loss = static_cast<float>(value("train_loss"));
    record.train_accuracy = static_cast<float>(value("train_accuracy"));
    record.validation_loss = static_cast<float>(value("validation_loss"));
    record.validation_accuracy = static_cast<float>(value("validation_accuracy"));
    if (column.contains("learning_rate")) record.learning_rate = static_cast<float>(value("learning_rate"));
    if (column.contains("seconds")) record.seconds = value("seconds");
    records.push_back(record);
  }
  if (records.empty()) throw ctnn::DataError(path.string() + ": the training log has no epochs");
  return records;
}

std::string text_report(const ModelRun& run, const ctnn::Dataset& test, const Metrics& metrics,
                        const Options& options) {
  const auto& names = run.class_names;
  const std::size_t classes = names.size();
  std::size_t name_width = 12;  // "weighted avg"
  for (const std::string& name : names) name_width = std::max(name_width, name.size());
  const int name_column = static_cast<int>(name_width);

  std::string text;
  text += format("model     %s\n", options.model.c_str());
  text += format("network   %s (%s parameters)\n", run.signature.c_str(), thousands(run.param_count).c_str());
  text += format("data      %s test set, %zu images (evaluated in %.2f s)\n\n", test.name.c_str(), test.size(),
                 run.seconds);

  text += format("%-*s  precision  recall      F1  support       AUC\n", name_column, "class");
  for (std::size_t c = 0; c < classes; ++c) {
    const ctnn::ClassScores& s = metrics.scores.per_class[c];
    text += format("%-*s  %9.4f  %6.4f  %6.4f  %7zu  %8.6f\n", name_column, names[c].c_str(), s.precision, s.recall,
                   s.f1, s.support, metrics.roc[c].auc);
  }
  const ctnn::ClassScores& macro = metrics.scores.macro;
  const ctnn::ClassScores& weighted = metrics.scores.weighted;
  text += format("%-*s  %9.4f  %6.4f  %6.4f  %7zu  %8.6f\n", name_column, "macro avg", macro.precision, macro.recall,
                 macro.f1, macro.support, metrics.macro_auc);
  text += format("%-*s  %9.4f  %6.4f  %6.4f  %7zu\n\n", name_column, "weighted avg", weighted.precision,
                 weighted.recall, weighted.f1, weighted.support);

  text += format("accuracy          %.2f%% (%zu of %zu)\n", 100 * metrics.scores.accuracy, metrics.confusion.correct(),
                 metrics.confusion.total());
  for (std::size_t i = 0; i < options.top_k.size(); ++i)
    text += format("%-18s%.2f%%\n", format("top-%zu accuracy", options.top_k[i]).c_str(), 100 * metrics.top_k[i]);
  text += format("loss              %.4f (mean cross-entropy)\n", run.evaluation.loss);
  text += format("calibration       ECE %.4f, MCE %.4f (%zu bins of top-class confidence; mean confidence %.2f%%)\n",
                 metrics.calibration.expected_calibration_error, metrics.calibration.maximum_calibration_error,
                 metrics.calibration.bins.size(), 100 * metrics.mean_confidence);
  text += format("AUC               min %.6f (class %s), macro %.6f\n\n", metrics.roc[metrics.worst_auc_class].auc,
                 names[metrics.worst_auc_class].c_str(), metrics.macro_auc);

  // Columns are the class indices when names are long (Fashion-MNIST's), so the matrix stays narrow.
  const bool short_names = std::all_of(names.begin(), names.end(), [](const auto& n) { return n.size() <= 4; });
  std::size_t cell = 5;
  for (const std::size_t count : metrics.confusion.counts) cell = std::max(cell, std::to_string(count).size() + 1);
  const int count_column = static_cast<int>(cell);
  text += format("confusion matrix (rows: true class, columns: predicted class%s)\n", short_names ? "" : " by index");
  text += format("%-*s", short_names ? name_column : name_column + 4, "");
  for (std::size_t c = 0; c < classes; ++c)
    text += format("%*s", count_column, short_names ? names[c].c_str() : std::to_string(c).c_str());
  text += "\n";
  for (std::size_t t = 0; t < classes; ++t) {
    if (short_names)
      text += format("%-*s", name_column, names[t].c_str());
    else
      text += format("%2zu  %-*s", t, name_column, names[t].c_str());
    for (std::size_t p = 0; p < classes; ++p) text += format("%*zu", count_column, metrics.confusion(t, p));
    text += "\n";
  }
  return text;
}

json roc_json(const ctnn::RocCurve& curve) {
  json points = json::array();
  // The corners only: points on a straight horizontal or vertical run add nothing to the curve
  // or its area (scikit-learn's drop_intermediate), and MNIST has 10,000 scores per class.
  for (std::size_t i = 0; i < curve.points.size(); ++i) {
    const ctnn::RocPoint& p = curve.points[i];
    if (i > 0 && i + 1 < curve.points.size()) {
      const ctnn::RocPoint &before = curve.points[i - 1], &after = curve.points[i + 1];
      const bool vertical =
          before.false_positive_rate == p.false_positive_rate && p.false_positive_rate == after.false_positive_rate;
      const bool horizontal =
          before.true_positive_rate == p.true_positive_rate && p.true_positive_rate == after.true_positive_rate;
      if (vertical || horizontal) continue;
    }
    points.push_back(
        {std::isinf(p.threshold) ? json(nullptr) : json(p.threshold), p.false_positive_rate, p.true_positive_rate});
  }
  return {{"positives", curve.positives},
          {"negatives", curve.negatives},
          {"points_are", "[threshold, false_positive_rate, true_positive_rate]; threshold null is +infinity"},
          {"points", points}};
}

json json_report(const ModelRun& run, const ctnn::Dataset& test, const Metrics& metrics, const Options& options,
                 const std::optional<fs::path>& log_path, const std::vector<ctnn::EpochRecord>& log) {
  const auto scores_json = [](const ctnn::ClassScores& s) {
    return json{{"precision", s.precision}, {"recall", s.recall}, {"f1", s.f1}, {"support", s.support}};
  };
  json per_class = json::array();
  for (std::size_t c = 0; c < run.class_names.size(); ++c) {
    json entry = scores_json(metrics.scores.per_class[c]);
    entry["class"] = c;
    entry["name"] = run.class_names[c];
    entry["auc"] = metrics.roc[c].auc;
    entry["roc"] = roc_json(metrics.roc[c]);
    per_class.push_back(entry);
  }
  json macro = scores_json(metrics.scores.macro);
  macro["auc"] = metrics.macro_auc;
  json top_k = json::object();
  for (std::size_t i = 0; i < options.top_k.size(); ++i) top_k[std::to_string(options.top_k[i])] = metrics.top_k[i];
  json bins = json::array();
  for (const ctnn::CalibrationBin& bin : metrics.calibration.bins)
    bins.push_back({{"lower", bin.lower},
                    {"upper", bin.upper},
                    {"count", bin.count},
                    {"mean_confidence", bin.mean_confidence},
                    {"accuracy", bin.accuracy}});
  json confusion = json::array();
  for (std::size_t t = 0; t < metrics.confusion.classes; ++t) {
    json row = json::array();
    for (std::size_t p = 0; p < metrics.confusion.classes; ++p) row.push_back(metrics.confusion(t, p));
    confusion.push_back(row);
  }
  const std::size_t classes = run.evaluation.classes;
  json errors = json::array();
  for (const std::size_t i : metrics.worst_errors) {
    const std::uint8_t predicted = run.evaluation.predictions[i];
    errors.push_back({{"index", i},
                      {"label", test.labels[i]},
                      {"prediction", predicted},
                      {"probability", run.evaluation.probabilities[i * classes + predicted]},
                      {"label_probability", run.evaluation.probabilities[i * classes + test.labels[i]]}});
  }
  json epochs = json::array();
  for (const ctnn::EpochRecord& record : log) epochs.push_back(ctnn::to_json(record));
  return {{"program", "evaluate"},
          {"model", options.model},
          {"network", run.signature},
          {"param_count", run.param_count},
          {"dataset", test.name},
          {"split", "test"},
          {"images", test.size()},
          {"evaluation_seconds", run.seconds},
          {"class_names", run.class_names},
          {"accuracy", metrics.scores.accuracy},
          {"correct", metrics.confusion.correct()},
          {"loss", run.evaluation.loss},
          {"top_k_accuracy", top_k},
          {"macro", macro},
          {"weighted", scores_json(metrics.scores.weighted)},
          {"auc",
           {{"min", metrics.roc[metrics.worst_auc_class].auc},
            {"min_class", metrics.worst_auc_class},
            {"macro", metrics.macro_auc}}},
          {"calibration",
           {{"bins", metrics.calibration.bins.size()},
            {"expected_calibration_error", metrics.calibration.expected_calibration_error},
            {"maximum_calibration_error", metrics.calibration.maximum_calibration_error},
            {"mean_confidence", metrics.mean_confidence},
            {"reliability", bins}}},
          {"per_class", per_class},
          {"confusion_matrix", {{"rows", "true class"}, {"columns", "predicted class"}, {"counts", confusion}}},
          {"misclassified", metrics.confusion.total() - metrics.confusion.correct()},
          {"worst_errors", errors},
          {"training_log", log_path ? json(log_path->string()) : json(nullptr)},
          {"training_epochs", epochs}};
}

// Shades grow with log(1 + count), so that a handful of mistakes shows beside a diagonal of
// a thousand.
ctnn::Picture confusion_picture(const Metrics& metrics, const std::vector<std::string>& names,
                                const std::string& title) {
  const ctnn::ConfusionMatrix& matrix = metrics.confusion;
  ctnn::HeatMap map{.title = title,
                    .row_title = "true class",
                    .column_title = "predicted class",
                    .row_labels = names,
                    .column_labels = names,
                    .shades = {},
                    .cells = {},
                    .note = "shade: log(1 + count)"};
  const std::size_t largest = *std::max_element(matrix.counts.begin(), matrix.counts.end());
  for (const std::size_t count : matrix.counts) {
    map.shades.push_back(largest ? std::log1p(static_cast<double>(count)) / std::log1p(static_cast<double>(largest))
                                 : 0.0);
    map.cells.push_back(std::to_string(count));
  }
  return ctnn::draw_heat_map(map);
}

ctnn::Picture worst_errors_picture(const ctnn::Dataset& test, const ModelRun& run, const Metrics& metrics) {
  const std::size_t classes = run.evaluation.classes;
  const std::size_t misclassified = metrics.confusion.total() - metrics.confusion.correct();
  ctnn::ImageGrid grid{.title = misclassified ? format("the %zu most confident of %zu mistakes on the test set",
                                                       metrics.worst_errors.size(), misclassified)
                                              : std::string("no mistakes on the test set"),
                       .tiles = {},
                       .columns = 6,
                       .scale = 4};
  for (const std::size_t i : metrics.worst_errors) {
    const std::uint8_t predicted = run.evaluation.predictions[i];
    const float probability = run.evaluation.probabilities[i * classes + predicted];
    grid.tiles.push_back({{test.image(i), test.width, test.height},
                          {{format("#%zu", i), {110, 110, 110}},
                           {"true " + run.class_names[test.labels[i]], ctnn::colors::black},
                           {format("pred %s %.2f", run.class_names[predicted].c_str(), probability), {200, 30, 30}}}});
  }
  return ctnn::draw_image_grid(grid);
}

// The curves of every class and the top-left corner, where good classifiers' curves differ.
ctnn::Picture roc_picture(const Metrics& metrics, const std::vector<std::string>& names) {
  ctnn::Series chance;
  chance.name = "chance";
  chance.x = chance.y = {0, 1};
  chance.color = {150, 150, 150};
  chance.thickness = 1;
  chance.dash = 6;
  std::vector<ctnn::Series> series{chance};
  for (std::size_t c = 0; c < names.size(); ++c) {
    ctnn::Series curve;
    curve.name = format("%s  AUC %.6f", names[c].c_str(), metrics.roc[c].auc);
    curve.color = ctnn::category_colors[c % ctnn::category_colors.size()];
    for (const ctnn::RocPoint& point : metrics.roc[c].points) {
      curve.x.push_back(point.false_positive_rate);
      curve.y.push_back(point.true_positive_rate);
    }
    series.push_back(std::move(curve));
  }
  // The zoom spans false-positive rates up to 2% and every class's true-positive rate there.
  constexpr double zoom_rate = 0.02;
  double lowest = 1;
  for (const ctnn::RocCurve& curve : metrics.roc) {
    double reached = 0;
    for (const ctnn::RocPoint& point : curve.points)
      if (point.false_positive_rate <= zoom_rate) reached = std::max(reached, point.true_positive_rate);
    if (!curve.points.empty()) lowest = std::min(lowest, reached);
  }
  const double zoom_floor = std::max(0.0, std::floor((lowest - 0.005) * 100) / 100);

  ctnn::LineChart full{.title = "ROC curves, one class against the rest",
                       .x_label = "false positive rate",
                       .y_label = "true positive rate",
                       .series = series,
                       .x_range = ctnn::AxisRange{0, 1},
                       .y_range = ctnn::AxisRange{0, 1},
                       .legend = ctnn::LegendPosition::bottom_right,
                       .width = 720,
                       .height = 640};
  ctnn::LineChart corner = full;
  corner.title = "top-left corner, enlarged";
  corner.x_range = ctnn::AxisRange{0, zoom_rate};
  corner.y_range = ctnn::AxisRange{zoom_floor, 1};
  corner.legend = ctnn::LegendPosition::none;
  return ctnn::side_by_side({ctnn::draw_line_chart(full), ctnn::draw_line_chart(corner)});
}

ctnn::Picture training_picture(const std::vector<ctnn::EpochRecord>& log) {
  const auto column = [&](auto field) {
    std::vector<double> values;
    for (const ctnn::EpochRecord& record : log) values.push_back(field(record));
    return values;
  };
  const std::vector<double> epochs = column([](const auto& r) { return static_cast<double>(r.epoch); });
  ctnn::Series training, validation;
  training.name = "training";
  validation.name = "validation";
  training.x = validation.x = column([](const auto& r) { return static_cast<double>(r.epoch); });
  training.y = column([](const auto& r) { return r.train_loss; });
  validation.y = column([](const auto& r) { return r.validation_loss; });
  training.color = ctnn::category_colors[0];
  validation.color = ctnn::category_colors[1];
  training.markers = validation.markers = true;

  ctnn::LineChart loss;
  loss.title = "loss per epoch";
  loss.x_label = "epoch";
  loss.y_label = "loss as logged";
  loss.series = {training, validation};
  loss.width = 640;
  loss.height = 480;
  ctnn::LineChart accuracy = loss;
  accuracy.title = "accuracy per epoch";
  accuracy.y_label = "accuracy (%)";
  accuracy.series[0].y = column([](const auto& r) { return 100.0 * r.train_accuracy; });
  accuracy.series[1].y = column([](const auto& r) { return 100.0 * r.validation_accuracy; });
  accuracy.legend = ctnn::LegendPosition::bottom_right;
  return ctnn::side_by_side({ctnn::draw_line_chart(loss), ctnn::draw_line_chart(accuracy)});
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Evaluate a trained model on its test set: per-class precision, recall, F1 and AUC, accuracy, top-k accuracy, "
      "calibration and the confusion matrix, as text, JSON and pictures.");
  app.add_option("--model", options.model, "Model file saved by an example trainer")->capture_default_str();
  app.add_option("--dataset", options.dataset,
                 "mnist or fashion; auto: fashion when the model's class names are Fashion-MNIST's, else mnist")
      ->check(CLI::IsMember({"auto", "mnist", "fashion"}))
      ->capture_default_str();
  app.add_option("--data", options.data_root,
                 "Folder holding mnist/ or fashion-mnist/ (default: $CTNN_DATA, ./data, "
                 "../shared/data, then system folders)");
  app.add_option("--log", options.log, "Training log (default: log.csv beside the model, skipped if absent)");
  app.add_option("--output", options.output, "Folder for the report (default: report/ beside the model)");
  app.add_option("--worst", options.worst, "Misclassified test images to show")->capture_default_str();
  app.add_option("--top-k", options.top_k, "Top-k accuracies to report, e.g. --top-k 2,3,5")
      ->delimiter(',')
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const fs::path model_path(options.model);
  const fs::path output = options.output.empty() ? model_path.parent_path() / "report" : fs::path(options.output);
  // A log asked for must be read; the one found beside the model is skipped, with a warning,
  // if it cannot be, as the rest of the report does not depend on it.
  std::optional<fs::path> log_path;
  std::vector<ctnn::EpochRecord> log;
  if (!options.log.empty()) {
    log_path = options.log;
    log = read_log_csv(*log_path);
  } else if (std::error_code error; fs::is_regular_file(model_path.parent_path() / "log.csv", error)) {
    try {
      log = read_log_csv(model_path.parent_path() / "log.csv");
      log_path = model_path.parent_path() / "log.csv";
    } catch (const ctnn::DataError& log_error) {
      std::fprintf(stderr, "evaluate: warning: no training curves: %s\n", log_error.what());
    }
  }

  const std::optional<fs::path> data_root =
      options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);
  ctnn::Dataset test;
  const ModelRun run = run_model(model_path, options.dataset, data_root, test);
  for (const std::size_t k : options.top_k)
    if (k == 0 || k > run.evaluation.classes)
      throw std::invalid_argument("--top-k " + std::to_string(k) + " is not between 1 and the " +
                                  std::to_string(run.evaluation.classes) + " classes");
  const Metrics metrics = compute_metrics(test, run.evaluation, options);

  const std::string text = text_report(run, test, metrics, options);
  std::fputs(text.c_str(), stdout);
  fs::create_directories(output);
  ctnn::write_file_atomically(output / "report.txt", text);
  ctnn::write_file_atomically(output / "report.json",
                              json_report(run, test, metrics, options, log_path, log).dump(2) + "\n");
  const std::string model_name = model_path.parent_path().filename().string();
  ctnn::save_png(confusion_picture(metrics, run.class_names,
                                   format("confusion matrix: %s on %s test, accuracy %.2f%%", model_name.c_str(),
                                          test.name.c_str(), 100 * metrics.scores.accuracy)),
                 output / "confusion_matrix.png");
  ctnn::save_png(worst_errors_picture(test, run, metrics), output / "worst_errors.png");
  ctnn::save_png(roc_picture(metrics, run.class_names), output / "roc_curves.png");
  std::printf("\nreport: %s (report.txt, report.json, confusion_matrix.png, worst_errors.png, roc_curves.png",
              output.c_str());
  if (log_path) {
    ctnn::save_png(training_picture(log), output / "training_curves.png");
    std::printf(", training_curves.png from %s", log_path->c_str());
  }
  std::printf(")\n");
} catch (const std::exception& error) {
  std::fprintf(stderr, "evaluate: %s\n", one_line(error.what()).c_str());
  return 1;
}
