// Ensembles of two small nets of different types: the probabilities against a mean of softmaxes
// computed here in double from each member's own logits, an ensemble of one against its member,
// and the saved folder against the ensemble that wrote it and against the wrong architecture.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/eval/ensemble.hpp>
#include <ctnn/io/model_file.hpp>

#include "support/temp_dir.hpp"

using doctest::Approx;
using namespace ctnn;

namespace {

using Image = Shape<1, 6, 6>;
using ConvNet = Net<Conv<3, 3>, Dense<4>>::bind<Image>;
using DenseNet = Net<Dense<7>, Dense<4>>::bind<Image>;
using Pair = Ensemble<ConvNet, DenseNet>;

Dataset random_dataset(std::size_t count, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  Dataset dataset{"random", 1, 6, 6, {}, {}};
  for (std::size_t i = 0; i < count * Image::size; ++i) dataset.images.push_back(pixel(rng));
  for (std::size_t i = 0; i < count; ++i) dataset.labels.push_back(static_cast<std::uint8_t>(rng() % 4));
  return dataset;
}

// Two members with different normalizations, so that using the wrong one would show.
Pair trained_pair() {
  Pair pair(7);
  pair.infos[0].normalization = {.mean = 0.5f, .stddev = 0.25f};
  pair.infos[1].normalization = {.mean = 0.1f, .stddev = 2.0f};
  pair.names = {"conv", "dense"};
  return pair;
}

// softmax(net(normalized image)) in double, from the member's logits alone.
template <class NetType>
std::vector<double> member_softmax(NetType& net, std::span<const float> pixels, Normalization normalization) {
  tensor_of<Image> x;
  for (std::size_t i = 0; i < Image::size; ++i) x[i] = (pixels[i] - normalization.mean) / normalization.stddev;
  const auto& logits = net.forward(x);
  std::vector<double> p(4);
  double sum = 0;
  for (std::size_t c = 0; c < 4; ++c) sum += p[c] = std::exp(static_cast<double>(logits[c]));
  for (double& value : p) value /= sum;
  return p;
}

std::span<const float> image(const Dataset& dataset, std::size_t n) {
  return std::span(dataset.images).subspan(n * Image::size, Image::size);
}

}  // namespace

TEST_CASE("ensemble: probabilities are the mean of the members' softmax, and sum to 1") {
  Pair pair = trained_pair();
  const Dataset data = random_dataset(23, 1);  // 23 images: two full batches of 8 and a short one
  const Evaluation result = evaluate<8>(pair, data);
  REQUIRE(result.probabilities.size() == 23 * 4);
  double loss = 0;
  std::size_t correct = 0;
  for (std::size_t n = 0; n < data.size(); ++n) {
    const std::vector<double> a = member_softmax(pair.member<0>(), image(data, n), pair.infos[0].normalization);
    const std::vector<double> b = member_softmax(pair.member<1>(), image(data, n), pair.infos[1].normalization);
    const std::array<float, 4> single = pair.probabilities(image(data, n));
    double sum = 0;
    for (std::size_t c = 0; c < 4; ++c) {
      const double mean = (a[c] + b[c]) / 2;
      CHECK(result.probabilities[n * 4 + c] == Approx(mean).epsilon(1e-5));
      CHECK(single[c] == Approx(mean).epsilon(1e-5));
      sum += result.probabilities[n * 4 + c];
    }
    CHECK(sum == Approx(1.0).epsilon(1e-5));
    const float* p = result.probabilities.data() + n * 4;
    const auto best = static_cast<std::size_t>(std::max_element(p, p + 4) - p);
    CHECK(result.predictions[n] == best);
    CHECK(pair.predict(image(data, n)) == best);
    correct += best == data.labels[n];
    loss -= std::log((a[data.labels[n]] + b[data.labels[n]]) / 2);
  }
  CHECK(result.accuracy == Approx(static_cast<double>(correct) / 23));
  CHECK(result.loss == Approx(loss / 23).epsilon(1e-5));
}

