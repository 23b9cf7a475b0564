// Reads handwritten numbers (a cheque amount, a postcode) from images and prints their digits.
//   read_number cheque.png                    the digit string of each image
//   read_number --verbose --json scan.jpg     each digit's confidence and box, as JSON
//   read_number --compose 1000 --seed 1       composes 1000 numbers from MNIST test digits, reads
//                                             them, and reports how many came out right
// The ink is cut into digits (ctnn/data/segmentation.hpp: connected components, broken strokes
// merged, touching digits split at the column-profile minima, ordered left to right), and each
// digit goes through MNIST's preparation (ctnn/data/digit_preparation.hpp) before the net reads it.
// --compose writes, to --output (a folder, default runs/read_number): results.json with every
// figure, and the first --examples composed numbers as PNG. Reading images, --output names a
// JSON file. A file that cannot be read gets one line on stderr and the others go on; the exit
// status is 1 if any failed (CLI11's own code for bad options).
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
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/core/random.hpp>
#include <ctnn/ctnn.hpp>
#include <ctnn/data/digit_preparation.hpp>
#include <ctnn/data/segmentation.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/image.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/resize.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

using namespace ctnn;
namespace fs = std::filesystem;

namespace {

// One digit as the net read it.
struct ReadDigit {
  std::size_t digit = 0;
  float probability = 0;
  std::array<float, 10> probabilities{};
  InkBox box;
};

// The net's reading of one prepared digit, inputs normalized as in training.
template <class NetType>
ReadDigit classify(NetType& net, const PreparedDigit& digit, Normalization normalization) {
  ReadDigit result;
  result.probabilities = examples::digit_probabilities(net, digit, normalization);
  result.digit = static_cast<std::size_t>(std::max_element(result.probabilities.begin(), result.probabilities.end()) -
                                          result.probabilities.begin());
  result.probability = result.probabilities[result.digit];
  result.box = digit.ink_box;
  return result;
}

// How the ink is cut into digits: by shape alone (segment_digits), or by shape proposing cuts
// and the net choosing among them (segment_digits_by_recognition).
enum class Segmenter { shape, recognition };

template <class NetType>
std::vector<ReadDigit> read_digits(NetType& net, const GrayImage& image, Normalization normalization,
                                   Segmenter segmenter) {
  const InkImage ink = extract_ink(image);
  const auto confidence = [&](const DigitSegment& segment) {
    try {
      return static_cast<double>(std::log(classify(net, prepare_ink(segment.ink), normalization).probability));
    } catch (const NoInkError&) {
      return -std::numeric_limits<double>::infinity();
    }
  };
  const std::vector<DigitSegment> segments = segmenter == Segmenter::recognition
                                                 ? segment_digits_by_recognition(ink.ink, confidence)
                                                 : segment_digits(ink.ink);
  std::vector<ReadDigit> digits;
  for (const DigitSegment& segment : segments) {
    try {
      ReadDigit digit = classify(net, prepare_ink(segment.ink), normalization);
      digit.box.top += segment.box.top;
      digit.box.left += segment.box.left;
      digits.push_back(digit);
    } catch (const NoInkError&) {
      // too little ink to be a digit: a stray mark
    }
  }
  return digits;
}

std::string digit_string(const std::vector<ReadDigit>& digits) {
  std::string text;
  for (const auto& digit : digits) text += static_cast<char>('0' + digit.digit);
  return text;
}

nlohmann::json digits_json(const std::vector<ReadDigit>& digits) {
  nlohmann::json result = nlohmann::json::array();
  for (const auto& digit : digits)
    result.push_back({{"digit", digit.digit},
                      {"probability", digit.probability},
                      {"probabilities", digit.probabilities},
                      {"box",
                       {{"top", digit.box.top},
                        {"left", digit.box.left},
                        {"height", digit.box.height},
                        {"width", digit.box.width}}}});
  return result;
}

// How the test numbers are drawn: lengths like postcodes and amounts, MNIST digits scaled to a
// height per number and varied per digit, baselines that wander, and gaps of which some are
// negative: neighbours touch or overlap, as in hurried handwriting.
struct CompositionRules {
  std::size_t min_length = 3, max_length = 8;
  float min_height = 28, max_height = 64;  // pixels, the ink height of a number's digits
  float size_spread = 0.15f;               // each digit's height varies by up to this fraction
  float baseline_spread = 0.12f;           // each digit's bottom moves up or down by this much of the height
  float touching = 0.2f;                   // probability that a gap is negative
  float overlap = 0.15f;                   // a negative gap is down to this much of the height
  float max_gap = 0.6f;                    // a positive gap is 0.05 to this much of the height
};

struct ComposedNumber {
  std::string truth;
  GrayImage page;                 // luminance: dark ink on white paper
  std::vector<GrayImage> digits;  // each digit's own ink, as it was placed
};

// MNIST digit `index` cropped to its ink (any pixel above 0) and scaled to `height` pixels of ink.
GrayImage scaled_mnist_digit(const Dataset& mnist, std::size_t index, float height) {
  const auto image = mnist.image(index);
  InkBox box;
  for (std::size_t r = 0; r < mnist.height; ++r)
    for (std::size_t c = 0; c < mnist.width; ++c)
      if (image[r * mnist.width + c] > 0) box = box_union(box, {r, c, 1, 1});
  std::vector<float> crop(box.height * box.width);
  for (std::size_t r = 0; r < box.height; ++r)
    for (std::size_t c = 0; c < box.width; ++c)
      crop[r * box.width + c] = image[(box.top + r) * mnist.width + box.left + c];
  const float scale = height / static_cast<float>(box.height);
  GrayImage scaled(
      std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(height))),
      std::max<std::size_t>(1, static_cast<std::size_t>(std::lround(static_cast<float>(box.width) * scale))));
  resize_plane_bilinear(crop, box.height, box.width, scaled.pixels, scaled.height, scaled.width);
  return scaled;
}

