// Quantized model files: a QuantizedNet (quantize/quantized_net.hpp) in a safetensors file.
// Layout, for stage S of the net (a Conv or Dense with what was folded into it; max pooling
// stages have no tensors):
//   input.scale F32 [], input.zero_point I32 []              the input's quantization
//   stages.<S>.weight I8, the float layer's weight shape ((F,C,K,K) or (units, inputs))
//   stages.<S>.weight_scale F32 [F], stages.<S>.bias I32 [F]  (bias in input scale x weight scale)
//   stages.<S>.output_scale F32 [], stages.<S>.output_zero_point I32 []   (all but the logits)
// so real weight = weight_scale[f] * weight, real activation = scale * (code - zero_point).
// The metadata holds format = "ctnn-quantized-model", format_version = "1", the float
// architecture's signature and architecture_hash (as model_file.hpp writes them), "stages" (what
// each stage was made from), "quantization" (the scheme in words), and the ModelInfo entries of
// model_file.hpp (normalization, class names, "extra.<key>").
// Loading checks the format, the architecture (an error names both signatures), every tensor's
// presence, dtype and shape, and that scales are positive and zero points are codes; it reads
// into a copy and only then replaces the net, so a failed load leaves the net as it was.
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/io/model_file.hpp>
#include <ctnn/io/safetensors.hpp>
#include <ctnn/quantize/quantized_net.hpp>

