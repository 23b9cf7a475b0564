// Model files: a Net's parameters and running statistics in a safetensors file, which any
// safetensors tool can open (Python: safetensors.numpy.load_file).
// Layout: one F32 tensor per trained tensor and per state tensor (BatchNorm's running mean and
// variance), shaped like the Tensor's dims and named "layers.<I>.param<J>" / "layers.<I>.state<J>"
// for the J-th tensor of parameters() / state() of layer I, in that order. Layers do not name
// their tensors, so the names are positions; the architecture signature in the metadata says
// what the positions mean. The metadata ("__metadata__") holds
//   format = "ctnn-model", format_version = "1",
//   signature = Net::signature(), architecture_hash = 16 lowercase hex digits of
//   Net::architecture_hash(), normalization_mean and normalization_stddev (shortest decimal
//   text that reads back to the same float), class_names (a JSON array of strings), and
//   "extra.<key>" for each ModelInfo::extra entry.
// Loading checks the format, the architecture (an error names both signatures), then every
// tensor's presence, dtype and shape, and refuses unknown tensors; only then does it copy, so a
// failed load leaves the net as it was. append_tensors / check_tensors / read_tensors do the same
// for any prefix, for checkpoints that hold several sets of layers (parameters, optimizer moments).
#pragma once

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/core/layer.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/safetensors.hpp>

