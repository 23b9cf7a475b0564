// io/quantized_model_file.hpp: a quantized net saved and loaded gives bit-identical outputs;
// the file holds I8 weights, I32 biases and F32 scales under the documented names, as any
// safetensors reader sees them; a float model, another architecture and damaged files (a missing,
// misshapen, mistyped or extra tensor, a scale that is not positive, a zero point that is not a
// code, a truncated file) are refused with a message naming the problem, the net unchanged.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/io/quantized_model_file.hpp>
#include <ctnn/quantize/calibration.hpp>

#include "support/temp_dir.hpp"

using namespace ctnn;

namespace {

using SmallNet = Net<Input<1, 8, 8>, Conv<3, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<5>, Dense<3>>;
using OtherNet = Net<Input<1, 8, 8>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<5>, Dense<3>>;
using Image = tensor_of<SmallNet::in_shape>;
using Logits = tensor_of<SmallNet::out_shape>;

std::vector<Image> random_images(std::size_t count, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<Image> images(count);
  for (auto& image : images)
    for (std::size_t i = 0; i < image.size; ++i) image[i] = rng.uniform(-0.5f, 2.5f);
  return images;
}

QuantizedNet<SmallNet> quantized_net(std::uint64_t seed) {
  const SmallNet net(seed);
  const auto images = random_images(64, seed + 1);
  return quantize(net, calibrate(net, std::span<const Image>(images)));
}

std::vector<Logits> outputs(const QuantizedNet<SmallNet>& net, const std::vector<Image>& images) {
  std::vector<Logits> logits(images.size());
  net.forward(std::span<const Image>(images), std::span(logits));
  return logits;
}

// The message load_quantized throws, or "" when it loads.
template <class NetType>
std::string refusal(QuantizedNet<NetType>& net, const std::filesystem::path& path) {
  try {
    load_quantized(net, path);
  } catch (const SafetensorsError& error) {
    return error.what();
  }
  return "";
}

// Rewrites `from` into `to` with edit(tensors, metadata) applied to what it holds.
void rewrite(const std::filesystem::path& from, const std::filesystem::path& to,
             const std::function<void(std::vector<TensorToWrite>&, std::map<std::string, std::string>&,
                                      std::vector<std::vector<std::byte>>&)>& edit) {
  const SafetensorsFile file = SafetensorsFile::read(from);
  std::vector<TensorToWrite> tensors;
  for (const std::string& name : file.names()) {
    const TensorEntry& entry = file.at(name);
    tensors.push_back({name, entry.dtype, entry.shape, entry.bytes});
  }
  std::map<std::string, std::string> metadata = file.metadata();
  std::vector<std::vector<std::byte>> storage;
  storage.reserve(8);
  edit(tensors, metadata, storage);
  write_safetensors(to, tensors, metadata);
}

TensorToWrite& tensor_named(std::vector<TensorToWrite>& tensors, const std::string& name) {
  for (auto& tensor : tensors)
    if (tensor.name == name) return tensor;
  FAIL("no tensor " << name);
  return tensors.front();
}

#define CHECK_CONTAINS(text, part)                                         \
  do {                                                                     \
    const std::string check_text = (text);                                 \
    CHECK_MESSAGE(check_text.find(part) != std::string::npos, check_text); \
  } while (0)

}  // namespace

TEST_CASE("quantized model file: save and load give bit-identical outputs and the same information") {
  const test::TempDir dir;
  const QuantizedNet<SmallNet> original = quantized_net(3);
  ModelInfo info;
  info.normalization = {0.1307f, 0.3081f};
  info.class_names = {"a", "b", "c"};
  info.extra["calibration"] = "64 images";
  save_quantized(original, dir / "model.safetensors", info);

  QuantizedNet<SmallNet> loaded;
  const ModelInfo loaded_info = load_quantized(loaded, dir / "model.safetensors");
  const auto images = random_images(40, 9);
  CHECK(outputs(loaded, images) == outputs(original, images));
  CHECK(loaded_info.normalization.mean == info.normalization.mean);
  CHECK(loaded_info.normalization.stddev == info.normalization.stddev);
  CHECK(loaded_info.class_names == info.class_names);
  CHECK(loaded_info.extra == info.extra);
}

TEST_CASE("quantized model file: I8 weights, I32 biases, F32 scales and the float signature") {
  const test::TempDir dir;
  const QuantizedNet<SmallNet> net = quantized_net(5);
  save_quantized(net, dir / "model.safetensors");
  const SafetensorsFile file = SafetensorsFile::read(dir / "model.safetensors");
  CHECK(file.metadata().at("format") == "ctnn-quantized-model");
  CHECK(file.metadata().at("signature") == SmallNet::signature());
  CHECK(file.metadata().at("stages") == "Conv<3, 3> + BatchNorm + ReLU + MaxPool<2> | Dense<5> + ReLU | Dense<3>");
  const std::vector<std::string> names{"input.scale",
                                       "input.zero_point",
                                       "stages.0.weight",
                                       "stages.0.weight_scale",
                                       "stages.0.bias",
                                       "stages.0.output_scale",
                                       "stages.0.output_zero_point",
                                       "stages.1.weight",
                                       "stages.1.weight_scale",
                                       "stages.1.bias",
                                       "stages.1.output_scale",
                                       "stages.1.output_zero_point",
                                       "stages.2.weight",
                                       "stages.2.weight_scale",
                                       "stages.2.bias"};
  CHECK(file.names() == names);
  CHECK(file.at("stages.0.weight").dtype == "I8");
  CHECK(file.at("stages.0.weight").shape == std::vector<std::uint64_t>{3, 1, 3, 3});
  CHECK(file.at("stages.1.weight").shape == std::vector<std::uint64_t>{5, 27});
  CHECK(file.at("stages.2.bias").dtype == "I32");
  CHECK(file.at("stages.2.weight_scale").dtype == "F32");
  CHECK(file.at("input.zero_point").shape.empty());
  std::vector<std::int8_t> codes(27);
  std::memcpy(codes.data(), file.at("stages.0.weight").bytes.data(), codes.size());
  CHECK(codes == std::vector<std::int8_t>(net.stage<0>().weight.begin(), net.stage<0>().weight.end()));
}