namespace ctnn {

inline constexpr std::string_view quantized_model_format = "ctnn-quantized-model";
inline constexpr std::string_view quantized_model_format_version = "1";
inline constexpr std::string_view quantization_description =
    "int8: per-output-channel symmetric int8 weights, per-tensor asymmetric uint8 activations calibrated on "
    "training images, int32 biases and sums, float logits";

namespace detail {

template <class T>
std::span<const std::byte> bytes_of(const T* data, std::size_t count) {
  return std::as_bytes(std::span<const T>(data, count));
}

// The weight tensor's shape in the file: the float layer's.
template <class NetType, std::size_t S>
std::vector<std::uint64_t> quantized_weight_shape() {
  using Layer = typename NetType::template layer_type<QuantizedNet<NetType>::first_layer(S)>;
  return tensor_shape<std::remove_cvref_t<decltype(std::declval<Layer&>().weight)>>();
}

// Calls f(stage, stage index) for every stage that has tensors.
template <class NetType, class Quantized, class F>
void for_each_weighted_stage(Quantized& net, F&& f) {
  [&]<std::size_t... S>(std::index_sequence<S...>) {
    (
        [&](auto& stage) {
          if constexpr (requires { stage.weight; }) f(stage, std::integral_constant<std::size_t, S>{});
        }(net.template stage<S>()),
        ...);
  }
  (std::make_index_sequence<QuantizedNet<NetType>::stage_count>{});
}

inline std::string stage_prefix(std::size_t stage) { return "stages." + std::to_string(stage) + "."; }

}  // namespace detail

// Saves `net` and `info` to `path`, atomically.
template <class NetType>
void save_quantized(const QuantizedNet<NetType>& net, const std::filesystem::path& path, const ModelInfo& info = {}) {
  using Quantized = QuantizedNet<NetType>;
  std::map<std::string, std::string> metadata;
  metadata["format"] = quantized_model_format;
  metadata["format_version"] = quantized_model_format_version;
  metadata["signature"] = NetType::signature();
  metadata["architecture_hash"] = detail::hash_text(NetType::architecture_hash());
  metadata["quantization"] = quantization_description;
  std::string stages;
  for (std::size_t s = 0; s < Quantized::stage_count; ++s) stages += (s ? " | " : "") + Quantized::stage_label(s);
  metadata["stages"] = stages;
  detail::write_model_info(metadata, info, path);

  std::vector<TensorToWrite> tensors;
  const ActivationQuantization& input = net.input_quantization();
  tensors.push_back({"input.scale", "F32", {}, detail::bytes_of(&input.scale, 1)});
  tensors.push_back({"input.zero_point", "I32", {}, detail::bytes_of(&input.zero_point, 1)});
  detail::for_each_weighted_stage<NetType>(net, [&](const auto& stage, auto index) {
    constexpr std::size_t S = decltype(index)::value;
    using Stage = std::remove_cvref_t<decltype(stage)>;
    const std::string prefix = detail::stage_prefix(S);
    const std::uint64_t outputs = stage.bias.size();
    tensors.push_back({prefix + "weight", "I8", detail::quantized_weight_shape<NetType, S>(),
                       detail::bytes_of(stage.weight.data(), stage.weight.size())});
    tensors.push_back(
        {prefix + "weight_scale", "F32", {outputs}, detail::bytes_of(stage.weight_scale.data(), outputs)});
    tensors.push_back({prefix + "bias", "I32", {outputs}, detail::bytes_of(stage.bias.data(), outputs)});
    if constexpr (!Stage::float_output) {
      tensors.push_back({prefix + "output_scale", "F32", {}, detail::bytes_of(&stage.output.scale, 1)});
      tensors.push_back({prefix + "output_zero_point", "I32", {}, detail::bytes_of(&stage.output.zero_point, 1)});
    }
  });
  write_safetensors(path, tensors, metadata);
}

// Loads a file saved by save_quantized for the same float architecture into `net` (prepared, ready
// to run) and returns its ModelInfo. Throws SafetensorsError for a damaged file and ModelError
// for one that does not fit `net` (a float model file, another architecture, missing or
// misshapen tensors, a scale that is not positive); either way `net` is left unchanged.
template <class NetType>
ModelInfo load_quantized(QuantizedNet<NetType>& net, const std::filesystem::path& path) {
  const SafetensorsFile file = SafetensorsFile::read(path);
  const std::string& source = file.source();
  const std::string& format = detail::require_metadata(file, "format");
  if (format == model_format)
    throw ModelError(source + ": a float model (format \"" + std::string(model_format) +
                     "\"), not a quantized one: quantize it first (examples/quantize)");
  if (format != quantized_model_format)
    throw ModelError(source + ": not a ctnn quantized model file: its metadata format is " +
                     detail::json_quoted(format) + ", expected \"" + std::string(quantized_model_format) + "\"");
  const std::string& version = detail::require_metadata(file, "format_version");
  if (version != quantized_model_format_version)
    throw ModelError(source + ": quantized model format_version " + detail::json_quoted(version) +
                     " is not supported; this program reads version " + std::string(quantized_model_format_version));
  const std::string& saved_signature = detail::require_metadata(file, "signature");
  const std::string& saved_hash = detail::require_metadata(file, "architecture_hash");
  if (saved_signature != NetType::signature() || saved_hash != detail::hash_text(NetType::architecture_hash()))
    throw ModelError(
        "quantized model file " + source + " was made from `" + saved_signature + "` but this program's network is `" +
        NetType::signature() + "`" +
        (saved_signature == NetType::signature() ? " (the architecture_hash differs: damaged metadata)" : ""));

  const ModelInfo info = detail::parse_model_info(file);

  std::set<std::string> expected;
  const auto read = [&](const std::string& name, std::string_view dtype, const std::vector<std::uint64_t>& shape,
                        void* destination) {
    const std::string what = source + ": tensor " + detail::json_quoted(name);
    if (!file.contains(name))
      throw ModelError(what + " is missing (expected " + std::string(dtype) + " " + detail::shape_text(shape) + ")");
    const TensorEntry& entry = file.at(name);
    if (entry.dtype != dtype) throw ModelError(what + " has dtype " + entry.dtype + ", expected " + std::string(dtype));
    if (entry.shape != shape)
      throw ModelError(what + " has shape " + detail::shape_text(entry.shape) + ", expected " +
                       detail::shape_text(shape));
    std::memcpy(destination, entry.bytes.data(), entry.bytes.size());
    expected.insert(name);
  };
  const auto check_quantization = [&](const std::string& name, const ActivationQuantization& quantization) {
    if (!(quantization.scale > 0) || !std::isfinite(quantization.scale))
      throw ModelError(source + ": " + name + ".scale is " + std::to_string(quantization.scale) +
                       ", not a positive number");
    if (quantization.zero_point < 0 || quantization.zero_point > 255)
      throw ModelError(source + ": " + name + ".zero_point is " + std::to_string(quantization.zero_point) +
                       ", not a code in 0..255");
  };

  QuantizedNet<NetType> loaded;
  read("input.scale", "F32", {}, &loaded.input_quantization().scale);
  read("input.zero_point", "I32", {}, &loaded.input_quantization().zero_point);
  check_quantization("input", loaded.input_quantization());
  detail::for_each_weighted_stage<NetType>(loaded, [&](auto& stage, auto index) {
    constexpr std::size_t S = decltype(index)::value;
    using Stage = std::remove_cvref_t<decltype(stage)>;
    const std::string prefix = detail::stage_prefix(S);
    const std::uint64_t outputs = stage.bias.size();
    read(prefix + "weight", "I8", detail::quantized_weight_shape<NetType, S>(), stage.weight.data());
    read(prefix + "weight_scale", "F32", {outputs}, stage.weight_scale.data());
    read(prefix + "bias", "I32", {outputs}, stage.bias.data());
    for (std::size_t f = 0; f < outputs; ++f)
      if (!(stage.weight_scale[f] > 0) || !std::isfinite(stage.weight_scale[f]))
        throw ModelError(source + ": " + prefix + "weight_scale[" + std::to_string(f) + "] is " +
                         std::to_string(stage.weight_scale[f]) + ", not a positive number");
    if constexpr (!Stage::float_output) {
      read(prefix + "output_scale", "F32", {}, &stage.output.scale);
      read(prefix + "output_zero_point", "I32", {}, &stage.output.zero_point);
      check_quantization(prefix + "output", stage.output);
    }
  });
  for (const std::string& name : file.names())
    if (!expected.contains(name))
      throw ModelError(source + ": unexpected tensor " + detail::json_quoted(name) +
                       ": this program's quantized network has no such tensor");
  loaded.prepare();
  net = std::move(loaded);
  return info;
}

}  // namespace ctnn
