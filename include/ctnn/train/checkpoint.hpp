// Training checkpoints: one safetensors file holding the current weights, the best weights so far,
// the optimizer's state and, in the metadata, the epoch, the early-stopping record and the
// per-epoch history. Written atomically after every epoch, so a crash leaves the last good one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/io/model_file.hpp>
#include <ctnn/io/safetensors.hpp>
#include <ctnn/train/training_log.hpp>

namespace ctnn {

struct TrainingState {
  std::size_t epochs_done = 0;
  std::size_t best_epoch = 0;  // 1-based; 0 before any epoch
  float best_metric = 0;
  std::size_t epochs_without_improvement = 0;
  bool stopped = false;  // early stopping has ended the run
  std::vector<EpochRecord> history;
};

namespace detail {
template <class Optimizer, class F>
void for_each_optimizer_set(Optimizer& optimizer, F&& f) {
  std::apply(
      [&](auto&... sets) {
        std::size_t index = 0;
        (f("optimizer." + std::to_string(index++), sets), ...);
      },
      optimizer.state());
}
}  // namespace detail

template <class NetType, class Optimizer>
void save_checkpoint(const std::filesystem::path& path, const NetType& net, Optimizer& optimizer, const NetType& best,
                     const TrainingState& state) {
  std::vector<TensorToWrite> tensors;
  append_tensors(tensors, "layers", net.parameters());
  append_tensors(tensors, "best", best.parameters());
  detail::for_each_optimizer_set(optimizer,
                                 [&](const std::string& prefix, auto& set) { append_tensors(tensors, prefix, set); });

  nlohmann::json history = nlohmann::json::array();
  for (const auto& record : state.history) history.push_back(to_json(record));
  std::map<std::string, std::string> metadata{
      {"format", "ctnn-checkpoint"},
      {"format_version", "1"},
      {"signature", NetType::signature()},
      {"epochs_done", std::to_string(state.epochs_done)},
      {"best_epoch", std::to_string(state.best_epoch)},
      {"best_metric", nlohmann::json(state.best_metric).dump()},
      {"epochs_without_improvement", std::to_string(state.epochs_without_improvement)},
      {"stopped", state.stopped ? "1" : "0"},
      {"history", history.dump()}};
  if constexpr (requires { optimizer.step(); }) metadata["optimizer_step"] = std::to_string(optimizer.step());
  write_safetensors(path, tensors, metadata);
}

// Restores what save_checkpoint wrote; throws ModelError if the file is not a checkpoint of this
// network. Nothing is changed unless the whole file is valid.
template <class NetType, class Optimizer>
TrainingState load_checkpoint(const std::filesystem::path& path, NetType& net, Optimizer& optimizer, NetType& best) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  const auto& metadata = file.metadata();
  const auto field = [&](const std::string& key) -> const std::string& {
    const auto found = metadata.find(key);
    if (found == metadata.end())
      throw ModelError(path.string() + ": not a ctnn checkpoint (no '" + key + "' in its metadata)");
    return found->second;
  };
  if (field("format") != "ctnn-checkpoint" || field("format_version") != "1")
    throw ModelError(path.string() + ": not a ctnn checkpoint of format version 1");
  if (field("signature") != NetType::signature())
    throw ModelError("checkpoint " + path.string() + " was saved by `" + field("signature") +
                     "` but this program's network is `" + NetType::signature() + "`");

  TrainingState state;
  try {
    state.epochs_done = std::stoull(field("epochs_done"));
    state.best_epoch = std::stoull(field("best_epoch"));
    state.best_metric = nlohmann::json::parse(field("best_metric")).template get<float>();
    state.epochs_without_improvement = std::stoull(field("epochs_without_improvement"));
    state.stopped = field("stopped") == "1";
    for (const auto& record : nlohmann::json::parse(field("history")))
      state.history.push_back(epoch_record_from_json(record));
  } catch (const std::exception& error) {
    throw ModelError(path.string() + ": corrupt checkpoint metadata (" + error.what() + ")");
  }

  NetType loaded_net, loaded_best;
  read_tensors(file, "layers", loaded_net.parameters());
  read_tensors(file, "best", loaded_best.parameters());
  std::vector<std::unique_ptr<typename NetType::layers>> loaded_sets;  // on the heap: they can be large
  detail::for_each_optimizer_set(optimizer, [&](const std::string& prefix, auto&) {
    loaded_sets.push_back(std::make_unique<typename NetType::layers>());
    read_tensors(file, prefix, *loaded_sets.back());
  });

  net = loaded_net;
  best = loaded_best;
  std::size_t index = 0;
  detail::for_each_optimizer_set(optimizer, [&](const std::string&, auto& set) { set = *loaded_sets[index++]; });
  if constexpr (requires { optimizer.set_step(std::uint64_t{}); })
    optimizer.set_step(std::stoull(field("optimizer_step")));
  return state;
}

}  // namespace ctnn
