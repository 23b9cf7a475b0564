// Ensembles: several trained nets, possibly of different types, that classify together by
// averaging their class probabilities, p(c|x) = (1/M) sum_m softmax(z_m(x))_c (Hansen & Salamon
// 1990; Ciresan, Meier & Schmidhuber 2012 average the columns of their multi-column nets so).
// Members are held by value in a std::tuple (a Net keeps its parameters on the heap, so the
// ensemble itself is small); each keeps its own ModelInfo, because members trained on different
// splits normalize their inputs differently.
// On disk an ensemble is a folder: one model file per member, <folder>/<name>/model.safetensors,
// and <folder>/ensemble.json listing them in order, with format = "ctnn-ensemble",
// format_version = 1 and, per member, its name, file (relative to the folder) and signature.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/core/net.hpp>
#include <ctnn/core/random.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/dataset.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>

namespace ctnn {

inline constexpr std::string_view ensemble_format = "ctnn-ensemble";
inline constexpr int ensemble_format_version = 1;

template <class... Members>
class Ensemble {
  static_assert(sizeof...(Members) > 0, "Ensemble: an ensemble needs at least one member");
  using First = std::tuple_element_t<0, std::tuple<Members...>>;
  static_assert((std::is_same_v<typename Members::in_shape, typename First::in_shape> && ...),
                "Ensemble: every member must read the same input shape");
  static_assert(((Members::classes == First::classes) && ...),
                "Ensemble: every member must have the same number of classes");

 public:
  using in_shape = typename First::in_shape;
  using members_type = std::tuple<Members...>;
  static constexpr std::size_t size = sizeof...(Members);
  static constexpr std::size_t classes = First::classes;
  static constexpr std::size_t param_count = (std::size_t{0} + ... + Members::param_count);

  // Member I's folder in a saved ensemble, and its normalization and class names.
  std::array<std::string, size> names;
  std::array<ModelInfo, size> infos;

  // Untrained members named member0, member1, ...; with a seed, member I is initialized from
  // derive_seed(seed, I), so that two members of one type start apart.
  Ensemble() {
    for (std::size_t i = 0; i < size; ++i) names[i] = "member" + std::to_string(i);
  }
  explicit Ensemble(std::uint64_t seed) : Ensemble() {
    for_each_member([seed](auto& net, std::size_t index) { net.init(derive_seed(seed, index)); });
  }

  template <std::size_t I>
  std::tuple_element_t<I, members_type>& member() noexcept {
    return std::get<I>(members_);
  }
  template <std::size_t I>
  const std::tuple_element_t<I, members_type>& member() const noexcept {
    return std::get<I>(members_);
  }

  // Calls f(net, index) for every member in order; index is a std::integral_constant, so it
  // converts to std::size_t and can also name the member's type.
  template <class F>
  void for_each_member(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(members_), std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::make_index_sequence<size>{});
  }
  template <class F>
  void for_each_member(F&& f) const {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (f(std::get<I>(members_), std::integral_constant<std::size_t, I>{}), ...);
    }
    (std::make_index_sequence<size>{});
  }

  // The mean of the members' class probabilities for one image of raw pixels (in_shape::size
  // values in [0, 1], as a Dataset holds them); each member normalizes them its own way.
  std::array<float, classes> probabilities(std::span<const float> pixels) {
    if (pixels.size() != in_shape::size)
      throw std::invalid_argument("Ensemble: an image has " + std::to_string(in_shape::size) + " pixels, not " +
                                  std::to_string(pixels.size()));
    std::array<float, classes> mean{};
    for_each_member([&](auto& net, std::size_t index) {
      const Normalization normalization = infos[index].normalization;
      tensor_of<in_shape> x;
      for (std::size_t i = 0; i < in_shape::size; ++i) x[i] = (pixels[i] - normalization.mean) / normalization.stddev;
      std::array<float, classes> member_probabilities;
      SoftmaxCrossEntropy::probabilities(net.forward(x).span(), member_probabilities);
      for (std::size_t c = 0; c < classes; ++c) mean[c] += member_probabilities[c];
    });
    for (float& p : mean) p /= static_cast<float>(size);
    return mean;
  }

  // The most probable class of one image by the mean probabilities (the lower class on a tie).
  std::size_t predict(std::span<const float> pixels) {
    const std::array<float, classes> p = probabilities(pixels);
    return static_cast<std::size_t>(std::max_element(p.begin(), p.end()) - p.begin());
  }

 private:
  members_type members_;
};

// The Evaluation of the mean of the members' probabilities, from the members' own Evaluations of
// `dataset` (all of the same data set): arg-max predictions, accuracy, and the cross-entropy of
// the mean probabilities (floored at the smallest normal float, so a confident miss is finite).
inline Evaluation average_evaluations(std::span<const Evaluation> members, const Dataset& dataset) {
  if (members.empty()) throw std::invalid_argument("average_evaluations: no member evaluations");
  const std::size_t classes = members.front().classes;
  for (const Evaluation& member : members)
    if (member.classes != classes || member.probabilities.size() != dataset.size() * classes)
      throw std::invalid_argument("average_evaluations: the members' evaluations are not of " + dataset.name +
                                  " with " + std::to_string(classes) + " classes");
  Evaluation result;
  result.classes = classes;
  result.probabilities.assign(dataset.size() * classes, 0.0f);
  result.predictions.resize(dataset.size());
  const float weight = 1.0f / static_cast<float>(members.size());
  for (const Evaluation& member : members)
    for (std::size_t i = 0; i < result.probabilities.size(); ++i)
      result.probabilities[i] += weight * member.probabilities[i];
  double total_loss = 0;
  std::size_t correct = 0;
  for (std::size_t n = 0; n < dataset.size(); ++n) {
    const float* p = result.probabilities.data() + n * classes;
    const auto best = static_cast<std::uint8_t>(std::max_element(p, p + classes) - p);
    result.predictions[n] = best;
    correct += best == dataset.labels[n];
    total_loss -= std::log(static_cast<double>(std::max(p[dataset.labels[n]], std::numeric_limits<float>::min())));
  }
  if (dataset.size() == 0) return result;
  result.loss = static_cast<float>(total_loss / static_cast<double>(dataset.size()));
  result.accuracy = static_cast<float>(correct) / static_cast<float>(dataset.size());
  return result;
}