ComposedNumber compose_number(const Dataset& mnist, Rng& rng, const CompositionRules& rules) {
  ComposedNumber number;
  const std::size_t length = rules.min_length + rng.below(rules.max_length - rules.min_length + 1);
  const float height = rng.uniform(rules.min_height, rules.max_height);
  struct Placed {
    GrayImage ink;
    std::ptrdiff_t left, top;
  };
  std::vector<Placed> placed;
  float x = rng.uniform(0.5f, 1.0f) * height;
  const float margin = rng.uniform(0.4f, 0.8f) * height;
  for (std::size_t i = 0; i < length; ++i) {
    const std::size_t index = rng.below(mnist.size());
    number.truth += static_cast<char>('0' + mnist.labels[index]);
    GrayImage ink =
        scaled_mnist_digit(mnist, index, height * rng.uniform(1 - rules.size_spread, 1 + rules.size_spread));
    const float bottom = margin + height * (1 + rng.uniform(-rules.baseline_spread, rules.baseline_spread));
    if (i > 0) {
      const bool touching = rng.uniform() < rules.touching;
      x += height * (touching ? rng.uniform(-rules.overlap, 0.0f) : rng.uniform(0.05f, rules.max_gap));
    }
    placed.push_back({ink, static_cast<std::ptrdiff_t>(std::lround(x)),
                      static_cast<std::ptrdiff_t>(std::lround(bottom)) - static_cast<std::ptrdiff_t>(ink.height)});
    x += static_cast<float>(ink.width);
    number.digits.push_back(std::move(ink));
  }
  const auto width = static_cast<std::size_t>(std::lround(x + rng.uniform(0.5f, 1.0f) * height));
  const auto page_height =
      static_cast<std::size_t>(std::lround(2 * margin + height * (1 + 2 * rules.baseline_spread + rules.size_spread)));
  GrayImage ink(page_height, width);
  for (const auto& digit : placed)
    for (std::size_t r = 0; r < digit.ink.height; ++r)
      for (std::size_t c = 0; c < digit.ink.width; ++c) {
        const std::ptrdiff_t row = digit.top + static_cast<std::ptrdiff_t>(r);
        const std::ptrdiff_t column = digit.left + static_cast<std::ptrdiff_t>(c);
        if (row < 0 || column < 0 || row >= static_cast<std::ptrdiff_t>(page_height) ||
            column >= static_cast<std::ptrdiff_t>(width))
          continue;
        float& pixel = ink(static_cast<std::size_t>(row), static_cast<std::size_t>(column));
        pixel = std::max(pixel, digit.ink(r, c));  // overlapping strokes do not add up beyond full ink
      }
  number.page = std::move(ink);
  for (float& value : number.page.pixels) value = 1 - value;
  return number;
}

