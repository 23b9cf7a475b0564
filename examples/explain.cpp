// Explains a trained model's answers on chosen MNIST test images with three attribution methods
// (include/ctnn/explain/): saliency maps, the gradient of the class score with respect to the
// pixels (Simonyan et al. 2014), plain and SmoothGrad; integrated gradients against a black image
// (Sundararajan et al. 2017), with the completeness gap sum(IG) - (S(x) - S(x')) that says how well
// the path integral was computed; and occlusion sensitivity, the drop of the class probability
// under a sliding patch (Zeiler & Fergus 2014). Also draws the first convolution's filters and its
// feature maps (after its activation). Prints a table, and writes explanations.json and six
// pictures into --output: saliency.png, integrated_gradients.png, occlusion.png (rows: images;
// columns: the input and its maps), overview.png (every method side by side), filters.png and
// feature_maps.png.
//
// By default the images are the first test image of each digit and the first few the net gets
// wrong, and the class explained is the net's answer ("why did it say 7?").
//   explain                                    LeNet-5 in runs/lenet (scripts/train_lenet.sh)
//   explain --model runs/mnist_best/model.safetensors
//   explain --images 0,1,2 --explain label     the true class of three chosen images
//   explain --score probability --ig-steps 256
//   explain --help
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <numeric>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/explain/integrated_gradients.hpp>
#include <ctnn/explain/occlusion.hpp>
#include <ctnn/explain/saliency.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/picture.hpp>
#include <ctnn/io/plots.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "digit_reader.hpp"
#include "models.hpp"

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

struct Options {
  std::string model = "runs/lenet/model.safetensors";
  std::string data_root;            // empty: the documented search (CTNN_DATA, data/, ../shared/data)
  std::string output;               // empty: explain/ beside the model
  std::vector<std::size_t> images;  // test indices; empty: the first of each digit and misclassified ones
  std::size_t misclassified = 4;
  std::string explain = "predicted";  // or "label"
  std::string score = "logit";
  ctnn::SaliencyOptions smoothgrad{.samples = 50, .noise = 0.15f, .seed = 1};
  std::size_t ig_steps = 128;
  std::string ig_rule = "trapezoid";
  float baseline = 0.0f;
  ctnn::OcclusionOptions occlusion{.score = ctnn::Score::probability, .patch = 4, .stride = 1, .fill = 0.0f};
  std::size_t feature_images = 10;
  std::size_t top_pixels = 5;
  int threads = 1;
};

constexpr std::size_t side = ctnn::mnist_side;  // MNIST's images are side x side

// Big enough for the 129 points of integrated gradients in three passes and occlusion's 626
// placements in ten; small enough that BestNet's workspace stays near 100 MB.
constexpr std::size_t batch_size = 64;

template <class... Values>
std::string format(const char* pattern, Values... values) {
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, pattern, values...)), '\0');
  std::snprintf(text.data(), text.size() + 1, pattern, values...);
  return text;
}

ctnn::Score parse_score(const std::string& name) {
  if (name == "probability") return ctnn::Score::probability;
  if (name == "log-probability") return ctnn::Score::log_probability;
  return ctnn::Score::logit;
}

ctnn::PathRule parse_rule(const std::string& name) {
  if (name == "right-riemann") return ctnn::PathRule::right_riemann;
  if (name == "midpoint") return ctnn::PathRule::midpoint;
  return ctnn::PathRule::trapezoid;
}

// One explained image: what the net said, and each method's map (pixel units, 28 x 28).
struct Explained {
  std::size_t index = 0, label = 0, prediction = 0, explained_class = 0;
  float probability = 0;  // of the prediction
  ctnn::Saliency gradient, smoothgrad;
  ctnn::IntegratedGradients integrated;
  ctnn::Occlusion occlusion;
};

// The first convolution: its weights (filters x channels x kernel x kernel) and its outputs after
// the layers that keep their shape (batch normalization, activation) for a few images.
struct FirstLayer {
  std::string label;  // the convolution and the layers up to the maps, e.g. "Conv<32, 3> | BatchNorm | ReLU"
  std::size_t filters = 0, channels = 0, kernel = 0, map_height = 0, map_width = 0;
  std::vector<float> weights;
  std::vector<std::size_t> images;  // test indices
  std::vector<float> maps;          // images x filters x map_height x map_width
};

struct Report {
  ctnn::Dataset test;
  std::string signature;
  std::size_t param_count = 0;
  ctnn::Normalization normalization;
  float test_accuracy = 0;
  std::size_t test_images = 0;
  std::vector<Explained> explained;
  FirstLayer first_layer;
  double seconds = 0;
};

// The boundary after the first layer and the parameter-free or normalizing layers that follow it
// with its shape: the first convolution's feature maps after its activation, wherever the net
// puts that activation (fused as in LeNet-5, or after a BatchNorm as in BestNet).
template <class NetType, std::size_t I = 1>
constexpr std::size_t feature_boundary() {
  if constexpr (I < NetType::layer_count) {
    using Next = typename NetType::template layer_type<I>;
    if constexpr (!requires { Next::weight; } &&
                  std::is_same_v<typename Next::out_shape, typename NetType::template shape_at<1>>)
      return feature_boundary<NetType, I + 1>();
    else
      return I;
  } else {
    return I;
  }
}

