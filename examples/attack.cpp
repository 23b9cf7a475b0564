// Attacks a trained model on its test set with adversarial examples and reports how much of its
// accuracy survives: FGSM and PGD (robust/attacks.hpp) at a budget eps in pixel units, or DeepFool
// (robust/deepfool.hpp), which instead measures how far each image is from changing class.
// Prints the figures, and writes attack.json with all of them and examples.png, a few images
// clean, their perturbation and the adversarial result, with the net's answers.
//   attack                                      PGD-50, L-inf eps 0.1, LeNet-5 in runs/lenet
//   attack --method fgsm --eps 0.2              one signed step of 0.2
//   attack --norm l2 --eps 1.5 --restarts 5     PGD in the L2 ball, best of 5 random starts
//   attack --target 3                           every image towards class 3
//   attack --method deepfool                    the median L2 distance to a flip
//   attack --help
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/plots.hpp>
#include <ctnn/robust/attacks.hpp>
#include <ctnn/robust/deepfool.hpp>

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
  std::string data_root;  // empty: the documented search
  std::string output;     // empty: runs/attack/<method>_<norm>_eps<eps>
  std::size_t images = 0;
  std::string method = "pgd";
  std::string norm = "linf";
  std::optional<float> epsilon;    // default: 0.1 (L-inf) or 1.5 (L2)
  std::optional<float> step_size;  // default: 2.5 eps / steps
  std::size_t steps = 50;
  std::size_t restarts = 1;
  bool no_random_start = false;
  std::optional<std::size_t> target;
  std::uint64_t seed = 1;
  int threads = 0;
  ctnn::DeepFoolOptions deepfool;
  std::size_t shown = 10;
};

constexpr std::size_t batch_size = 100;

const std::vector<std::string> fashion_names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

// printf into a std::string.
template <class... Values>
std::string format(const char* pattern, Values... values) {
  std::string text(static_cast<std::size_t>(std::snprintf(nullptr, 0, pattern, values...)), '\0');
  std::snprintf(text.data(), text.size() + 1, pattern, values...);
  return text;
}

// A float as the decimal it was given as: 0.1, not 0.10000000149011612.
double decimal(float value) { return std::stod(format("%.7g", value)); }

// The gradient attack the options describe: FGSM is one step of eps from the clean image, PGD
// steps of 2.5 eps / steps (or --step-size) from a random start.
ctnn::AttackOptions gradient_attack(const Options& options) {
  const ctnn::Norm norm = options.norm == "l2" ? ctnn::Norm::l2 : ctnn::Norm::linf;
  ctnn::AttackOptions attack = options.method == "fgsm"
                                   ? ctnn::fgsm(*options.epsilon)
                                   : ctnn::pgd(norm, *options.epsilon, options.steps, options.restarts);
  attack.norm = norm;  // FGSM in L2 is the fast gradient method: one step of eps along the gradient
  if (options.step_size) attack.step_size = *options.step_size;
  if (options.no_random_start) attack.random_start = false;
  attack.targeted = options.target.has_value();
  attack.seed = options.seed;
  return attack;
}

// What the attack did to each image, whatever the network type: the net's answers before and
// after, the adversarial images, and DeepFool's distances when it ran.
struct Outcome {
  std::string signature;
  std::size_t param_count = 0;
  std::vector<std::string> class_names;
  ctnn::Dataset test;                // the attacked images, clean
  ctnn::Evaluation clean, attacked;  // the net on the clean and on the adversarial images
  std::vector<float> adversarial;    // like test.images; an image left alone is its clean self
  std::vector<char> in_attack;       // images attacked (not those of the target class)
  std::vector<ctnn::DeepFoolImage> deepfool;
  ctnn::DeepFoolResult deepfool_summary;
  double seconds = 0;  // the attack alone
};

class ProgressLine {
 public:
  void operator()(std::size_t done, std::size_t total) const {
    if (!enabled_) return;
    std::fprintf(stderr, "\r\033[Kattacking: %zu of %zu images", done, total);
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }

 private:
  bool enabled_ = isatty(fileno(stderr)) != 0;
};