namespace ctnn {

// A model file that is a valid safetensors file but does not fit this program's network: other
// format, other architecture, missing, extra or misshapen tensors.
struct ModelError : SafetensorsError {
  using SafetensorsError::SafetensorsError;
};

// What a model file carries besides the tensors: how to normalize inputs, what the outputs mean,
// and free-form text (training settings, dataset, accuracy).
struct ModelInfo {
  Normalization normalization{};
  std::vector<std::string> class_names;
  std::map<std::string, std::string> extra;
};

inline constexpr std::string_view model_format = "ctnn-model";
inline constexpr std::string_view model_format_version = "1";
inline constexpr std::string_view model_prefix = "layers";

namespace detail {

// Calls f(name, tensor, owner) for every parameter, then every state tensor, of every layer of a
// layers tuple, with name = "<prefix>.<I>.param<J>" or "<prefix>.<I>.state<J>" and owner
// = "layer I (<label>)" for messages.
template <class Layers, class F>
void for_each_named_tensor(Layers& layers, std::string_view prefix, F&& f) {
  const auto visit_layer = [&](auto index) {
    constexpr std::size_t I = decltype(index)::value;
    auto& layer = std::get<I>(layers);
    using L = std::remove_cvref_t<decltype(layer)>;
    const std::string stem = std::string(prefix) + "." + std::to_string(I) + ".";
    const std::string owner = "layer " + std::to_string(I) + " (" + L::label() + ")";
    const auto visit_tuple = [&](auto&& tensors, std::string_view kind) {
      const auto visit = [&]<std::size_t... J>(std::index_sequence<J...>) {
        (f(stem + std::string(kind) + std::to_string(J), std::get<J>(tensors), owner), ...);
      };
      visit(std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<decltype(tensors)>>>{});
    };
    visit_tuple(layer.parameters(), "param");
    if constexpr (StatefulLayer<L>) visit_tuple(layer.state(), "state");
  };
  const auto visit_all = [&]<std::size_t... I>(std::index_sequence<I...>) {
    (visit_layer(std::integral_constant<std::size_t, I>{}), ...);
  };
  visit_all(std::make_index_sequence<std::tuple_size_v<std::remove_const_t<Layers>>>{});
}

template <class TensorType>
std::vector<std::uint64_t> tensor_shape() {
  return std::vector<std::uint64_t>(TensorType::dims.begin(), TensorType::dims.end());
}

inline std::string float_text(float value) {
  char text[64];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

inline std::string hash_text(std::uint64_t hash) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(hash));
  return text;
}

inline const std::string* find_metadata(const SafetensorsFile& file, const std::string& key) {
  const auto found = file.metadata().find(key);
  return found == file.metadata().end() ? nullptr : &found->second;
}

inline const std::string& require_metadata(const SafetensorsFile& file, const std::string& key) {
  const std::string* value = find_metadata(file, key);
  if (!value) throw ModelError(file.source() + ": the metadata has no \"" + key + "\" entry");
  return *value;
}

inline float parse_metadata_float(const SafetensorsFile& file, const std::string& key, float fallback) {
  const std::string* text = find_metadata(file, key);
  if (!text) return fallback;
  float value = 0;
  const auto result = std::from_chars(text->data(), text->data() + text->size(), value);
  if (result.ec != std::errc{} || result.ptr != text->data() + text->size())
    throw ModelError(file.source() + ": metadata " + key + " is " + json_quoted(*text) + ", not a number");
  return value;
}

// The ModelInfo fields of a model file's metadata (normalization, class names, "extra.<key>"),
// written and read the same way by float and quantized model files.
inline void write_model_info(std::map<std::string, std::string>& metadata, const ModelInfo& info,
                             const std::filesystem::path& path) {
  metadata["normalization_mean"] = float_text(info.normalization.mean);
  metadata["normalization_stddev"] = float_text(info.normalization.stddev);
  try {
    metadata["class_names"] = nlohmann::json(info.class_names).dump();
  } catch (const nlohmann::json::exception&) {
    throw ModelError(path.string() + ": a class name is not valid UTF-8");
  }
  for (const auto& [key, value] : info.extra) metadata["extra." + key] = value;
}
inline ModelInfo parse_model_info(const SafetensorsFile& file) {
  ModelInfo info;
  info.normalization.mean = parse_metadata_float(file, "normalization_mean", info.normalization.mean);
  info.normalization.stddev = parse_metadata_float(file, "normalization_stddev", info.normalization.stddev);
  if (const std::string* names = find_metadata(file, "class_names")) {
    const nlohmann::json parsed = nlohmann::json::parse(*names, nullptr, false);
    const auto is_string = [](const nlohmann::json& value) { return value.is_string(); };
    if (parsed.is_discarded() || !parsed.is_array() || !std::all_of(parsed.begin(), parsed.end(), is_string))
      throw ModelError(file.source() + ": metadata class_names is not a JSON array of strings");
    for (const auto& name : parsed) info.class_names.push_back(name.get<std::string>());
  }
  for (const auto& [key, value] : file.metadata())
    if (key.starts_with("extra.")) info.extra.emplace(key.substr(6), value);
  return info;
}

// The ModelInfo in a model file's metadata; the format and version must be ctnn's.
inline ModelInfo read_model_info(const SafetensorsFile& file) {
  const std::string& format = require_metadata(file, "format");
  if (format != model_format)
    throw ModelError(file.source() + ": not a ctnn model file: its metadata format is " + json_quoted(format) +
                     ", expected \"" + std::string(model_format) + "\"");
  const std::string& version = require_metadata(file, "format_version");
  if (version != model_format_version)
    throw ModelError(file.source() + ": ctnn model format_version " + json_quoted(version) +
                     " is not supported; this program reads version " + std::string(model_format_version));
  return parse_model_info(file);
}

}  // namespace detail

// Appends every parameter and state tensor of `layers` (a Net's layers tuple) to `tensors` as
// F32, named "<prefix>.<I>.param<J>" / "<prefix>.<I>.state<J>". The entries point into `layers`,
// which must outlive their writing.
template <class Layers>
void append_tensors(std::vector<TensorToWrite>& tensors, std::string_view prefix, const Layers& layers) {
  detail::for_each_named_tensor(layers, prefix, [&](std::string name, const auto& tensor, const std::string&) {
    using TensorType = std::remove_cvref_t<decltype(tensor)>;
    tensors.push_back({std::move(name), "F32", detail::tensor_shape<TensorType>(),
                       std::as_bytes(std::span<const float>(tensor.data(), TensorType::size))});
  });
}