template <class NetType>
FirstLayer first_layer(NetType& net, ctnn::Workspace<NetType, batch_size>& ws, const ctnn::Dataset& test,
                       std::vector<std::size_t> images, ctnn::Normalization normalization) {
  using Conv = typename NetType::template layer_type<0>;
  static_assert(
      requires { Conv::weight; } && decltype(Conv::weight)::rank == 4,
      "explain: the network's first layer must be a convolution");
  constexpr std::size_t boundary = feature_boundary<NetType>();
  using MapShape = typename NetType::template shape_at<boundary>;
  const auto& weight = net.template layer<0>().weight;
  std::string label;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((label += (I ? " | " : "") + NetType::template layer_type<I>::label()), ...);
  }
  (std::make_index_sequence<boundary>{});
  FirstLayer layer{label,
                   weight.dims[0],
                   weight.dims[1],
                   weight.dims[2],
                   MapShape::height,
                   MapShape::width,
                   std::vector<float>(weight.data(), weight.data() + weight.size),
                   std::move(images),
                   {}};
  std::vector<std::uint8_t> labels(layer.images.size());
  std::vector<float> pixels;
  for (const std::size_t n : layer.images) pixels.insert(pixels.end(), test.image(n).begin(), test.image(n).end());
  ctnn::load_batch(ws, pixels, labels, normalization);
  net.forward(ws, ctnn::Mode::eval);
  const auto& maps = ws.template activations<boundary>();
  for (std::size_t b = 0; b < layer.images.size(); ++b)
    layer.maps.insert(layer.maps.end(), maps[b].data(), maps[b].data() + MapShape::size);
  return layer;
}

// The images to explain: --images, or the first test image of each class followed by the first
// --misclassified images the net gets wrong.
std::vector<std::size_t> choose_images(const Options& options, const ctnn::Dataset& test,
                                       const ctnn::Evaluation& evaluation) {
  if (!options.images.empty()) {
    for (const std::size_t n : options.images)
      if (n >= test.size())
        throw std::invalid_argument(format("--images: %zu is not a test image (0..%zu)", n, test.size() - 1));
    return options.images;
  }
  std::vector<std::size_t> chosen;
  for (std::size_t digit = 0; digit < evaluation.classes; ++digit)
    for (std::size_t n = 0; n < test.size(); ++n)
      if (test.labels[n] == digit) {
        chosen.push_back(n);
        break;
      }
  for (std::size_t n = 0, wrong = 0; n < test.size() && wrong < options.misclassified; ++n)
    if (evaluation.predictions[n] != test.labels[n]) chosen.push_back(n), ++wrong;
  return chosen;
}

