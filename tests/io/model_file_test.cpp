// Model files: a Net with BatchNorm saved and loaded bit for bit, its ModelInfo, and every way a
// file can fail to fit the network, each leaving the network unchanged.
#include <doctest/doctest.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/model_file.hpp>

#include "support/temp_dir.hpp"

using ctnn::ModelError;
using ctnn::ModelInfo;
using ctnn::SafetensorsError;
using ctnn::SafetensorsFile;
using ctnn::TensorToWrite;
using doctest::Contains;

namespace {

// Conv (0) feeds BatchNorm (1), so it is linear; then ReLU (2), MaxPool (3) and Dense (4).
using Small =
    ctnn::Net<ctnn::Input<1, 6, 6>, ctnn::Conv<2, 3>, ctnn::BatchNorm<>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Dense<3>>;
// The same layers with one more filter.
using Wider =
    ctnn::Net<ctnn::Input<1, 6, 6>, ctnn::Conv<3, 3>, ctnn::BatchNorm<>, ctnn::ReLU, ctnn::MaxPool<2>, ctnn::Dense<3>>;

using ScratchDir = ctnn::test::TempDir;

// Every parameter and state value of a net, as bits.
template <class NetType>
std::vector<std::uint32_t> bits_of(const NetType& net) {
  std::vector<std::uint32_t> bits;
  ctnn::for_each_tensor(
      [&](const auto& tensor) {
        for (std::size_t i = 0; i < tensor.size; ++i) bits.push_back(std::bit_cast<std::uint32_t>(tensor[i]));
      },
      net.parameters());
  return bits;
}

// Running statistics that differ from init's, plus values a text format would lose: -0, a
// denormal, a NaN with a payload.
Small trained_net() {
  Small net(7);
  auto& norm = net.layer<1>();
  norm.running_mean[0] = 0.125f;
  norm.running_mean[1] = -3.0f;
  norm.running_variance[0] = 0.0625f;
  norm.running_variance[1] = 1.0f / 3.0f;
  norm.gamma[1] = -0.0f;
  norm.beta[0] = std::numeric_limits<float>::denorm_min();
  net.layer<4>().bias[2] = std::bit_cast<float>(std::uint32_t{0x7FC01234});
  return net;
}

// Rewrites a model file's tensors and metadata through `edit`, keeping the rest.
template <class Edit>
void rewrite(const std::filesystem::path& from, const std::filesystem::path& to, Edit edit) {
  const SafetensorsFile file = SafetensorsFile::read(from);
  std::vector<TensorToWrite> tensors;
  for (const auto& name : file.names()) {
    const auto& entry = file.at(name);
    tensors.push_back({name, entry.dtype, entry.shape, entry.bytes});
  }
  std::map<std::string, std::string> metadata = file.metadata();
  edit(tensors, metadata);
  ctnn::write_safetensors(to, tensors, metadata);
}

std::string load_error(Small& net, const std::filesystem::path& path) {
  try {
    ctnn::load_model(net, path);
  } catch (const SafetensorsError& error) {
    return error.what();
  }
  return "";
}

#define CHECK_CONTAINS(text, part)                                         \
  do {                                                                     \
    const std::string check_text = (text);                                 \
    CHECK_MESSAGE(check_text.find(part) != std::string::npos, check_text); \
  } while (0)

}  // namespace

TEST_CASE("model file: a net with BatchNorm round trips bit for bit") {
  const ScratchDir dir;
  const Small saved = trained_net();
  ctnn::save_model(saved, dir / "small.safetensors");

  Small loaded(99);
  REQUIRE(bits_of(loaded) != bits_of(saved));
  const ModelInfo info = ctnn::load_model(loaded, dir / "small.safetensors");
  CHECK(bits_of(loaded) == bits_of(saved));
  CHECK(loaded.layer<1>().running_variance[1] == 1.0f / 3.0f);
  CHECK(std::signbit(loaded.layer<1>().gamma[1]));

  ctnn::tensor_of<Small::in_shape> image;
  for (std::size_t i = 0; i < image.size; ++i) image[i] = static_cast<float>(i % 7) / 7.0f;
  Small reference = trained_net();
  reference.layer<4>().bias[2] = 0.5f;  // a NaN logit compares unequal to itself
  loaded.layer<4>().bias[2] = 0.5f;
  CHECK(loaded.forward(image) == reference.forward(image));

  CHECK(info.normalization.mean == 0.0f);
  CHECK(info.normalization.stddev == 1.0f);
  CHECK(info.class_names.empty());
  CHECK(info.extra.empty());
}