// Each member's own Evaluation of `dataset` (evaluate() with the member's normalization), in
// member order, for the first `count` members (all by default: a smaller ensemble of the first
// members costs no new type); a Workspace of Batch images is allocated for one member at a time.
template <std::size_t Batch = 64, class... Members>
std::vector<Evaluation> evaluate_members(Ensemble<Members...>& ensemble, const Dataset& dataset,
                                         std::size_t count = sizeof...(Members)) {
  std::vector<Evaluation> results;
  ensemble.for_each_member([&](auto& net, std::size_t index) {
    if (index >= count) return;
    using Member = std::remove_cvref_t<decltype(net)>;
    Workspace<Member, Batch> workspace;
    results.push_back(evaluate(net, workspace, dataset, ensemble.infos[index].normalization));
  });
  return results;
}

// The ensemble's Evaluation of `dataset`: the mean of the members' probabilities.
template <std::size_t Batch = 64, class... Members>
Evaluation evaluate(Ensemble<Members...>& ensemble, const Dataset& dataset) {
  return average_evaluations(evaluate_members<Batch>(ensemble, dataset), dataset);
}

// Saves every member to <folder>/<name>/model.safetensors with its ModelInfo, then
// <folder>/ensemble.json, each file atomically; the manifest is written last, so a folder with a
// manifest has all its members.
template <class... Members>
void save_ensemble(const Ensemble<Members...>& ensemble, const std::filesystem::path& folder) {
  nlohmann::json members = nlohmann::json::array();
  ensemble.for_each_member([&](const auto& net, std::size_t index) {
    using Member = std::remove_cvref_t<decltype(net)>;
    const std::string& name = ensemble.names[index];
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos)
      throw ModelError("ensemble member " + std::to_string(index) + ": the name \"" + name +
                       "\" is not a plain folder name");
    const std::filesystem::path file = std::filesystem::path(name) / "model.safetensors";
    std::filesystem::create_directories(folder / name);
    save_model(net, folder / file, ensemble.infos[index]);
    members.push_back({{"name", name}, {"file", file.string()}, {"signature", Member::signature()}});
  });
  const nlohmann::json manifest{{"format", ensemble_format},
                                {"format_version", ensemble_format_version},
                                {"classes", Ensemble<Members...>::classes},
                                {"members", members}};
  write_file_atomically(folder / "ensemble.json", manifest.dump(2) + "\n");
}

// Loads an ensemble saved by save_ensemble into `ensemble`. Throws ModelError for a missing or
// malformed ensemble.json, a member count that differs from the type's, and any member file
// load_model refuses (a member saved by another architecture names both signatures);
// SafetensorsError for a damaged member file. Either every member is read or `ensemble` is
// unchanged.
template <class... Members>
void load_ensemble(Ensemble<Members...>& ensemble, const std::filesystem::path& folder) {
  const std::filesystem::path manifest_path = folder / "ensemble.json";
  std::ifstream stream(manifest_path);
  if (!stream) throw ModelError(manifest_path.string() + ": cannot open the ensemble's manifest");
  std::stringstream text;
  text << stream.rdbuf();
  const nlohmann::json manifest = nlohmann::json::parse(text.str(), nullptr, false);
  const std::string source = manifest_path.string();
  if (manifest.is_discarded() || !manifest.is_object()) throw ModelError(source + ": not a JSON object");
  if (manifest.value("format", std::string()) != ensemble_format)
    throw ModelError(source + ": not a ctnn ensemble manifest (its format is not \"" + std::string(ensemble_format) +
                     "\")");
  if (!manifest.contains("format_version") || manifest["format_version"] != ensemble_format_version)
    throw ModelError(source + ": the ensemble format_version is not " + std::to_string(ensemble_format_version));
  const auto& members = manifest.contains("members") ? manifest["members"] : nlohmann::json();
  if (!members.is_array()) throw ModelError(source + ": \"members\" is not a list");
  constexpr std::size_t size = Ensemble<Members...>::size;
  if (members.size() != size)
    throw ModelError(source + ": the ensemble has " + std::to_string(members.size()) +
                     " members but this program's has " + std::to_string(size));
  Ensemble<Members...> loaded;
  loaded.for_each_member([&](auto& net, std::size_t index) {
    const nlohmann::json& entry = members[index];
    if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() || !entry.contains("file") ||
        !entry["file"].is_string())
      throw ModelError(source + ": member " + std::to_string(index) + " has no \"name\" and \"file\" strings");
    const std::filesystem::path file = entry["file"].get<std::string>();
    if (file.is_absolute() || std::find(file.begin(), file.end(), "..") != file.end())
      throw ModelError(source + ": member " + std::to_string(index) + "'s file must lie inside the folder");
    loaded.names[index] = entry["name"].get<std::string>();
    loaded.infos[index] = load_model(net, folder / file);
  });
  ensemble = std::move(loaded);
}

}  // namespace ctnn