// FGSM or PGD, batch by batch, on the images in play; batch k's random starts come from
// derive_seed(seed, k), as attack_dataset's do.
template <class NetType>
void run_gradient_attack(NetType& net, ctnn::Workspace<NetType, batch_size>& ws, ctnn::Normalization normalization,
                         const ctnn::AttackOptions& attack, std::optional<std::size_t> target, Outcome& outcome) {
  constexpr std::size_t size = NetType::in_shape::size;
  const ctnn::Dataset& test = outcome.test;
  std::vector<std::size_t> chosen;
  for (std::size_t n = 0; n < test.size(); ++n)
    if (outcome.in_attack[n]) chosen.push_back(n);
  std::vector<float> pixels;
  std::vector<std::uint8_t> labels;
  const ProgressLine progress;
  for (std::size_t first = 0; first < chosen.size(); first += batch_size) {
    const std::size_t count = std::min(batch_size, chosen.size() - first);
    pixels.clear();
    labels.clear();
    for (std::size_t k = first; k < first + count; ++k) {
      const auto image = test.image(chosen[k]);
      pixels.insert(pixels.end(), image.begin(), image.end());
      labels.push_back(target ? static_cast<std::uint8_t>(*target) : test.labels[chosen[k]]);
    }
    ctnn::load_batch(ws, pixels, labels, normalization);
    ctnn::perturb(net, ws, normalization, attack, ctnn::derive_seed(attack.seed, first / batch_size), pixels);
    for (std::size_t k = 0; k < count; ++k)
      std::copy_n(pixels.begin() + static_cast<std::ptrdiff_t>(k * size), size,
                  outcome.adversarial.begin() + static_cast<std::ptrdiff_t>(chosen[first + k] * size));
    progress(first + count, chosen.size());
  }
}

// Loads the model and its test set, then attacks.
Outcome run(const Options& options, const ctnn::AttackOptions& attack) {
  return examples::with_example_model(options.model, [&](auto& net, const ctnn::ModelInfo& info) {
    using NetType = std::remove_cvref_t<decltype(net)>;
    const ctnn::Normalization normalization = info.normalization;
    if (!std::isfinite(normalization.mean) || !(normalization.stddev > 0) || !std::isfinite(normalization.stddev))
      throw ctnn::ModelError(options.model + ": its input normalization (mean " + std::to_string(normalization.mean) +
                             ", stddev " + std::to_string(normalization.stddev) + ") is not usable");
    if (options.target && *options.target >= NetType::classes)
      throw std::invalid_argument("--target " + std::to_string(*options.target) +
                                  " is not a class of the network (0.." + std::to_string(NetType::classes - 1) + ")");
    Outcome outcome;
    outcome.signature = NetType::signature();
    outcome.param_count = NetType::param_count;
    outcome.class_names = info.class_names.size() == NetType::classes ? info.class_names : examples::digit_names;
    const std::optional<fs::path> data_root =
        options.data_root.empty() ? std::nullopt : std::optional<fs::path>(options.data_root);
    ctnn::Dataset test = info.class_names == fashion_names ? ctnn::load_fashion_mnist(ctnn::Split::test, data_root)
                                                           : ctnn::load_mnist(ctnn::Split::test, data_root);
    ctnn::check_input_shape<NetType>(test);
    if (ctnn::class_count(test) > NetType::classes)
      throw ctnn::DataError(test.name + " has labels up to " + std::to_string(ctnn::class_count(test) - 1) +
                            " but the network has " + std::to_string(NetType::classes) + " classes");
    if (options.images && options.images < test.size()) {
      test.images.resize(options.images * test.image_size());
      test.labels.resize(options.images);
    }
    outcome.test = std::move(test);
    outcome.adversarial = outcome.test.images;
    outcome.in_attack.resize(outcome.test.size());
    for (std::size_t n = 0; n < outcome.test.size(); ++n)
      outcome.in_attack[n] = !options.target || outcome.test.labels[n] != *options.target;

    auto ws = std::make_unique<ctnn::Workspace<NetType, batch_size>>();
    outcome.clean = ctnn::evaluate(net, *ws, outcome.test, normalization);
    const auto start = std::chrono::steady_clock::now();
    if (options.method == "deepfool") {
      outcome.deepfool_summary =
          ctnn::deepfool_dataset(net, *ws, outcome.test, normalization, options.deepfool, 0, true, ProgressLine());
      outcome.adversarial = std::move(outcome.deepfool_summary.adversarial);
      outcome.deepfool = std::move(outcome.deepfool_summary.per_image);
    } else {
      run_gradient_attack(net, *ws, normalization, attack, options.target, outcome);
    }
    outcome.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ctnn::Dataset adversarial = outcome.test;
    adversarial.images = outcome.adversarial;
    outcome.attacked = ctnn::evaluate(net, *ws, adversarial, normalization);
    return outcome;
  });
}