TEST_CASE("model file: tensor names, shapes and metadata as other tools see them") {
  const ScratchDir dir;
  ctnn::save_model(trained_net(), dir / "small.safetensors");
  const SafetensorsFile file = SafetensorsFile::read(dir / "small.safetensors");
  CHECK(file.names() == std::vector<std::string>{"layers.0.param0", "layers.0.param1", "layers.1.param0",
                                                 "layers.1.param1", "layers.1.state0", "layers.1.state1",
                                                 "layers.4.param0", "layers.4.param1"});
  CHECK(file.at("layers.0.param0").shape == std::vector<std::uint64_t>{2, 1, 3, 3});
  CHECK(file.at("layers.1.state0").shape == std::vector<std::uint64_t>{2});
  CHECK(file.at("layers.4.param0").shape == std::vector<std::uint64_t>{3, 8});
  for (const auto& name : file.names()) CHECK(file.at(name).dtype == "F32");
  float mean = 0;
  std::memcpy(&mean, file.at("layers.1.state0").bytes.data(), sizeof mean);
  CHECK(mean == 0.125f);

  const auto& metadata = file.metadata();
  CHECK(metadata.at("format") == "ctnn-model");
  CHECK(metadata.at("format_version") == "1");
  CHECK(metadata.at("signature") == Small::signature());
  CHECK(metadata.at("signature") == "Input<1, 6, 6> | Conv<2, 3> | BatchNorm | ReLU | MaxPool<2> | Dense<3>");
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(Small::architecture_hash()));
  CHECK(metadata.at("architecture_hash") == hash);
  CHECK(metadata.at("class_names") == "[]");
}

TEST_CASE("model file: normalization, class names and extra text round trip") {
  const ScratchDir dir;
  ModelInfo info;
  info.normalization = {0.1307f, 0.3081f};
  info.class_names = {"zero", "one \"1\"", "\xC3\xA9t\xC3\xA9", ""};
  info.extra = {{"epochs", "12"}, {"dataset", "MNIST"}};
  ctnn::save_model(trained_net(), dir / "small.safetensors", info);

  const SafetensorsFile file = SafetensorsFile::read(dir / "small.safetensors");
  const auto& metadata = file.metadata();
  CHECK(metadata.at("normalization_mean") == "0.1307");
  CHECK(metadata.at("normalization_stddev") == "0.3081");
  CHECK(metadata.at("extra.epochs") == "12");

  Small net;
  const ModelInfo loaded = ctnn::load_model(net, dir / "small.safetensors");
  CHECK(loaded.normalization.mean == info.normalization.mean);
  CHECK(loaded.normalization.stddev == info.normalization.stddev);
  CHECK(loaded.class_names == info.class_names);
  CHECK(loaded.extra == info.extra);

  // Floats whose shortest text is long still read back exactly.
  for (const float value : {1.0f / 3.0f, std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::max(),
                            -1e-7f, 16777217.0f}) {
    info.normalization = {value, -value};
    ctnn::save_model(net, dir / "value.safetensors", info);
    const ModelInfo back = ctnn::load_model(net, dir / "value.safetensors");
    CHECK(std::bit_cast<std::uint32_t>(back.normalization.mean) == std::bit_cast<std::uint32_t>(value));
    CHECK(std::bit_cast<std::uint32_t>(back.normalization.stddev) == std::bit_cast<std::uint32_t>(-value));
  }
}

TEST_CASE("model file: another architecture is refused, naming both signatures") {
  const ScratchDir dir;
  ctnn::save_model(trained_net(), dir / "small.safetensors");
  Wider wider(3);
  const auto before = bits_of(wider);
  const std::string expected = "model file " + (dir / "small.safetensors").string() +
                               " was saved by `Input<1, 6, 6> | Conv<2, 3> | BatchNorm | ReLU | MaxPool<2> | "
                               "Dense<3>` but this program's network is `Input<1, 6, 6> | Conv<3, 3> | BatchNorm | "
                               "ReLU | MaxPool<2> | Dense<3>`";
  CHECK_THROWS_WITH_AS(ctnn::load_model(wider, dir / "small.safetensors"), expected.c_str(), ModelError);
  CHECK(bits_of(wider) == before);

  // Same signature, edited hash: still refused, and the message says which part disagrees.
  rewrite(dir / "small.safetensors", dir / "edited.safetensors",
          [](auto&, auto& metadata) { metadata["architecture_hash"] = "0000000000000000"; });
  Small net(5);
  CHECK_CONTAINS(load_error(net, dir / "edited.safetensors"),
                 "(the signatures agree but the file's architecture_hash is \"0000000000000000\"");
}