class ProgressLine {
 public:
  void operator()(std::size_t done, std::size_t total) const {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[Kexplaining: %zu of %zu images", done, total);
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  bool enabled_ = isatty(fileno(stderr)) != 0;
};

// Loads the model and the test set, then explains the chosen images with every method.
Report run(const Options& options) {
  if (!fs::exists(options.model))
    throw ctnn::ModelError(options.model + ": no such model file; scripts/train_lenet.sh trains LeNet-5 into " +
                           "runs/lenet/, or give another with --model");
  return examples::with_model<examples::LeNet5, examples::BestNet>(options.model, [&](auto& net,
                                                                                      const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    const auto start = std::chrono::steady_clock::now();
    examples::require_digit_classes<NetType>(options.model, info);
    const ctnn::Normalization normalization = info.normalization;
    if (!std::isfinite(normalization.mean) || !(normalization.stddev > 0) || !std::isfinite(normalization.stddev))
      throw ctnn::ModelError(options.model + ": its input normalization is not usable");
    ctnn::Dataset test = ctnn::load_mnist(
        ctnn::Split::test, options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root));
    ctnn::check_input_shape<NetType>(test);

    auto ws = std::make_unique<ctnn::Workspace<NetType, batch_size>>();
    const ctnn::Evaluation evaluation = ctnn::evaluate(net, *ws, test, normalization);
    Report report{
        {}, NetType::signature(), NetType::param_count, normalization, evaluation.accuracy, test.size(), {}, {}, 0};
    const std::vector<std::size_t> chosen = choose_images(options, test, evaluation);

    const ctnn::Score score = parse_score(options.score);
    ctnn::SaliencyOptions smoothgrad = options.smoothgrad;
    smoothgrad.score = score;
    const ctnn::IntegratedGradientsOptions integrated{
        .score = score, .steps = options.ig_steps, .rule = parse_rule(options.ig_rule)};
    const std::vector<float> baseline(test.image_size(), options.baseline);
    const ProgressLine progress;
    for (const std::size_t n : chosen) {
      Explained row;
      row.index = n;
      row.label = test.labels[n];
      row.prediction = evaluation.predictions[n];
      row.probability = evaluation.probabilities[n * NetType::classes + row.prediction];
      row.explained_class = options.explain == "label" ? row.label : row.prediction;
      const auto image = test.image(n);
      row.gradient = ctnn::saliency(net, *ws, image, normalization, row.explained_class, {.score = score});
      if (smoothgrad.samples > 0)
        row.smoothgrad = ctnn::saliency(net, *ws, image, normalization, row.explained_class, smoothgrad);
      row.integrated =
          ctnn::integrated_gradients(net, *ws, image, baseline, normalization, row.explained_class, integrated);
      row.occlusion = ctnn::occlusion(net, *ws, image, normalization, row.explained_class, options.occlusion);
      report.explained.push_back(std::move(row));
      progress(report.explained.size(), chosen.size());
    }

    std::vector<std::size_t> feature_images(
        chosen.begin(), chosen.begin() + static_cast<std::ptrdiff_t>(std::min(options.feature_images, chosen.size())));
    report.first_layer = first_layer(net, *ws, test, std::move(feature_images), normalization);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.test = std::move(test);
    return report;
  });
}

// The pixels with the largest |value|, largest first, as (row, column, value).
json top_pixels(std::span<const float> values, std::size_t width, std::size_t count) {
  std::vector<std::size_t> order(values.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  count = std::min(count, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(count), order.end(),
                    [&](std::size_t a, std::size_t b) {
                      return std::abs(values[a]) > std::abs(values[b]) ||
                             (std::abs(values[a]) == std::abs(values[b]) && a < b);
                    });
  json list = json::array();
  for (std::size_t k = 0; k < count; ++k)
    list.push_back({{"row", order[k] / width}, {"column", order[k] % width}, {"value", values[order[k]]}});
  return list;
}

double max_abs(std::span<const float> values) {
  double largest = 0;
  for (const float value : values) largest = std::max(largest, static_cast<double>(std::abs(value)));
  return largest;
}

// |gap| / |S(x) - S(x')|: the share of the score difference the quadrature missed.
double relative_gap(const ctnn::IntegratedGradients& ig) {
  const double difference = std::abs(ig.score - ig.baseline_score);
  return difference > 0 ? std::abs(ig.completeness_gap()) / difference : 0.0;
}

std::string text_report(const Report& report, const Options& options) {
  std::string text = format("model     %s\nnetwork   %s (%zu parameters)\n", options.model.c_str(),
                            report.signature.c_str(), report.param_count);
  text += format("data      MNIST test set, %zu images, accuracy %.2f%%\n", report.test_images,
                 100.0 * report.test_accuracy);
  text += format("explains  the %s class's %s; integrated gradients: %zu %s steps from a constant %g image\n\n",
                 options.explain.c_str(), options.score.c_str(), options.ig_steps, options.ig_rule.c_str(),
                 static_cast<double>(options.baseline));
  text += format("%6s %5s %4s %7s %5s %9s %9s %9s %10s %8s %10s %7s\n", "image", "label", "pred", "prob", "class",
                 "S(x)", "S(x')", "sum IG", "gap", "gap/dS", "occlusion", "at");
  double worst = 0, total = 0;
  for (const Explained& row : report.explained) {
    const ctnn::IntegratedGradients& ig = row.integrated;
    const auto& drops = row.occlusion.drops;
    const std::size_t top = static_cast<std::size_t>(std::max_element(drops.begin(), drops.end()) - drops.begin());
    const std::string at = format("%zu,%zu", row.occlusion.rows[top / row.occlusion.columns.size()],
                                  row.occlusion.columns[top % row.occlusion.columns.size()]);
    text += format("%6zu %5zu %4zu %7.4f %5zu %9.4f %9.4f %9.4f %10.2e %7.3f%% %10.4f %7s\n", row.index, row.label,
                   row.prediction, static_cast<double>(row.probability), row.explained_class, ig.score,
                   ig.baseline_score, ig.attribution_sum, ig.completeness_gap(), 100.0 * relative_gap(ig),
                   static_cast<double>(drops[top]), at.c_str());
    worst = std::max(worst, relative_gap(ig));
    total += std::abs(ig.completeness_gap());
  }
  text += format(
      "\ncompleteness: |gap| mean %.2e, worst %.3f%% of |S(x) - S(x')|; occlusion: %zux%zu patches of %g, stride %zu, "
      "the largest drop of the %s, at (row, column)\n",
      report.explained.empty() ? 0.0 : total / static_cast<double>(report.explained.size()), 100.0 * worst,
      options.occlusion.patch, options.occlusion.patch, static_cast<double>(options.occlusion.fill),
      options.occlusion.stride, std::string(ctnn::score_name(options.occlusion.score)).c_str());
  text += format("time      %.2f s on %d thread%s\n", report.seconds, options.threads, options.threads == 1 ? "" : "s");
  return text;
}

json json_report(const Report& report, const Options& options) {
  json images = json::array();
  double worst_gap = 0;
  for (const Explained& row : report.explained) {
    const ctnn::IntegratedGradients& ig = row.integrated;
    const ctnn::Occlusion& occlusion = row.occlusion;
    const auto top = static_cast<std::size_t>(std::max_element(occlusion.drops.begin(), occlusion.drops.end()) -
                                              occlusion.drops.begin());
    json entry{{"index", row.index},
               {"label", row.label},
               {"prediction", row.prediction},
               {"probability", row.probability},
               {"correct", row.label == row.prediction},
               {"explained_class", row.explained_class},
               {"saliency",
                {{"score", row.gradient.score},
                 {"max_abs_gradient", max_abs(row.gradient.gradient)},
                 {"top_pixels", top_pixels(row.gradient.gradient, side, options.top_pixels)}}},
               {"integrated_gradients",
                {{"score", ig.score},
                 {"baseline_score", ig.baseline_score},
                 {"attribution_sum", ig.attribution_sum},
                 {"completeness_gap", ig.completeness_gap()},
                 {"relative_gap", relative_gap(ig)},
                 {"top_pixels", top_pixels(ig.attribution, side, options.top_pixels)}}},
               {"occlusion",
                {{"score", occlusion.score},
                 {"max_drop", occlusion.drops[top]},
                 {"max_drop_at",
                  {{"row", occlusion.rows[top / occlusion.columns.size()]},
                   {"column", occlusion.columns[top % occlusion.columns.size()]}}},
                 {"min_drop", *std::min_element(occlusion.drops.begin(), occlusion.drops.end())}}}};
    if (options.smoothgrad.samples > 0)
      entry["smoothgrad"] = {{"max_abs_gradient", max_abs(row.smoothgrad.gradient)},
                             {"top_pixels", top_pixels(row.smoothgrad.gradient, side, options.top_pixels)}};
    images.push_back(entry);
    worst_gap = std::max(worst_gap, relative_gap(ig));
  }
  const FirstLayer& layer = report.first_layer;
  return {{"program", "explain"},
          {"model", options.model},
          {"network", report.signature},
          {"param_count", report.param_count},
          {"normalization", {{"mean", report.normalization.mean}, {"stddev", report.normalization.stddev}}},
          {"test_accuracy", report.test_accuracy},
          {"settings",
           {{"explained_class", options.explain},
            {"score", options.score},
            {"smoothgrad",
             {{"samples", options.smoothgrad.samples},
              {"noise", options.smoothgrad.noise},
              {"seed", options.smoothgrad.seed}}},
            {"integrated_gradients",
             {{"steps", options.ig_steps}, {"rule", options.ig_rule}, {"baseline_pixel_value", options.baseline}}},
            {"occlusion",
             {{"score", ctnn::score_name(options.occlusion.score)},
              {"patch", options.occlusion.patch},
              {"stride", options.occlusion.stride},
              {"fill", options.occlusion.fill}}},
            {"threads", options.threads}}},
          {"images", images},
          {"worst_relative_completeness_gap", worst_gap},
          {"first_layer",
           {{"layer", layer.label},
            {"filters", layer.filters},
            {"kernel", layer.kernel},
            {"feature_map", {{"height", layer.map_height}, {"width", layer.map_width}}},
            {"feature_images", layer.images}}},
          {"seconds", report.seconds}};
}

// Pictures. A tile is a small colour image with a caption; a table of tiles has one row per
// image and a heading over each column. Signed maps use a diverging palette (ColorBrewer's RdBu:
// red raises the score, blue lowers it, white is zero); magnitudes use plots.hpp's Blues.
struct Tile {
  std::size_t width = 0, height = 0;
  std::vector<ctnn::Color> pixels;
  std::vector<ctnn::TextLine> caption;
};

ctnn::Color diverging_color(double t) {
  constexpr ctnn::Color blue{33, 102, 172}, light_blue{146, 197, 222}, white{247, 247, 247}, light_red{244, 165, 130},
      red{178, 24, 43};
  t = std::isfinite(t) ? std::clamp(t, -1.0, 1.0) : 0.0;
  if (t < -0.5) return ctnn::mix(light_blue, blue, -2 * t - 1);
  if (t < 0) return ctnn::mix(white, light_blue, -2 * t);
  if (t < 0.5) return ctnn::mix(white, light_red, 2 * t);
  return ctnn::mix(light_red, red, 2 * t - 1);
}

// The value where a map's colours saturate: the 99th percentile of |value|, so that a few extreme
// pixels do not wash the rest out (as in Smilkov et al.'s and Sundararajan et al.'s figures).
double saturation(std::span<const float> values) {
  std::vector<float> magnitudes(values.size());
  std::transform(values.begin(), values.end(), magnitudes.begin(), [](float v) { return std::abs(v); });
  const auto rank = static_cast<std::ptrdiff_t>(0.99 * static_cast<double>(magnitudes.size() - 1));
  std::nth_element(magnitudes.begin(), magnitudes.begin() + rank, magnitudes.end());
  const double limit = magnitudes[static_cast<std::size_t>(rank)];
  return limit > 0 ? limit : std::max(max_abs(values), 1e-12);
}

Tile gray_tile(std::span<const float> image, std::size_t width, std::size_t height) {
  Tile tile{width, height, {}, {}};
  for (const float value : image) tile.pixels.push_back(ctnn::mix(ctnn::colors::white, ctnn::colors::black, value));
  return tile;
}

Tile signed_tile(std::span<const float> values, std::size_t width, std::size_t height, double limit) {
  Tile tile{width, height, {}, {}};
  for (const float value : values) tile.pixels.push_back(diverging_color(value / limit));
  return tile;
}

Tile magnitude_tile(std::span<const float> values, std::size_t width, std::size_t height, double limit) {
  Tile tile{width, height, {}, {}};
  for (const float value : values) tile.pixels.push_back(ctnn::sequential_color(std::abs(value) / limit));
  return tile;
}

// The map over a faint copy of the image: each pixel moves from the digit's light grey towards
// full red or blue as |value| reaches the saturation.
Tile overlay_tile(std::span<const float> image, std::span<const float> values, std::size_t width, std::size_t height,
                  double limit) {
  Tile tile{width, height, {}, {}};
  for (std::size_t i = 0; i < values.size(); ++i) {
    const ctnn::Color paper = ctnn::mix(ctnn::colors::white, ctnn::colors::black, 0.35 * image[i]);
    tile.pixels.push_back(ctnn::mix(paper, diverging_color(values[i] >= 0 ? 1.0 : -1.0), std::abs(values[i]) / limit));
  }
  return tile;
}

constexpr int text_scale = 2, padding = 10;
constexpr int line_height = ctnn::Picture::line_pitch * text_scale;
int text_width(const std::string& text) { return ctnn::Picture::text_size(text, text_scale).width; }

// A table of tiles: `title` and `note` above, `headings` over the columns, each tile drawn
// `scale` pixels per image pixel, framed, with its caption below.
ctnn::Picture draw_table(const std::string& title, const std::string& note, const std::vector<std::string>& headings,
                         const std::vector<std::vector<Tile>>& rows, int scale) {
  int tile_width = 0, tile_height = 0;
  std::size_t caption_lines = 0, columns = headings.size();
  for (const auto& row : rows)
    for (const Tile& tile : row) {
      columns = std::max(columns, row.size());
      tile_width = std::max(tile_width, static_cast<int>(tile.width) * scale);
      tile_height = std::max(tile_height, static_cast<int>(tile.height) * scale);
      caption_lines = std::max(caption_lines, tile.caption.size());
      for (const ctnn::TextLine& line : tile.caption) tile_width = std::max(tile_width, text_width(line.text));
    }
  for (const std::string& heading : headings) tile_width = std::max(tile_width, text_width(heading));
  const int cell_width = tile_width + 2 * padding;
  const int cell_height = tile_height + 2 + padding + static_cast<int>(caption_lines) * line_height + padding;
  const int top = 2 * padding + line_height * (note.empty() ? 1 : 2) + padding + (headings.empty() ? 0 : line_height);
  const int width = std::max({static_cast<int>(columns) * cell_width + 2 * padding, text_width(title) + 4 * padding,
                              text_width(note) + 4 * padding});
  const int height = top + static_cast<int>(rows.size()) * cell_height + padding;
  ctnn::Picture picture(width, height);
  picture.draw_text((width - text_width(title)) / 2, 2 * padding, title, ctnn::colors::black, text_scale);
  picture.draw_text((width - text_width(title)) / 2 + 1, 2 * padding, title, ctnn::colors::black, text_scale);
  if (!note.empty())
    picture.draw_text((width - text_width(note)) / 2, 2 * padding + line_height, note, {90, 90, 90}, text_scale);
  const int left = (width - static_cast<int>(columns) * cell_width) / 2;
  for (std::size_t c = 0; c < headings.size(); ++c)
    picture.draw_text(left + static_cast<int>(c) * cell_width + (cell_width - text_width(headings[c])) / 2,
                      top - line_height, headings[c], ctnn::colors::black, text_scale);
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const Tile& tile = rows[r][c];
      const int shown_width = static_cast<int>(tile.width) * scale,
                shown_height = static_cast<int>(tile.height) * scale;
      const int x = left + static_cast<int>(c) * cell_width + (cell_width - shown_width) / 2;
      const int y = top + static_cast<int>(r) * cell_height;
      if (tile.pixels.empty()) continue;  // a blank cell
      for (std::size_t i = 0; i < tile.pixels.size(); ++i)
        picture.fill_rect(x + static_cast<int>(i % tile.width) * scale,
                          y + 1 + static_cast<int>(i / tile.width) * scale, scale, scale, tile.pixels[i]);
      picture.draw_rect(x - 1, y, shown_width + 2, shown_height + 2, {170, 170, 170});
      for (std::size_t line = 0; line < tile.caption.size(); ++line) {
        const ctnn::TextLine& text = tile.caption[line];
        picture.draw_text(left + static_cast<int>(c) * cell_width + (cell_width - text_width(text.text)) / 2,
                          y + tile_height + 2 + padding + static_cast<int>(line) * line_height, text.text, text.color,
                          text_scale);
      }
    }
  return picture;
}

constexpr ctnn::Color grey{110, 110, 110};

// The input tile: the test image with its index, label and the net's answer (green when right).
Tile input_tile(const ctnn::Dataset& test, const Explained& row) {
  Tile tile = gray_tile(test.image(row.index), test.width, test.height);
  const ctnn::Color answer = row.prediction == row.label ? ctnn::Color{30, 120, 30} : ctnn::Color{200, 30, 30};
  tile.caption = {{format("#%zu, true %zu", row.index, row.label), ctnn::colors::black},
                  {format("says %zu %.2f", row.prediction, static_cast<double>(row.probability)), answer}};
  return tile;
}

Tile captioned(Tile tile, std::vector<ctnn::TextLine> caption) {
  tile.caption = std::move(caption);
  return tile;
}

ctnn::Picture saliency_picture(const Report& report, const ctnn::Dataset& test, const Options& options) {
  std::vector<std::string> headings{"input", "|gradient|", "gradient", "on the input"};
  if (options.smoothgrad.samples > 0) headings.insert(headings.end(), {"SmoothGrad |g|", "SmoothGrad"});
  std::vector<std::vector<Tile>> rows;
  for (const Explained& row : report.explained) {
    const auto& g = row.gradient.gradient;
    const double limit = saturation(g);
    const std::vector<ctnn::TextLine> scale{{format("class %zu", row.explained_class), grey},
                                            {format("sat. %.3g", limit), grey}};
    std::vector<Tile> tiles{input_tile(test, row), captioned(magnitude_tile(g, side, side, limit), scale),
                            captioned(signed_tile(g, side, side, limit), scale),
                            captioned(overlay_tile(test.image(row.index), g, side, side, limit), scale)};
    if (options.smoothgrad.samples > 0) {
      const auto& smooth = row.smoothgrad.gradient;
      const double smooth_limit = saturation(smooth);
      const std::vector<ctnn::TextLine> smooth_scale{{format("%zu copies", options.smoothgrad.samples), grey},
                                                     {format("sat. %.3g", smooth_limit), grey}};
      tiles.push_back(captioned(magnitude_tile(smooth, side, side, smooth_limit), smooth_scale));
      tiles.push_back(captioned(overlay_tile(test.image(row.index), smooth, side, side, smooth_limit), smooth_scale));
    }
    rows.push_back(std::move(tiles));
  }
  return draw_table(format("Saliency: d %s / d pixel (Simonyan et al. 2014)", options.score.c_str()),
                    format("red raises the score, blue lowers it; SmoothGrad noise %g; colours saturate at the "
                           "99th percentile of |value| per map",
                           static_cast<double>(options.smoothgrad.noise)),
                    headings, rows, 3);
}

ctnn::Picture integrated_gradients_picture(const Report& report, const ctnn::Dataset& test, const Options& options) {
  std::vector<std::vector<Tile>> rows;
  for (const Explained& row : report.explained) {
    const ctnn::IntegratedGradients& ig = row.integrated;
    const double limit = saturation(ig.attribution);
    std::vector<float> positive(ig.attribution.size());
    std::transform(ig.attribution.begin(), ig.attribution.end(), positive.begin(),
                   [](float a) { return std::max(a, 0.0f); });
    rows.push_back({input_tile(test, row),
                    captioned(signed_tile(ig.attribution, side, side, limit),
                              {{format("S %.3g - %.3g", ig.score, ig.baseline_score), grey},
                               {format("sum %.4g", ig.attribution_sum), grey}}),
                    captioned(overlay_tile(test.image(row.index), ig.attribution, side, side, limit),
                              {{format("gap %.2e", ig.completeness_gap()), grey},
                               {format("%.3f%% of dS", 100.0 * relative_gap(ig)), grey}}),
                    captioned(overlay_tile(test.image(row.index), positive, side, side, limit),
                              {{format("class %zu", row.explained_class), grey}, {format("sat. %.3g", limit), grey}})});
  }
  return draw_table(
      format("Integrated gradients of the %s (Sundararajan et al. 2017), %zu %s steps", options.score.c_str(),
             options.ig_steps, options.ig_rule.c_str()),
      format("baseline: every pixel %g; red raises the score, blue lowers it; gap = sum(IG) - (S(x) - S(baseline))",
             static_cast<double>(options.baseline)),
      {"input", "attribution", "on the input", "positive part"}, rows, 3);
}

ctnn::Picture occlusion_picture(const Report& report, const ctnn::Dataset& test, const Options& options) {
  std::vector<std::vector<Tile>> rows;
  for (const Explained& row : report.explained) {
    const ctnn::Occlusion& occlusion = row.occlusion;
    const double limit = std::max(max_abs(occlusion.sensitivity), 1e-12);
    const auto top = static_cast<std::size_t>(std::max_element(occlusion.drops.begin(), occlusion.drops.end()) -
                                              occlusion.drops.begin());
    // The single worst placement, drawn over the image as a patch of the fill value.
    std::vector<float> worst(test.image(row.index).begin(), test.image(row.index).end());
    const std::size_t patch_top = occlusion.rows[top / occlusion.columns.size()];
    const std::size_t patch_left = occlusion.columns[top % occlusion.columns.size()];
    for (std::size_t y = patch_top; y < patch_top + options.occlusion.patch; ++y)
      for (std::size_t x = patch_left; x < patch_left + options.occlusion.patch; ++x)
        worst[y * side + x] = options.occlusion.fill;
    Tile patched = gray_tile(worst, side, side);
    for (std::size_t y = patch_top; y < patch_top + options.occlusion.patch; ++y)
      for (std::size_t x = patch_left; x < patch_left + options.occlusion.patch; ++x)
        patched.pixels[y * side + x] = ctnn::mix(patched.pixels[y * side + x], {255, 200, 0}, 0.6);
    rows.push_back(
        {input_tile(test, row),
         captioned(signed_tile(occlusion.sensitivity, side, side, limit),
                   {{format("class %zu", row.explained_class), grey}, {format("max %.3g", limit), grey}}),
         captioned(overlay_tile(test.image(row.index), occlusion.sensitivity, side, side, limit),
                   {{format("%s %.3f", std::string(ctnn::score_name(options.occlusion.score)).c_str(), occlusion.score),
                     grey}}),
         captioned(std::move(patched), {{format("drop %.3f", static_cast<double>(occlusion.drops[top])), grey},
                                        {format("at %zu, %zu", patch_top, patch_left), grey}})});
  }
  return draw_table(
      format("Occlusion sensitivity (Zeiler & Fergus 2014): %zux%zu patch of %g, stride %zu", options.occlusion.patch,
             options.occlusion.patch, static_cast<double>(options.occlusion.fill), options.occlusion.stride),
      format("drop of the class %s, per pixel the mean over the patches covering it; red: the class loses",
             std::string(ctnn::score_name(options.occlusion.score)).c_str()),
      {"input", "drop", "on the input", "worst patch"}, rows, 3);
}

// Every method's map over the input, one column each: the picture to compare them by.
ctnn::Picture overview_picture(const Report& report, const ctnn::Dataset& test, const Options& options) {
  std::vector<std::vector<Tile>> rows;
  for (const Explained& row : report.explained) {
    const auto image = test.image(row.index);
    std::vector<Tile> tiles{input_tile(test, row),
                            overlay_tile(image, row.gradient.gradient, side, side, saturation(row.gradient.gradient))};
    if (options.smoothgrad.samples > 0)
      tiles.push_back(overlay_tile(image, row.smoothgrad.gradient, side, side, saturation(row.smoothgrad.gradient)));
    tiles.push_back(
        overlay_tile(image, row.integrated.attribution, side, side, saturation(row.integrated.attribution)));
    tiles.push_back(overlay_tile(image, row.occlusion.sensitivity, side, side,
                                 std::max(max_abs(row.occlusion.sensitivity), 1e-12)));
    rows.push_back(std::move(tiles));
  }
  std::vector<std::string> headings{"input", "gradient"};
  if (options.smoothgrad.samples > 0) headings.push_back("SmoothGrad");
  headings.insert(headings.end(), {"integrated", "occlusion"});
  return draw_table("Why the net answers as it does: the methods side by side",
                    format("%s; red: evidence for the explained class, blue: against it", options.model.c_str()),
                    headings, rows, 3);
}

ctnn::Picture filters_picture(const FirstLayer& layer) {
  const std::size_t area = layer.kernel * layer.kernel;
  const double limit = std::max(max_abs(layer.weights), 1e-12);
  const std::size_t columns = std::min<std::size_t>(layer.filters, 8);
  std::vector<std::vector<Tile>> rows;
  for (std::size_t f = 0; f < layer.filters; ++f) {
    if (f % columns == 0) rows.emplace_back();
    for (std::size_t c = 0; c < layer.channels; ++c) {
      const auto weights = std::span<const float>(layer.weights).subspan((f * layer.channels + c) * area, area);
      rows.back().push_back(captioned(signed_tile(weights, layer.kernel, layer.kernel, limit),
                                      {{format("filter %zu", f), grey}, {format("max %.2f", max_abs(weights)), grey}}));
    }
  }
  const int scale = static_cast<int>(std::max<std::size_t>(6, 84 / layer.kernel));
  return draw_table(
      format("First layer %s: %zu filters of %zux%zu", layer.label.substr(0, layer.label.find(" | ")).c_str(),
             layer.filters, layer.kernel, layer.kernel),
      format("weights on normalized pixels; red positive, blue negative, shared scale |w| <= %.2f", limit), {}, rows,
      scale);
}

// One row per image (two or more when the layer has over 16 filters): the input, then its maps.
ctnn::Picture feature_maps_picture(const FirstLayer& layer, const ctnn::Dataset& test) {
  const std::size_t area = layer.map_height * layer.map_width;
  const std::size_t per_row = std::min<std::size_t>(layer.filters, 16);
  std::vector<std::vector<Tile>> rows;
  for (std::size_t k = 0; k < layer.images.size(); ++k) {
    const std::size_t n = layer.images[k];
    const auto maps = std::span<const float>(layer.maps).subspan(k * layer.filters * area, layer.filters * area);
    const double limit = std::max(max_abs(maps), 1e-12);
    const bool signed_maps = std::any_of(maps.begin(), maps.end(), [](float v) { return v < 0; });
    for (std::size_t f = 0; f < layer.filters; ++f) {
      if (f % per_row == 0)
        rows.push_back({f == 0 ? captioned(gray_tile(test.image(n), test.width, test.height),
                                           {{format("#%zu, true %u", n, static_cast<unsigned>(test.labels[n])), grey}})
                               : Tile{}});
      const auto map = maps.subspan(f * area, area);
      rows.back().push_back(captioned(signed_maps ? signed_tile(map, layer.map_width, layer.map_height, limit)
                                                  : magnitude_tile(map, layer.map_width, layer.map_height, limit),
                                      {{format("%zu: max %.1f", f, max_abs(map)), grey}}));
    }
  }
  return draw_table(format("Feature maps of the first layer: %s", layer.label.c_str()),
                    "map k is filter k's response; one scale per image: dark blue is that image's strongest", {}, rows,
                    layer.filters > 16 ? 2 : 3);
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Explain a trained model's answers on MNIST test images: saliency maps (plain and SmoothGrad), integrated "
      "gradients with their completeness gap, occlusion sensitivity, and the first layer's filters and feature "
      "maps; as a table, explanations.json and PNG pictures.");
  app.add_option("--model", options.model, "Model file (LeNet5 or BestNet of examples/models.hpp)")
      ->capture_default_str();
  app.add_option("--data", options.data_root, "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  app.add_option("--output", options.output,
                 "Folder for explanations.json and the pictures (default: explain/ "
                 "beside the model)");
  app.add_option("--images", options.images,
                 "Test images to explain, by index (comma-separated; default: the first of each digit, then "
                 "--misclassified ones)")
      ->delimiter(',');
  app.add_option("--misclassified", options.misclassified, "Misclassified test images added to the default choice")
      ->capture_default_str();
  app.add_option("--explain", options.explain, "Class to explain: the net's answer or the true label")
      ->check(CLI::IsMember({"predicted", "label"}))
      ->capture_default_str();
  app.add_option("--score", options.score, "What saliency and integrated gradients explain")
      ->check(CLI::IsMember({"logit", "probability", "log-probability"}))
      ->capture_default_str();
  app.add_option("--smoothgrad", options.smoothgrad.samples, "SmoothGrad's noisy copies (0: none)")
      ->capture_default_str();
  app.add_option("--smoothgrad-noise", options.smoothgrad.noise, "SmoothGrad's noise, a fraction of the pixel range")
      ->check(CLI::Range(0.0f, 10.0f))
      ->capture_default_str();
  app.add_option("--seed", options.smoothgrad.seed, "Seed of SmoothGrad's noise")->capture_default_str();
  app.add_option("--ig-steps", options.ig_steps, "Integrated gradients' steps along the path")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->capture_default_str();
  app.add_option("--ig-rule", options.ig_rule, "Quadrature along the path")
      ->check(CLI::IsMember({"trapezoid", "right-riemann", "midpoint"}))
      ->capture_default_str();
  app.add_option("--baseline", options.baseline, "Baseline image of integrated gradients: every pixel this value")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
  app.add_option("--occlusion-patch", options.occlusion.patch, "Side of the occluding square, pixels")
      ->check(CLI::Range(std::size_t{1}, std::size_t{28}))
      ->capture_default_str();
  app.add_option("--occlusion-stride", options.occlusion.stride, "Step between its placements, pixels")
      ->check(CLI::Range(std::size_t{1}, std::size_t{28}))
      ->capture_default_str();
  app.add_option("--occlusion-fill", options.occlusion.fill, "Pixel value under the square (0: MNIST's background)")
      ->check(CLI::Range(0.0f, 1.0f))
      ->capture_default_str();
  app.add_option("--feature-images", options.feature_images, "Explained images shown in feature_maps.png")
      ->capture_default_str();
  app.add_option("--top-pixels", options.top_pixels, "Most attributed pixels listed per image in the JSON")
      ->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP threads (0: all cores)")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "explain: %s\n", examples::one_line(error.what()).c_str());
    return 2;
  }
#ifdef _OPENMP
  if (options.threads > 0) omp_set_num_threads(options.threads);
#endif
  const fs::path output =
      options.output.empty() ? fs::path(options.model).parent_path() / "explain" : fs::path(options.output);

  const Report report = run(options);
  std::fputs(text_report(report, options).c_str(), stdout);

  const ctnn::Dataset& test = report.test;
  fs::create_directories(output);
  ctnn::write_file_atomically(output / "explanations.json", json_report(report, options).dump(2) + "\n");
  ctnn::save_png(saliency_picture(report, test, options), output / "saliency.png");
  ctnn::save_png(integrated_gradients_picture(report, test, options), output / "integrated_gradients.png");
  ctnn::save_png(occlusion_picture(report, test, options), output / "occlusion.png");
  ctnn::save_png(overview_picture(report, test, options), output / "overview.png");
  ctnn::save_png(filters_picture(report.first_layer), output / "filters.png");
  ctnn::save_png(feature_maps_picture(report.first_layer, test), output / "feature_maps.png");
  std::printf(
      "\nreport: %s (explanations.json, saliency.png, integrated_gradients.png, occlusion.png, "
      "overview.png, filters.png, feature_maps.png)\n",
      output.c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "explain: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