// Checks that `file` holds every tensor append_tensors(prefix, layers) writes, as F32 with the
// tensor's exact shape, and no other tensor under "<prefix>."; throws ModelError otherwise.
template <class Layers>
void check_tensors(const SafetensorsFile& file, std::string_view prefix, const Layers& layers) {
  std::set<std::string, std::less<>> expected;
  detail::for_each_named_tensor(
      layers, prefix, [&](const std::string& name, const auto& tensor, const std::string& owner) {
        using TensorType = std::remove_cvref_t<decltype(tensor)>;
        const std::vector<std::uint64_t> shape = detail::tensor_shape<TensorType>();
        const std::string what = file.source() + ": tensor " + detail::json_quoted(name) + " of " + owner;
        if (!file.contains(name))
          throw ModelError(what + " is missing (expected F32 " + detail::shape_text(shape) + ")");
        const TensorEntry& entry = file.at(name);
        if (entry.dtype != "F32") throw ModelError(what + " has dtype " + entry.dtype + ", expected F32");
        if (entry.shape != shape)
          throw ModelError(what + " has shape " + detail::shape_text(entry.shape) + ", expected " +
                           detail::shape_text(shape));
        expected.insert(name);
      });
  const std::string stem = std::string(prefix) + ".";
  for (const std::string& name : file.names())
    if (name.starts_with(stem) && !expected.contains(name))
      throw ModelError(file.source() + ": unexpected tensor " + detail::json_quoted(name) +
                       ": this program's network has no such tensor");
}

// check_tensors, then copies the tensors into `layers`. Either every tensor is read or, on an
// exception, `layers` is unchanged.
template <class Layers>
void read_tensors(const SafetensorsFile& file, std::string_view prefix, Layers& layers) {
  check_tensors(file, prefix, std::as_const(layers));
  detail::for_each_named_tensor(layers, prefix, [&](const std::string& name, auto& tensor, const std::string&) {
    const TensorEntry& entry = file.at(name);
    std::memcpy(tensor.data(), entry.bytes.data(), entry.bytes.size());
  });
}

// Saves `net` (parameters and running statistics) and `info` to `path`, atomically.
template <class NetType>
void save_model(const NetType& net, const std::filesystem::path& path, const ModelInfo& info = {}) {
  std::map<std::string, std::string> metadata;
  metadata["format"] = model_format;
  metadata["format_version"] = model_format_version;
  metadata["signature"] = NetType::signature();
  metadata["architecture_hash"] = detail::hash_text(NetType::architecture_hash());
  detail::write_model_info(metadata, info, path);
  std::vector<TensorToWrite> tensors;
  append_tensors(tensors, model_prefix, net.parameters());
  write_safetensors(path, tensors, metadata);
}

// The network signature a model file was saved with (Net::signature()), to choose the type to
// load it into; throws SafetensorsError / ModelError for a damaged or non-ctnn file.
inline std::string model_signature(const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  detail::read_model_info(file);
  return detail::require_metadata(file, "signature");
}

// Loads a model saved by save_model for the same architecture into `net` and returns its
// ModelInfo. Throws SafetensorsError for a damaged file and ModelError for one that does not fit
// `net`; either way `net` is left unchanged.
template <class NetType>
ModelInfo load_model(NetType& net, const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  ModelInfo info = detail::read_model_info(file);
  const std::string& saved_signature = detail::require_metadata(file, "signature");
  const std::string& saved_hash = detail::require_metadata(file, "architecture_hash");
  const std::string signature = NetType::signature();
  const std::string hash = detail::hash_text(NetType::architecture_hash());
  if (saved_signature != signature || saved_hash != hash) {
    std::string message = "model file " + file.source() + " was saved by `" + saved_signature +
                          "` but this program's network is `" + signature + "`";
    if (saved_signature == signature)
      message += " (the signatures agree but the file's architecture_hash is " + detail::json_quoted(saved_hash) +
                 ", not \"" + hash + "\": its metadata was edited or damaged)";
    throw ModelError(message);
  }
  const std::string stem = std::string(model_prefix) + ".";
  for (const std::string& name : file.names())
    if (!name.starts_with(stem))
      throw ModelError(file.source() + ": unexpected tensor " + detail::json_quoted(name) +
                       ": a model file holds only \"" + stem + "*\" tensors");
  read_tensors(file, model_prefix, net.parameters());  // checks every tensor before it copies one
  return info;
}

}  // namespace ctnn