// The figures of the report, from the outcome alone.
struct Norms {
  double mean = std::nan(""), max = std::nan("");
};
struct ClassFigures {
  std::size_t images = 0, clean_correct = 0, robust_correct = 0;
};
struct Figures {
  std::size_t images = 0, clean_correct = 0, robust_correct = 0;
  std::size_t attacked = 0;  // images in play: every image, or those not of the target class
  std::size_t chances = 0;   // images an attack could succeed on: correct ones (untargeted), all in play (targeted)
  std::size_t successes = 0;
  Norms l2, linf;  // of the perturbations of the successes
  std::vector<ClassFigures> per_class;
  std::vector<char> succeeded;
};

Figures compute_figures(const Outcome& outcome, const Options& options) {
  const ctnn::Dataset& test = outcome.test;
  const std::size_t size = test.image_size();
  Figures figures;
  figures.images = test.size();
  figures.per_class.resize(outcome.clean.classes);
  figures.succeeded.resize(test.size());
  double l2_sum = 0, linf_sum = 0;
  for (std::size_t n = 0; n < test.size(); ++n) {
    const std::uint8_t label = test.labels[n];
    const bool clean_correct = outcome.clean.predictions[n] == label;
    const bool robust_correct = clean_correct && outcome.attacked.predictions[n] == label;
    figures.clean_correct += clean_correct;
    figures.robust_correct += robust_correct;
    ClassFigures& row = figures.per_class[label];
    ++row.images;
    row.clean_correct += clean_correct;
    row.robust_correct += robust_correct;
    if (!outcome.in_attack[n]) continue;
    ++figures.attacked;
    const bool success =
        options.target ? outcome.attacked.predictions[n] == *options.target : clean_correct && !robust_correct;
    figures.chances += options.target || clean_correct;
    if (!success) continue;
    figures.succeeded[n] = 1;
    ++figures.successes;
    double squares = 0, largest = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const double change = static_cast<double>(outcome.adversarial[n * size + i]) - test.images[n * size + i];
      squares += change * change;
      largest = std::max(largest, std::abs(change));
    }
    const double l2 = std::sqrt(squares);
    l2_sum += l2;
    linf_sum += largest;
    figures.l2.max = figures.successes == 1 ? l2 : std::max(figures.l2.max, l2);
    figures.linf.max = figures.successes == 1 ? largest : std::max(figures.linf.max, largest);
  }
  if (figures.successes) {
    figures.l2.mean = l2_sum / static_cast<double>(figures.successes);
    figures.linf.mean = linf_sum / static_cast<double>(figures.successes);
  }
  return figures;
}

double fraction(std::size_t part, std::size_t whole) {
  return whole ? static_cast<double>(part) / static_cast<double>(whole) : std::nan("");
}

// DeepFool's linearizations per flipped image.
double mean_iterations(const Outcome& outcome) {
  std::size_t flipped = 0, iterations = 0;
  for (const ctnn::DeepFoolImage& image : outcome.deepfool)
    if (image.flipped()) ++flipped, iterations += image.iterations;
  return fraction(iterations, flipped);
}

std::string attack_description(const Options& options, const ctnn::AttackOptions& attack) {
  if (options.method == "deepfool")
    return format("DeepFool (L2), overshoot %g, at most %zu iterations, %s", options.deepfool.overshoot,
                  options.deepfool.max_iterations,
                  options.deepfool.candidates ? format("top %zu candidate classes", options.deepfool.candidates).c_str()
                                              : "every class a candidate");
  std::string text = format("%s, %s eps %g, ", options.method == "fgsm" ? "FGSM" : "PGD",
                            attack.norm == ctnn::Norm::linf ? "L-inf" : "L2", attack.epsilon);
  text += format("%zu step%s of %g", attack.steps, attack.steps == 1 ? "" : "s", attack.step_size);
  if (options.method == "pgd")
    text += format(", %zu restart%s, %s, seed %llu", attack.restarts, attack.restarts == 1 ? "" : "s",
                   attack.random_start ? "random start" : "from the clean image",
                   static_cast<unsigned long long>(attack.seed));
  text += options.target ? format(", targeted at class %zu", *options.target) : std::string(", untargeted");
  return text;
}