// How one segmenter did on the composed numbers.
struct ReadingScore {
  std::size_t numbers = 0, numbers_right = 0;
  std::size_t digits = 0, digit_edits = 0;  // true digits; edit distances from the truth, summed
  std::size_t counts_right = 0;             // numbers read with as many digits as they have
  std::size_t digits_in_counted = 0, right_in_counted = 0;
  std::size_t unreadable = 0;  // numbers whose reading threw (no ink found)
  nlohmann::json misread = nlohmann::json::array();

  void add(std::size_t index, const std::string& truth, const std::string& read) {
    ++numbers;
    numbers_right += read == truth;
    digits += truth.size();
    digit_edits += edit_distance(read, truth);
    if (read.size() == truth.size()) {
      ++counts_right;
      digits_in_counted += read.size();
      for (std::size_t i = 0; i < read.size(); ++i) right_in_counted += read[i] == truth[i];
    }
    if (read != truth && misread.size() < 50) misread.push_back({{"index", index}, {"truth", truth}, {"read", read}});
  }
};

double fraction(std::size_t part, std::size_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

nlohmann::json score_json(const ReadingScore& score) {
  const double error_rate = fraction(score.digit_edits, score.digits);
  return {{"numbers", score.numbers},
          {"numbers_right", score.numbers_right},
          {"number_accuracy", fraction(score.numbers_right, score.numbers)},
          {"digits", score.digits},
          {"digit_edits", score.digit_edits},
          {"digit_error_rate", error_rate},
          {"digit_accuracy", 1 - error_rate},
          {"right_count_numbers", score.counts_right},
          {"right_count_fraction", fraction(score.counts_right, score.numbers)},
          {"digits_right_where_counted", score.right_in_counted},
          {"digit_accuracy_where_counted", fraction(score.right_in_counted, score.digits_in_counted)},
          {"unreadable_numbers", score.unreadable},
          {"misread", score.misread}};
}

template <class NetType>
int compose_and_read(NetType& net, const ModelInfo& info, const std::string& model, std::size_t count,
                     std::uint64_t seed, const fs::path& folder, std::size_t examples_to_save,
                     const std::optional<fs::path>& data_root) {
  const Dataset mnist = load_mnist(Split::test, data_root);
  fs::create_directories(folder);
  Rng rng(seed);
  const CompositionRules rules;
  ReadingScore by_shape, by_recognition;
  std::size_t isolated_right = 0, isolated = 0;
  nlohmann::json examples = nlohmann::json::array();
  const bool progress = ::isatty(STDERR_FILENO);
  auto last_drawn = std::chrono::steady_clock::now();
  for (std::size_t n = 0; n < count; ++n) {
    if (progress && std::chrono::steady_clock::now() - last_drawn > std::chrono::milliseconds(200)) {
      std::fprintf(stderr, "\r\033[Kread_number: %zu/%zu numbers", n, count);
      last_drawn = std::chrono::steady_clock::now();
    }
    const ComposedNumber number = compose_number(mnist, rng, rules);
    std::vector<ReadDigit> digits;
    for (const Segmenter segmenter : {Segmenter::shape, Segmenter::recognition}) {
      ReadingScore& score = segmenter == Segmenter::shape ? by_shape : by_recognition;
      std::vector<ReadDigit> read;
      try {
        read = read_digits(net, number.page, info.normalization, segmenter);
      } catch (const DataError&) {
        ++score.unreadable;
      }
      score.add(n, number.truth, digit_string(read));
      if (segmenter == Segmenter::recognition) digits = std::move(read);
    }
    // The same digits without segmentation: what preparation and the net alone get right.
    for (std::size_t i = 0; i < number.digits.size(); ++i) {
      ++isolated;
      try {
        const ReadDigit alone = classify(net, prepare_ink(number.digits[i]), info.normalization);
        isolated_right += static_cast<char>('0' + alone.digit) == number.truth[i];
      } catch (const DataError&) {
      }
    }
    if (n < examples_to_save) {
      const fs::path file = folder / ("number_" + std::to_string(n) + "_" + number.truth + ".png");
      write_png(file, number.page);
      examples.push_back({{"file", file.string()},
                          {"truth", number.truth},
                          {"read", digit_string(digits)},
                          {"digits", digits_json(digits)}});
    }
  }
  if (progress) std::fprintf(stderr, "\r\033[K");

  std::printf("read_number: %zu numbers of %zu-%zu digits composed from MNIST test digits (seed %llu), read with %s\n",
              count, rules.min_length, rules.max_length, static_cast<unsigned long long>(seed), model.c_str());
  std::printf("  %-34s %9s  %14s\n", "", "by shape", "by recognition");
  const auto row = [&](const char* name, auto&& value) {
    std::printf("  %-34s %8.2f%%  %13.2f%%\n", name, 100 * value(by_shape), 100 * value(by_recognition));
  };
  row("numbers read right", [](const ReadingScore& s) { return fraction(s.numbers_right, s.numbers); });
  row("digit accuracy (1 - edits/digits)", [](const ReadingScore& s) { return 1 - fraction(s.digit_edits, s.digits); });
  row("numbers with the right count", [](const ReadingScore& s) { return fraction(s.counts_right, s.numbers); });
  row("digits right, where counted",
      [](const ReadingScore& s) { return fraction(s.right_in_counted, s.digits_in_counted); });
  std::printf("  each digit read alone, without segmentation: %.2f%% (%zu of %zu)\n",
              100 * fraction(isolated_right, isolated), isolated_right, isolated);
  const nlohmann::json results{{"program", "read_number"},
                               {"model", model},
                               {"network", NetType::signature()},
                               {"seed", seed},
                               {"composition",
                                {{"source", "MNIST test set"},
                                 {"numbers", count},
                                 {"min_length", rules.min_length},
                                 {"max_length", rules.max_length},
                                 {"min_height", rules.min_height},
                                 {"max_height", rules.max_height},
                                 {"size_spread", rules.size_spread},
                                 {"baseline_spread", rules.baseline_spread},
                                 {"touching_probability", rules.touching},
                                 {"max_overlap", rules.overlap},
                                 {"max_gap", rules.max_gap}}},
                               {"by_shape", score_json(by_shape)},
                               {"by_recognition", score_json(by_recognition)},
                               {"isolated_digits", isolated},
                               {"isolated_digits_right", isolated_right},
                               {"isolated_digit_accuracy", fraction(isolated_right, isolated)},
                               {"examples", examples}};
  write_file_atomically(folder / "results.json", results.dump(2) + "\n");
  std::printf("results: %s, %zu example images in %s\n", (folder / "results.json").c_str(),
              std::min(examples_to_save, count), folder.c_str());
  return 0;
}

template <class NetType>
int read_files(NetType& net, const ModelInfo& info, const std::string& model, const std::vector<std::string>& paths,
               Segmenter segmenter, bool verbose, bool json, const std::string& output) {
  nlohmann::json images = nlohmann::json::array(), errors = nlohmann::json::array();
  for (const auto& text : paths) {
    const fs::path path(text);
    std::vector<ReadDigit> digits;
    try {
      digits = read_digits(net, read_image(path), info.normalization, segmenter);
      if (digits.empty()) throw NoInkError("no digit found");
    } catch (const std::exception& error) {
      // An ImageError's message starts with the file name; the others get it here.
      const std::string message = dynamic_cast<const ImageError*>(&error)
                                      ? examples::one_line(error.what())
                                      : text + ": " + examples::one_line(error.what());
      std::fprintf(stderr, "read_number: %s\n", message.c_str());
      errors.push_back({{"path", text}, {"error", message}});
      continue;
    }
    const std::string number = digit_string(digits);
    images.push_back({{"path", text}, {"number", number}, {"digits", digits_json(digits)}});
    if (json) continue;
    std::printf("%s: %s\n", text.c_str(), number.c_str());
    if (verbose)
      for (const auto& digit : digits)
        std::printf("  %zu  %5.1f%%  box %zux%zu at column %zu, row %zu\n", digit.digit, 100.0 * digit.probability,
                    digit.box.width, digit.box.height, digit.box.left, digit.box.top);
  }
  const nlohmann::json report{{"program", "read_number"},
                              {"model", model},
                              {"network", NetType::signature()},
                              {"images", images},
                              {"errors", errors}};
  if (json) std::printf("%s\n", report.dump(2).c_str());
  if (!output.empty()) write_file_atomically(output, report.dump(2) + "\n");
  return errors.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app("Read handwritten numbers from images, or measure reading on numbers composed from MNIST digits.");
  std::string model = "runs/lenet/model.safetensors";
  std::vector<std::string> paths;
  bool verbose = false, json = false;
  std::string output;
  std::size_t compose = 0, examples_to_save = 8;
  std::uint64_t seed = 1;
  std::string data_root;
  Segmenter segmenter = Segmenter::recognition;
  const std::map<std::string, Segmenter> segmenters{{"shape", Segmenter::shape},
                                                    {"recognition", Segmenter::recognition}};
  app.add_option("IMAGE", paths, "Images of numbers (PNG, JPEG, BMP, PGM)");
  app.add_option("--model", model, "Model file of LeNet5 or BestNet (examples/models.hpp)")->capture_default_str();
  app.add_option("--segmentation", segmenter,
                 "How the ink is cut into digits: shape (components, merged and split by their shape) or "
                 "recognition (shape proposes cuts, the net picks the reading it is surest of)")
      ->transform(CLI::CheckedTransformer(segmenters, CLI::ignore_case))
      ->capture_default_str();
  app.add_flag("--verbose", verbose, "Each digit's confidence and box");
  app.add_flag("--json", json, "Write JSON to standard output instead of text");
  app.add_option("--output", output,
                 "Reading images: also write the JSON to this file. --compose: the folder for results.json and "
                 "the example images (default runs/read_number)");
  auto* compose_option =
      app.add_option("--compose", compose, "Compose this many numbers from MNIST test digits and report the accuracy");
  app.add_option("--seed", seed, "--compose: seed of the composition")->capture_default_str();
  app.add_option("--examples", examples_to_save, "--compose: how many composed numbers to save as PNG")
      ->capture_default_str();
  app.add_option("--data", data_root, "--compose: folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data)");
  try {
    app.parse(argc, argv);
    if (compose_option->count() && !paths.empty())
      throw CLI::ValidationError("--compose", "composes its own numbers and reads no IMAGE arguments");
    if (!compose_option->count() && paths.empty())
      throw CLI::ValidationError("IMAGE", "give IMAGE files, or --compose N");
    if (compose_option->count() && compose == 0) throw CLI::ValidationError("--compose", "needs at least 1 number");
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }

  return examples::with_example_model(model, [&](auto& net, const ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    static_assert(
        std::is_same_v<typename NetType::in_shape, Shape<1, mnist_side, mnist_side>> && NetType::classes == 10,
        "read_number: the network must read 1x28x28 images into 10 classes");
    examples::require_digit_classes<NetType>(model, info);
    if (compose_option->count())
      return compose_and_read(net, info, model, compose, seed, output.empty() ? "runs/read_number" : output,
                              examples_to_save, data_root.empty() ? std::nullopt : std::optional<fs::path>(data_root));
    return read_files(net, info, model, paths, segmenter, verbose, json, output);
  });
} catch (const std::exception& error) {
  std::fprintf(stderr, "read_number: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