TEST_CASE("ensemble: an ensemble of one classifies as its member") {
  Ensemble<DenseNet> single(3);
  single.infos[0].normalization = {.mean = 0.2f, .stddev = 0.5f};
  const Dataset data = random_dataset(19, 2);
  Workspace<DenseNet, 8> workspace;
  const Evaluation member = evaluate(single.member<0>(), workspace, data, single.infos[0].normalization);
  const Evaluation ensemble = evaluate<8>(single, data);
  CHECK(ensemble.predictions == member.predictions);
  CHECK(ensemble.accuracy == member.accuracy);
  CHECK(ensemble.loss == Approx(member.loss).epsilon(1e-5));
  for (std::size_t i = 0; i < member.probabilities.size(); ++i)
    CHECK(ensemble.probabilities[i] == member.probabilities[i]);
}

TEST_CASE("ensemble: a saved folder loads back to identical predictions") {
  const test::TempDir folder;
  Pair pair = trained_pair();
  pair.infos[0].class_names = {"a", "b", "c", "d"};
  save_ensemble(pair, folder.path());
  CHECK(std::filesystem::exists(folder / "ensemble.json"));
  CHECK(model_signature(folder / "conv" / "model.safetensors") == ConvNet::signature());
  CHECK(model_signature(folder / "dense" / "model.safetensors") == DenseNet::signature());

  Pair loaded;
  load_ensemble(loaded, folder.path());
  CHECK(loaded.names == pair.names);
  CHECK(loaded.infos[0].class_names == pair.infos[0].class_names);
  CHECK(loaded.infos[1].normalization.stddev == pair.infos[1].normalization.stddev);
  const Dataset data = random_dataset(11, 3);
  const Evaluation before = evaluate<8>(pair, data);
  const Evaluation after = evaluate<8>(loaded, data);
  CHECK(after.predictions == before.predictions);
  CHECK(after.probabilities == before.probabilities);
}

TEST_CASE("ensemble: a folder saved by other architectures or another member count is refused") {
  const test::TempDir folder;
  save_ensemble(trained_pair(), folder.path());

  // Members swapped: the first file holds a ConvNet where a DenseNet is expected.
  Ensemble<DenseNet, ConvNet> swapped(5);
  const Evaluation untouched = evaluate<8>(swapped, random_dataset(5, 4));
  try {
    load_ensemble(swapped, folder.path());
    FAIL("a member saved by another architecture was loaded");
  } catch (const ModelError& error) {
    const std::string message = error.what();
    CHECK(message.find(ConvNet::signature()) != std::string::npos);
    CHECK(message.find(DenseNet::signature()) != std::string::npos);
  }
  CHECK(evaluate<8>(swapped, random_dataset(5, 4)).probabilities == untouched.probabilities);

  Ensemble<ConvNet> one;
  CHECK_THROWS_WITH_AS(load_ensemble(one, folder.path()), doctest::Contains("has 2 members but this program's has 1"),
                       ModelError);

  Pair pair;
  std::ofstream(folder / "ensemble.json") << R"({"format": "ctnn-ensemble", "format_version": 1, "members": [
    {"name": "conv", "file": "../conv/model.safetensors"}, {"name": "dense", "file": "dense/model.safetensors"}]})";
  CHECK_THROWS_WITH_AS(load_ensemble(pair, folder.path()), doctest::Contains("must lie inside the folder"), ModelError);
  std::ofstream(folder / "ensemble.json") << "{\"format\": \"something else\"}";
  CHECK_THROWS_WITH_AS(load_ensemble(pair, folder.path()), doctest::Contains("not a ctnn ensemble manifest"),
                       ModelError);
  const test::TempDir empty;
  CHECK_THROWS_WITH_AS(load_ensemble(pair, empty.path()), doctest::Contains("ensemble.json"), ModelError);
}