std::string text_report(const Outcome& outcome, const Figures& figures, const Options& options,
                        const ctnn::AttackOptions& attack) {
  std::string text;
  text += format("model     %s\n", options.model.c_str());
  text += format("network   %s (%zu parameters)\n", outcome.signature.c_str(), outcome.param_count);
  text += format("data      %s test set, %zu images\n", outcome.test.name.c_str(), figures.images);
  text += format("attack    %s\n\n", attack_description(options, attack).c_str());
  text += format("clean accuracy           %.2f%% (%zu of %zu)\n",
                 100 * fraction(figures.clean_correct, figures.images), figures.clean_correct, figures.images);
  text += format("accuracy under attack    %.2f%% (%zu of %zu)\n",
                 100 * fraction(figures.robust_correct, figures.images), figures.robust_correct, figures.images);
  text += format("attack success rate      %.2f%% (%zu of %zu %s)\n",
                 100 * fraction(figures.successes, figures.chances), figures.successes, figures.chances,
                 options.target ? format("images of other classes reached class %zu", *options.target).c_str()
                                : "correctly classified images misclassified");
  if (figures.successes)
    text += format("perturbation             L2 mean %.4f max %.4f, L-inf mean %.4f max %.4f (of the successes)\n",
                   figures.l2.mean, figures.l2.max, figures.linf.mean, figures.linf.max);
  if (options.method == "deepfool") {
    const ctnn::DeepFoolResult& summary = outcome.deepfool_summary;
    text += format(
        "DeepFool                 median L2 to flip %.4f, mean %.4f (L-inf mean %.4f), %zu of %zu correct "
        "images flipped, in %.2f iterations on average\n",
        summary.median_l2, summary.mean_l2, summary.mean_linf, summary.flipped, summary.clean_correct,
        mean_iterations(outcome));
  }
  text += format("time                     %.2f s, %.0f images/s\n", outcome.seconds,
                 outcome.seconds > 0 ? static_cast<double>(figures.attacked) / outcome.seconds : 0.0);
  return text;
}

json json_report(const Outcome& outcome, const Figures& figures, const Options& options,
                 const ctnn::AttackOptions& attack) {
  json settings{{"method", options.method}, {"norm", options.method == "deepfool" ? "l2" : options.norm}};
  if (options.method == "deepfool") {
    settings["overshoot"] = decimal(options.deepfool.overshoot);
    settings["max_iterations"] = options.deepfool.max_iterations;
    settings["candidates"] = options.deepfool.candidates;
  } else {
    settings.update({{"epsilon", decimal(attack.epsilon)},
                     {"step_size", decimal(attack.step_size)},
                     {"steps", attack.steps},
                     {"restarts", attack.restarts},
                     {"random_start", attack.random_start},
                     {"seed", attack.seed}});
  }
  settings["target"] = options.target ? json(*options.target) : json(nullptr);
  settings["threads"] = options.threads;
  json per_class = json::array();
  for (std::size_t c = 0; c < figures.per_class.size(); ++c) {
    const ClassFigures& row = figures.per_class[c];
    per_class.push_back({{"class", c},
                         {"name", outcome.class_names[c]},
                         {"images", row.images},
                         {"clean_accuracy", fraction(row.clean_correct, row.images)},
                         {"robust_accuracy", fraction(row.robust_correct, row.images)}});
  }
  json report{
      {"program", "attack"},
      {"model", options.model},
      {"network", outcome.signature},
      {"parameters", outcome.param_count},
      {"data", {{"name", outcome.test.name}, {"images", figures.images}}},
      {"attack", settings},
      {"clean_accuracy", fraction(figures.clean_correct, figures.images)},
      {"robust_accuracy", fraction(figures.robust_correct, figures.images)},
      {"attacked_images", figures.attacked},
      {"successes", figures.successes},
      {"success_rate", fraction(figures.successes, figures.chances)},
      {"perturbation",
       {{"of", "successful attacks"},
        {"l2", {{"mean", figures.l2.mean}, {"max", figures.l2.max}}},
        {"linf", {{"mean", figures.linf.mean}, {"max", figures.linf.max}}}}},
      {"seconds", outcome.seconds},
      {"images_per_second", outcome.seconds > 0 ? static_cast<double>(figures.attacked) / outcome.seconds : 0.0},
      {"per_class", per_class}};
  if (options.method == "deepfool") {
    const ctnn::DeepFoolResult& summary = outcome.deepfool_summary;
    // JSON has no infinity: a median beyond reach (fewer than half flipped) is null.
    report["deepfool"] = {{"median_l2", summary.median_l2},
                          {"mean_l2", summary.mean_l2},
                          {"mean_linf", summary.mean_linf},
                          {"flipped", summary.flipped},
                          {"mean_iterations", mean_iterations(outcome)},
                          {"flipped_fraction", fraction(summary.flipped, summary.clean_correct)}};
  }
  return report;
}