TEST_CASE("quantized model file: a float model and another architecture are refused, naming why") {
  const test::TempDir dir;
  save_model(SmallNet(5), dir / "float.safetensors");
  QuantizedNet<SmallNet> net = quantized_net(7);
  const auto images = random_images(10, 11);
  const auto before = outputs(net, images);
  CHECK_CONTAINS(refusal(net, dir / "float.safetensors"), "a float model (format \"ctnn-model\"), not a quantized one");
  save_quantized(net, dir / "small.safetensors");
  QuantizedNet<OtherNet> other;
  const std::string message = refusal(other, dir / "small.safetensors");
  CHECK_CONTAINS(message, "was made from `" + SmallNet::signature() + "`");
  CHECK_CONTAINS(message, "this program's network is `" + OtherNet::signature() + "`");
  CHECK(outputs(net, images) == before);
}

TEST_CASE("quantized model file: a damaged file is refused, naming the problem, and the net is unchanged") {
  const test::TempDir dir;
  const auto good = dir / "good.safetensors", bad = dir / "bad.safetensors";
  save_quantized(quantized_net(13), good);
  QuantizedNet<SmallNet> net = quantized_net(17);
  const auto images = random_images(10, 19);
  const auto before = outputs(net, images);
  using Tensors = std::vector<TensorToWrite>;
  using Metadata = std::map<std::string, std::string>;
  using Storage = std::vector<std::vector<std::byte>>;
  const auto replace_bytes = [](TensorToWrite& tensor, Storage& storage, const auto& value) {
    storage.emplace_back(sizeof value);
    std::memcpy(storage.back().data(), &value, sizeof value);
    tensor.bytes = storage.back();
  };
  const auto refused = [&](auto edit) {
    rewrite(good, bad, edit);
    return refusal(net, bad);
  };

  CHECK_CONTAINS(refused([](Tensors& tensors, Metadata&, Storage&) {
                   std::erase_if(tensors, [](const TensorToWrite& t) { return t.name == "stages.1.bias"; });
                 }),
                 "tensor \"stages.1.bias\" is missing (expected I32 [5])");
  CHECK_CONTAINS(refused([](Tensors& tensors, Metadata&, Storage&) {
                   auto& weight = tensor_named(tensors, "stages.0.weight");
                   weight.dtype = "U8";
                 }),
                 "tensor \"stages.0.weight\" has dtype U8, expected I8");
  CHECK_CONTAINS(refused([](Tensors& tensors, Metadata&, Storage&) {
                   auto& weight = tensor_named(tensors, "stages.1.weight");
                   weight.shape = {27, 5};
                 }),
                 "tensor \"stages.1.weight\" has shape [27, 5], expected [5, 27]");
  CHECK_CONTAINS(refused([&](Tensors& tensors, Metadata&, Storage& storage) {
                   replace_bytes(tensor_named(tensors, "stages.0.output_scale"), storage, -1.0f);
                 }),
                 "stages.0.output.scale is -1.000000, not a positive number");
  CHECK_CONTAINS(refused([&](Tensors& tensors, Metadata&, Storage& storage) {
                   replace_bytes(tensor_named(tensors, "stages.2.weight_scale"), storage,
                                 std::array<float, 3>{1.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f});
                 }),
                 "stages.2.weight_scale[1] is nan, not a positive number");
  CHECK_CONTAINS(refused([&](Tensors& tensors, Metadata&, Storage& storage) {
                   replace_bytes(tensor_named(tensors, "input.zero_point"), storage, std::int32_t{300});
                 }),
                 "input.zero_point is 300, not a code in 0..255");
  CHECK_CONTAINS(refused([&](Tensors& tensors, Metadata&, Storage& storage) {
                   storage.emplace_back(4);
                   tensors.push_back({"stages.3.weight", "I8", {4}, storage.back()});
                 }),
                 "unexpected tensor \"stages.3.weight\"");
  CHECK_CONTAINS(refused([](Tensors&, Metadata& metadata, Storage&) { metadata["format_version"] = "2"; }),
                 "quantized model format_version \"2\" is not supported");
  CHECK_CONTAINS(refused([](Tensors&, Metadata& metadata, Storage&) { metadata["format"] = "other"; }),
                 "not a ctnn quantized model file");

  const SafetensorsFile file = SafetensorsFile::read(good);
  std::vector<TensorToWrite> tensors;
  for (const auto& name : file.names())
    tensors.push_back({name, file.at(name).dtype, file.at(name).shape, file.at(name).bytes});
  std::vector<std::byte> truncated = serialize_safetensors(tensors, file.metadata());
  truncated.resize(truncated.size() - 3);
  write_file_atomically(bad, truncated);
  CHECK_CONTAINS(refusal(net, bad), "run past the end of the data buffer");
  CHECK_CONTAINS(refusal(net, dir / "missing.safetensors"), "cannot open");
  CHECK(outputs(net, images) == before);
}
