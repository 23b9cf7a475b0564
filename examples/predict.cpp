// Reads images of handwritten digits and prints the most likely digits with their probabilities.
//   predict my_seven.png                            top 3 digits of one image
//   predict photos/ --json > predictions.json       every image of a folder, as JSON
//   predict --save-prepared seen/ my_seven.png      also writes the 28x28 image the net saw
//   predict --expect-from-names tests/data/digit_drawings
//                                                   files named <digit>_*.png: also the accuracy
// An image (PNG, JPEG, BMP or binary PGM/PPM, any size up to 16384 pixels a side and 64
// megapixels) goes through MNIST's own preparation before the net sees it
// (ctnn/data/digit_preparation.hpp): ink found and made white on black whatever the paper,
// contrast stretched, specks erased, cropped to the ink, strokes brought to MNIST's width,
// scaled to fit 20x20, centred by its centre of mass in 28x28.
// A file that cannot be read or holds no digit gets one line on stderr and the others go on;
// the exit status is 1 if any file failed (CLI11's own code for bad options).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/digit_preparation.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/image.hpp>
#include <ctnn/io/model_file.hpp>

#include "digit_reader.hpp"
#include "models.hpp"

using namespace ctnn;
namespace fs = std::filesystem;

namespace {

bool is_image_name(const fs::path& path) {
  std::string extension = path.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  static const std::set<std::string> known{".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pnm"};
  return known.contains(extension);
}

// The files to read: each PATH that is a file as given, each folder's image files by name.
// A folder without images is reported as an error of that folder.
struct Inputs {
  std::vector<fs::path> files;
  std::vector<std::pair<fs::path, std::string>> errors;
};

Inputs list_inputs(const std::vector<std::string>& paths) {
  Inputs inputs;
  for (const auto& text : paths) {
    const fs::path path(text);
    std::error_code error;
    if (!fs::is_directory(path, error)) {
      inputs.files.push_back(path);  // a missing or unreadable file gets its error when read
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(path, error))
      if (entry.is_regular_file(error) && is_image_name(entry.path())) found.push_back(entry.path());
    if (error) {
      inputs.errors.emplace_back(path, path.string() + ": cannot list the folder: " + error.message());
      continue;
    }
    if (found.empty())
      inputs.errors.emplace_back(path,
                                 path.string() + ": no .png, .jpg, .jpeg, .bmp, .pgm or .ppm files in the folder");
    std::sort(found.begin(), found.end());
    inputs.files.insert(inputs.files.end(), found.begin(), found.end());
  }
  return inputs;
}

// The digit a file name promises: its first character, if that is a digit ("7_thin.png").
std::optional<int> expected_digit(const fs::path& path) {
  const std::string name = path.filename().string();
  if (name.empty() || name[0] < '0' || name[0] > '9') return std::nullopt;
  return name[0] - '0';
}

// A file name for the prepared image of `source` in `folder` that no earlier image has taken.
fs::path prepared_name(const fs::path& folder, const fs::path& source, std::set<std::string>& taken) {
  std::string stem = source.stem().string();
  std::string name = stem + ".png";
  for (int copy = 2; taken.contains(name); ++copy) name = stem + "_" + std::to_string(copy) + ".png";
  taken.insert(name);
  return folder / name;
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app("Read handwritten digits from image files (PNG, JPEG, BMP, PGM) and print the most likely digits.");
  std::string model = "runs/lenet/model.safetensors";
  std::vector<std::string> paths;
  std::size_t top = 3;
  bool json = false, expect_from_names = false;
  std::string output, save_prepared;
  app.add_option("PATH", paths, "Image files, or folders whose image files are all read (sorted by name)")->required();
  app.add_option("--model", model, "Model file of LeNet5 or BestNet (examples/models.hpp)")->capture_default_str();
  app.add_option("--top", top, "How many digits to print per image, most likely first")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app.add_flag("--json", json, "Write JSON to standard output instead of text");
  app.add_option("--output", output, "Also write the JSON to this file");
  app.add_option("--save-prepared", save_prepared, "Folder for the 28x28 images the net saw (PNG, white on black)");
  app.add_flag("--expect-from-names", expect_from_names,
               "Take each file name's first character as its true digit and report the accuracy");
  CLI11_PARSE(app, argc, argv);

  const Inputs inputs = list_inputs(paths);
  if (!save_prepared.empty()) fs::create_directories(save_prepared);
  const bool progress = ::isatty(STDERR_FILENO) && inputs.files.size() >= 100;

  nlohmann::json results = nlohmann::json::array();
  nlohmann::json errors = nlohmann::json::array();
  std::size_t labelled = 0, correct = 0;
  const auto fail = [&](const fs::path& path, const std::string& message) {
    std::fprintf(stderr, "predict: %s\n", examples::one_line(message).c_str());
    errors.push_back({{"path", path.string()}, {"error", examples::one_line(message)}});
  };
  for (const auto& [path, message] : inputs.errors) fail(path, message);

  std::string network;
  examples::with_example_model(model, [&](auto& net, const ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    static_assert(std::is_same_v<typename NetType::in_shape, Shape<1, mnist_side, mnist_side>>,
                  "predict: the network must read 1x28x28 images");
    examples::require_digit_classes<NetType>(model, info);
    network = NetType::signature();
    std::set<std::string> taken;
    auto last_drawn = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < inputs.files.size(); ++i) {
      const fs::path& path = inputs.files[i];
      if (progress && (std::chrono::steady_clock::now() - last_drawn > std::chrono::milliseconds(200))) {
        std::fprintf(stderr, "\r\033[Kpredict: %zu/%zu images", i, inputs.files.size());
        last_drawn = std::chrono::steady_clock::now();
      }
      PreparedDigit digit;
      try {
        digit = prepare_digit(read_image(path));
      } catch (const ImageError& error) {
        fail(path, error.what());  // its message starts with the file name
        continue;
      } catch (const std::exception& error) {
        fail(path, path.string() + ": " + error.what());
        continue;
      }
      const std::array<float, NetType::classes> probabilities =
          examples::digit_probabilities(net, digit, info.normalization);
      std::array<std::size_t, NetType::classes> order{};
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return probabilities[a] > probabilities[b]; });

      nlohmann::json result{{"path", path.string()}, {"digit", order[0]}};
      std::string line = path.string() + ":";
      nlohmann::json ranked = nlohmann::json::array();
      for (std::size_t k = 0; k < top; ++k) {
        ranked.push_back({{"digit", order[k]}, {"probability", probabilities[order[k]]}});
        char text[32];
        std::snprintf(text, sizeof text, "  %zu %.1f%%", order[k], 100.0 * probabilities[order[k]]);
        line += text;
      }
      result["top"] = ranked;
      result["probabilities"] = probabilities;
      if (const auto expected = expected_digit(path); expect_from_names && expected) {
        ++labelled;
        const bool right = order[0] == static_cast<std::size_t>(*expected);
        correct += right;
        result["expected"] = *expected;
        result["correct"] = right;
        line += right ? "  (right)" : "  (wrong: expected " + std::to_string(*expected) + ")";
      }
      nlohmann::json preparation{{"inverted", digit.inverted},
                                 {"ink_box",
                                  {{"top", digit.ink_box.top},
                                   {"left", digit.ink_box.left},
                                   {"height", digit.ink_box.height},
                                   {"width", digit.ink_box.width}}},
                                 {"specks_erased", digit.specks},
                                 {"scale", digit.scale},
                                 {"stroke_width", digit.stroke_width},
                                 {"stroke_change", digit.stroke_change}};
      if (!save_prepared.empty()) {
        const fs::path file = prepared_name(save_prepared, path, taken);
        write_png(file, digit.image());
        preparation["file"] = file.string();
      }
      result["preparation"] = preparation;
      results.push_back(result);
      if (!json) std::printf("%s\n", line.c_str());
    }
    if (progress) std::fprintf(stderr, "\r\033[K");
  });

  nlohmann::json report{{"program", "predict"}, {"model", model},   {"network", network},
                        {"images", results},    {"errors", errors}, {"top", top}};
  if (expect_from_names) {
    const double accuracy = labelled ? static_cast<double>(correct) / static_cast<double>(labelled) : 0.0;
    report["accuracy"] = {{"correct", correct}, {"labelled", labelled}, {"fraction", accuracy}};
    if (!json)
      std::printf("accuracy: %zu of %zu images read right (%.1f%%), the true digit taken from each file name\n",
                  correct, labelled, 100.0 * accuracy);
  }
  if (json) std::printf("%s\n", report.dump(2).c_str());
  if (!output.empty()) write_file_atomically(output, report.dump(2) + "\n");
  return errors.empty() ? 0 : 1;
} catch (const std::exception& error) {
  std::fprintf(stderr, "predict: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