// `shown` images in three rows: clean, the perturbation (grey is no change, scaled so that its
// largest change is black or white) and the adversarial image, each with the net's answer. The
// successes come first.
ctnn::Picture examples_picture(const Outcome& outcome, const Figures& figures, const Options& options,
                               const std::string& title) {
  const ctnn::Dataset& test = outcome.test;
  const std::size_t size = test.image_size(), classes = outcome.clean.classes;
  std::vector<std::size_t> shown;
  for (const bool successes : {true, false})
    for (std::size_t n = 0; n < test.size() && shown.size() < options.shown; ++n)
      if (outcome.in_attack[n] && (figures.succeeded[n] != 0) == successes) shown.push_back(n);
  std::vector<std::vector<float>> changes;
  std::vector<std::string> scales;
  for (const std::size_t n : shown) {
    std::vector<float> change(size);
    float largest = 0;
    for (std::size_t i = 0; i < size; ++i) {
      change[i] = outcome.adversarial[n * size + i] - test.images[n * size + i];
      largest = std::max(largest, std::abs(change[i]));
    }
    for (float& value : change) value = largest > 0 ? 0.5f + 0.5f * value / largest : 0.5f;
    changes.push_back(std::move(change));
    scales.push_back(format("|d| <= %.3f", largest));
  }
  const auto answer = [&](const ctnn::Evaluation& evaluation, std::size_t n) {
    const std::uint8_t predicted = evaluation.predictions[n];
    const ctnn::Color color = predicted == test.labels[n] ? ctnn::Color{30, 120, 30} : ctnn::Color{200, 30, 30};
    return ctnn::TextLine{
        format("%s %.2f", outcome.class_names[predicted].c_str(), evaluation.probabilities[n * classes + predicted]),
        color};
  };
  ctnn::ImageGrid grid{.title = title, .tiles = {}, .columns = std::max<std::size_t>(shown.size(), 1), .scale = 3};
  for (const std::size_t n : shown)
    grid.tiles.push_back(
        {{test.image(n), test.width, test.height},
         {{"true " + outcome.class_names[test.labels[n]], ctnn::colors::black}, answer(outcome.clean, n)}});
  for (std::size_t k = 0; k < shown.size(); ++k)
    grid.tiles.push_back(
        {{changes[k], test.width, test.height}, {{"change", {110, 110, 110}}, {scales[k], {110, 110, 110}}}});
  for (const std::size_t n : shown)
    grid.tiles.push_back(
        {{std::span<const float>(outcome.adversarial).subspan(n * size, size), test.width, test.height},
         {{"attacked", {110, 110, 110}}, answer(outcome.attacked, n)}});
  return ctnn::draw_image_grid(grid);
}

}  // namespace