TEST_CASE("model file: a damaged or foreign file is refused and the net is unchanged") {
  const ScratchDir dir;
  const auto path = dir / "small.safetensors";
  ctnn::save_model(trained_net(), path);
  Small net(11);
  const auto before = bits_of(net);

  SUBCASE("truncated") {
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    in.close();
    const auto truncated = dir / "truncated.safetensors";
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 4));
    CHECK_CONTAINS(load_error(net, truncated), truncated.string() + ": tensor \"layers.4.param1\": data_offsets [");
    std::ofstream(truncated, std::ios::binary).write(bytes.data(), 100);
    CHECK_CONTAINS(load_error(net, truncated), truncated.string() + ": truncated file: the header length is");
  }
  SUBCASE("missing file") {
    CHECK_CONTAINS(load_error(net, dir / "none.safetensors"), "none.safetensors: cannot open");
  }
  SUBCASE("not a ctnn model") {
    rewrite(path, path, [](auto&, auto& metadata) { metadata.erase("format"); });
    CHECK(load_error(net, path) == path.string() + ": the metadata has no \"format\" entry");
    rewrite(path, path, [](auto&, auto& metadata) { metadata["format"] = "pt"; });
    CHECK(load_error(net, path) ==
          path.string() + ": not a ctnn model file: its metadata format is \"pt\", expected \"ctnn-model\"");
  }
  SUBCASE("a newer format version") {
    rewrite(path, path, [](auto&, auto& metadata) { metadata["format_version"] = "2"; });
    CHECK(load_error(net, path) ==
          path.string() + ": ctnn model format_version \"2\" is not supported; this program reads version 1");
  }
  SUBCASE("no signature") {
    rewrite(path, path, [](auto&, auto& metadata) { metadata.erase("signature"); });
    CHECK(load_error(net, path) == path.string() + ": the metadata has no \"signature\" entry");
  }
  SUBCASE("bad normalization or class names") {
    rewrite(path, path, [](auto&, auto& metadata) { metadata["normalization_stddev"] = "0.3 "; });
    CHECK(load_error(net, path) == path.string() + ": metadata normalization_stddev is \"0.3 \", not a number");
    rewrite(path, path, [](auto&, auto& metadata) {
      metadata["normalization_stddev"] = "0.3";
      metadata["class_names"] = "[\"a\", 2]";
    });
    CHECK(load_error(net, path) == path.string() + ": metadata class_names is not a JSON array of strings");
  }
  // The last tensor is the one at fault, so a loader that copied as it checked would be caught.
  SUBCASE("a missing tensor") {
    rewrite(path, path, [](auto& tensors, auto&) { tensors.pop_back(); });
    CHECK(load_error(net, path) ==
          path.string() + ": tensor \"layers.4.param1\" of layer 4 (Dense<3>) is missing (expected F32 [3])");
  }
  SUBCASE("a tensor of another dtype") {
    rewrite(path, path, [](auto& tensors, auto&) { tensors.back().dtype = "I32"; });
    CHECK(load_error(net, path) ==
          path.string() + ": tensor \"layers.4.param1\" of layer 4 (Dense<3>) has dtype I32, expected F32");
  }
  SUBCASE("a tensor of another shape") {
    rewrite(path, path, [](auto& tensors, auto&) { tensors.back().shape = {3, 1}; });
    CHECK(load_error(net, path) ==
          path.string() + ": tensor \"layers.4.param1\" of layer 4 (Dense<3>) has shape [3, 1], expected [3]");
  }
  SUBCASE("an unknown tensor") {
    static const float value = 1.0f;
    const auto one = std::as_bytes(std::span<const float>(&value, 1));
    rewrite(path, path, [&](auto& tensors, auto&) { tensors.push_back({"layers.5.param0", "F32", {1}, one}); });
    CHECK(load_error(net, path) ==
          path.string() + ": unexpected tensor \"layers.5.param0\": this program's network has no such tensor");
    rewrite(path, path, [&](auto& tensors, auto&) {
      tensors.pop_back();
      tensors.push_back({"optimizer.step", "F32", {1}, one});
    });
    CHECK(load_error(net, path) ==
          path.string() + ": unexpected tensor \"optimizer.step\": a model file holds only \"layers.*\" tensors");
  }
  CHECK(bits_of(net) == before);
}

TEST_CASE("model file: append_tensors and read_tensors keep several sets apart (checkpoints)") {
  const ScratchDir dir;
  const Small model = trained_net();
  Small moments(21);  // stands in for an optimizer's moments: same layers, other values
  std::vector<TensorToWrite> tensors;
  ctnn::append_tensors(tensors, "model", model.parameters());
  ctnn::append_tensors(tensors, "adam.m", moments.parameters());
  CHECK(tensors.front().name == "model.0.param0");
  CHECK(tensors.back().name == "adam.m.4.param1");
  ctnn::write_safetensors(dir / "checkpoint.safetensors", tensors, {{"step", "1000"}});

  const SafetensorsFile file = SafetensorsFile::read(dir / "checkpoint.safetensors");
  Small model_back(1), moments_back(2);
  ctnn::read_tensors(file, "model", model_back.parameters());
  ctnn::read_tensors(file, "adam.m", moments_back.parameters());
  CHECK(bits_of(model_back) == bits_of(model));
  CHECK(bits_of(moments_back) == bits_of(moments));

  // A prefix with nothing under it, and a layers tuple of another architecture, are refused.
  Small untouched(3);
  const auto before = bits_of(untouched);
  CHECK_THROWS_WITH_AS(ctnn::read_tensors(file, "adam.v", untouched.parameters()),
                       Contains("tensor \"adam.v.0.param0\" of layer 0 (Conv<2, 3>) is missing"), ModelError);
  Wider wider;
  CHECK_THROWS_WITH_AS(ctnn::read_tensors(file, "model", wider.parameters()),
                       Contains("tensor \"model.0.param0\" of layer 0 (Conv<3, 3>) has shape [2, 1, 3, 3], expected "
                                "[3, 1, 3, 3]"),
                       ModelError);
  CHECK(bits_of(untouched) == before);
}