int main(int argc, char** argv) try {
  Options options;
  CLI::App app(
      "Attack a trained model with adversarial examples (FGSM, PGD or DeepFool) on its test set: accuracy under "
      "attack, success rate and perturbation sizes, as text, attack.json and examples.png.");
  app.add_option("--model", options.model, "Model file saved by an example trainer")->capture_default_str();
  app.add_option("--data", options.data_root,
                 "Folder holding mnist/ (default: $CTNN_DATA, ./data, ../shared/data, then system folders)");
  app.add_option("--output", options.output, "Folder for the report (default: runs/attack/<method>_<norm>_eps<eps>)");
  app.add_option("--images", options.images, "Test images to attack, from the first (0: all)")->capture_default_str();
  app.add_option("--method", options.method, "fgsm, pgd or deepfool")
      ->check(CLI::IsMember({"fgsm", "pgd", "deepfool"}))
      ->capture_default_str();
  app.add_option("--norm", options.norm, "linf or l2 (DeepFool: l2)")
      ->check(CLI::IsMember({"linf", "l2"}))
      ->capture_default_str();
  app.add_option("--eps", options.epsilon, "Budget in pixel units, pixels in [0, 1] (default: 0.1 L-inf, 1.5 L2)");
  auto* step_size = app.add_option("--step-size", options.step_size, "PGD step (default: 2.5 eps / steps)");
  auto* steps = app.add_option("--steps", options.steps, "PGD steps")->capture_default_str();
  auto* restarts = app.add_option("--restarts", options.restarts, "PGD random restarts; the best counts")
                       ->check(CLI::PositiveNumber)
                       ->capture_default_str();
  auto* no_random_start = app.add_flag("--no-random-start", options.no_random_start, "PGD from the clean image");
  app.add_option("--target", options.target,
                 "Targeted: push every image towards this class (images of the class are left out)");
  app.add_option("--seed", options.seed, "Seed of the random starts")->capture_default_str();
  app.add_option("--threads", options.threads, "OpenMP threads (0: all cores)")->capture_default_str();
  auto* overshoot =
      app.add_option("--overshoot", options.deepfool.overshoot, "DeepFool's overshoot")->capture_default_str();
  auto* iterations = app.add_option("--max-iterations", options.deepfool.max_iterations, "DeepFool's iterations")
                         ->capture_default_str();
  auto* candidates = app.add_option("--candidates", options.deepfool.candidates,
                                    "DeepFool: the classes tried, the top ones by logit (0: all)")
                         ->capture_default_str();
  app.add_option("--show", options.shown, "Images in examples.png")->check(CLI::Range(1, 40))->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    std::fprintf(stderr, "attack: %s\n", examples::one_line(error.what()).c_str());
    return 2;
  }

  // Options that do not apply to the method are mistakes, not silently ignored.
  const auto refuse = [&](CLI::Option* option, const char* applies_to) {
    if (option->count())
      throw std::invalid_argument(option->get_name() + " applies to " + applies_to + ", not to " + options.method);
  };
  if (options.method != "pgd")
    for (CLI::Option* option : {step_size, steps, restarts, no_random_start}) refuse(option, "pgd");
  if (options.method != "deepfool")
    for (CLI::Option* option : {overshoot, iterations, candidates}) refuse(option, "deepfool");
  if (options.method == "deepfool") {
    if (app.get_option("--norm")->count() && options.norm != "l2")
      throw std::invalid_argument("deepfool is an L2 attack: --norm linf does not apply");
    refuse(app.get_option("--eps"), "fgsm and pgd");
    refuse(app.get_option("--target"), "fgsm and pgd");
    options.norm = "l2";
  }
  if (!options.epsilon) options.epsilon = options.norm == "l2" ? 1.5f : 0.1f;
  const auto require_non_negative = [](const char* name, float value) {
    if (!(value >= 0 && std::isfinite(value)))
      throw std::invalid_argument(std::string(name) + " must be a finite number >= 0, not " + format("%g", value));
  };
  require_non_negative("--eps", *options.epsilon);
  if (options.step_size) require_non_negative("--step-size", *options.step_size);
  require_non_negative("--overshoot", options.deepfool.overshoot);
  if (options.method == "pgd" && options.steps == 0) throw std::invalid_argument("--steps must be at least 1");
#ifdef _OPENMP
  if (options.threads > 0) omp_set_num_threads(options.threads);
#endif
  const ctnn::AttackOptions attack = gradient_attack(options);
  const fs::path output = !options.output.empty() ? fs::path(options.output)
                          : options.method == "deepfool"
                              ? fs::path("runs/attack/deepfool_l2")
                              : fs::path("runs/attack") / format("%s_%s_eps%g", options.method.c_str(),
                                                                 options.norm.c_str(), *options.epsilon);

  const Outcome outcome = run(options, attack);
  const Figures figures = compute_figures(outcome, options);
  std::fputs(text_report(outcome, figures, options, attack).c_str(), stdout);

  fs::create_directories(output);
  ctnn::write_file_atomically(output / "attack.json", json_report(outcome, figures, options, attack).dump(2) + "\n");
  const std::string title =
      options.method == "deepfool"
          ? format("DeepFool: median L2 %.3f to flip; clean, change, attacked", outcome.deepfool_summary.median_l2)
          : format("%s %s eps %g%s: accuracy %.1f%% -> %.1f%%; clean, change, attacked",
                   options.method == "fgsm" ? "FGSM" : "PGD", attack.norm == ctnn::Norm::linf ? "L-inf" : "L2",
                   attack.epsilon, options.target ? format(" towards %zu", *options.target).c_str() : "",
                   100 * fraction(figures.clean_correct, figures.images),
                   100 * fraction(figures.robust_correct, figures.images));
  ctnn::save_png(examples_picture(outcome, figures, options, title), output / "examples.png");
  std::printf("\nreport: %s (attack.json, examples.png)\n", output.c_str());
} catch (const std::exception& error) {
  std::fprintf(stderr, "attack: %s\n", examples::one_line(error.what()).c_str());
  return 1;
}
