// Magnitude pruning: exactly round(s * n) weights are pruned, per layer or over the whole net, and
// they are the smallest (every kept weight is at least as large as every pruned one, checked
// against the weights before pruning); ties go by position; biases and BatchNorm are untouched;
// pruned weights stay exactly zero through Trainer fine-tuning while the others learn; the sparsity
// report and Zhu & Gupta's schedule match their closed forms.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/train/pruning.hpp>
#include <ctnn/train/trainer.hpp>

#include "support/bar_dataset.hpp"

namespace {
using namespace ctnn;

using Small = Net<Input<1, 8, 8>, Conv<4, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<12>, Dense<4>>;
constexpr std::size_t conv = 0, norm = 1, hidden = 4, logits = 5;  // positions in Small::layers

template <class Tensor>
bool same_bits(const Tensor& a, const Tensor& b) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * Tensor::size) == 0;
}

// Every weight of the prunable layers, before and after, with its flag: the view the checks use.
struct Entry {
  float before, after, flag;
};
template <std::size_t... Layers>
std::vector<Entry> entries(const Small& before, const Small& after, const UpdateMask<Small>& mask) {
  std::vector<Entry> all;
  (
      [&] {
        const auto& weight = after.layer<Layers>().weight;
        for (std::size_t i = 0; i < weight.size; ++i)
          all.push_back({before.layer<Layers>().weight[i], weight[i], std::get<Layers>(mask.flags()).weight[i]});
      }(),
      ...);
  return all;
}

// Exactly `expected` of the entries are pruned (zero and fixed), every other one is unchanged and
// trainable, and no kept weight is smaller in magnitude than a pruned one was.
void check_pruned(const std::vector<Entry>& all, std::size_t expected) {
  std::size_t pruned = 0;
  float largest_pruned = 0, smallest_kept = INFINITY;
  for (const Entry& entry : all) {
    if (entry.flag == 0.0f) {
      ++pruned;
      CHECK(entry.after == 0.0f);
      largest_pruned = std::max(largest_pruned, std::abs(entry.before));
    } else {
      CHECK(entry.flag == 1.0f);
      CHECK(entry.after == entry.before);
      smallest_kept = std::min(smallest_kept, std::abs(entry.before));
    }
  }
  CHECK(pruned == expected);
  CHECK(largest_pruned <= smallest_kept);
}

std::size_t rounded(double sparsity, std::size_t count) {
  return static_cast<std::size_t>(std::floor(sparsity * static_cast<double>(count) + 0.5));
}

using ctnn::test::bars;  // tests/support/bar_dataset.hpp

}  // namespace

TEST_CASE("pruning per layer prunes round(s n) of each layer's weights, the smallest, and nothing else") {
  for (const double sparsity : {0.0, 0.5, 0.75, 0.9, 1.0}) {
    CAPTURE(sparsity);
    const auto before = std::make_unique<Small>(1);
    auto net = std::make_unique<Small>(*before);
    UpdateMask<Small> mask;
    prune_by_magnitude(*net, mask, sparsity, PruningScope::per_layer);

    check_pruned(entries<conv>(*before, *net, mask), rounded(sparsity, 36));
    check_pruned(entries<hidden>(*before, *net, mask), rounded(sparsity, 12 * 36));
    check_pruned(entries<logits>(*before, *net, mask), rounded(sparsity, 4 * 12));
    CHECK(mask.fixed_count() == rounded(sparsity, 36) + rounded(sparsity, 432) + rounded(sparsity, 48));
    CHECK(same_bits(net->layer<conv>().bias, before->layer<conv>().bias));
    CHECK(same_bits(net->layer<hidden>().bias, before->layer<hidden>().bias));
    CHECK(same_bits(net->layer<norm>().gamma, before->layer<norm>().gamma));
    CHECK(same_bits(net->layer<norm>().beta, before->layer<norm>().beta));
  }
}

TEST_CASE("global pruning prunes round(s n) of all the weights together, the smallest wherever they are") {
  for (const double sparsity : {0.5, 0.75, 0.9}) {
    CAPTURE(sparsity);
    const auto before = std::make_unique<Small>(2);
    auto net = std::make_unique<Small>(*before);
    // Scale the layers apart, so that the global choice differs from the per-layer one.
    for (float& w : net->layer<hidden>().weight.span()) w *= 0.1f;
    *before = *net;
    UpdateMask<Small> mask;
    prune_by_magnitude(*net, mask, sparsity, PruningScope::global);

    check_pruned(entries<conv, hidden, logits>(*before, *net, mask), rounded(sparsity, 36 + 432 + 48));
    const auto layers = weight_sparsity(*net);
    REQUIRE(layers.size() == 3);
    CHECK(layers[1].sparsity() > sparsity);  // the small layer loses more than its share
    CHECK(same_bits(net->layer<logits>().bias, before->layer<logits>().bias));
  }
}

TEST_CASE("ties are pruned in order of position, and pruning again keeps what was pruned") {
  auto net = std::make_unique<Small>(3);
  auto& weight = net->layer<logits>().weight;
  for (std::size_t i = 0; i < weight.size; ++i) weight[i] = i % 2 ? 0.5f : -0.5f;  // all the same magnitude
  UpdateMask<Small> mask;
  prune_by_magnitude(*net, mask, 0.25, PruningScope::per_layer);
  for (std::size_t i = 0; i < weight.size; ++i) CHECK((weight[i] == 0.0f) == (i < 12));

  // A pruned weight comes first however small the others: the next 12 by position join it.
  weight[47] = 0.25f;
  prune_by_magnitude(*net, mask, 0.5, PruningScope::per_layer);
  for (std::size_t i = 0; i < weight.size; ++i) CHECK((weight[i] == 0.0f) == (i < 23 || i == 47));
  // A lower target revives nothing.
  prune_by_magnitude(*net, mask, 0.1, PruningScope::per_layer);
  CHECK(weight_sparsity(*net)[2].zeros == 12 + 12);
}

TEST_CASE("the sparsity report counts zero weights per layer, and nonzero parameters over the net") {
  auto net = std::make_unique<Small>(4);
  net->layer<conv>().weight[3] = 0.0f;
  net->layer<hidden>().weight.fill(0.0f);
  const auto layers = weight_sparsity(*net);
  REQUIRE(layers.size() == 3);
  CHECK(layers[0].layer == conv);
  CHECK(layers[0].label == Small::layer_type<conv>::label());
  CHECK(layers[0].weights == 36);
  CHECK(layers[0].zeros == 1);
  CHECK(layers[1].layer == hidden);
  CHECK(layers[1].sparsity() == 1.0);
  CHECK(layers[2].zeros == 0);
  // Biases start at zero; BatchNorm's gamma at 1 and beta at 0.
  CHECK(nonzero_parameters(*net) == (36 - 1) + 48 + 4);
}

TEST_CASE("pruned weights stay exactly zero through fine-tuning while the rest of the net learns") {
  const Dataset train = bars(96, 5), validation = bars(32, 6);
  const Normalization normalization = compute_normalization(train.images);
  auto net = std::make_unique<Small>(5);
  Workspace<Small, 16> ws;
  Sgd optimizer(*net, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f});
  prune_by_magnitude(*net, optimizer.mask, 0.75, PruningScope::global);
  const auto pruned = std::make_unique<Small>(*net);

  TrainerOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.schedule.learning_rate = 0.05f;
  options.early_stopping.restore_best = false;
  options.progress = false;
  Trainer(*net, optimizer, ws, options).run(train, validation, normalization);

  const std::vector<Entry> all = entries<conv, hidden, logits>(*pruned, *net, optimizer.mask);
  std::size_t zeros = 0, moved = 0;
  for (const Entry& entry : all) {
    if (entry.flag == 0.0f) {
      ++zeros;
      CHECK(std::signbit(entry.after) == std::signbit(entry.before));  // not even -0 from a decay step
      CHECK(entry.after == 0.0f);
    } else {
      moved += entry.after != entry.before;
    }
  }
  CHECK(zeros == rounded(0.75, all.size()));
  CHECK(moved > (all.size() - zeros) / 2);
  CHECK_FALSE(same_bits(net->layer<hidden>().bias, pruned->layer<hidden>().bias));
  CHECK_FALSE(same_bits(net->layer<norm>().gamma, pruned->layer<norm>().gamma));
}

TEST_CASE("Zhu and Gupta's schedule: from the initial to the final sparsity along a cubic") {
  CHECK(gradual_sparsity(0.0, 0.9, 0.0) == 0.0);
  CHECK(gradual_sparsity(0.0, 0.9, 1.0) == doctest::Approx(0.9));
  CHECK(gradual_sparsity(0.0, 0.9, 2.0) == doctest::Approx(0.9));
  CHECK(gradual_sparsity(0.1, 0.9, 0.5) == doctest::Approx(0.9 - 0.8 / 8));
  // Rising, and more slowly at every step.
  double previous_rise = 1;
  for (int step = 1; step <= 10; ++step) {
    const double rise = gradual_sparsity(0.0, 0.9, step / 10.0) - gradual_sparsity(0.0, 0.9, (step - 1) / 10.0);
    CHECK(rise > 0);
    CHECK(rise < previous_rise);
    previous_rise = rise;
  }
}

TEST_CASE("a sparsity outside [0, 1] is refused") {
  auto net = std::make_unique<Small>(6);
  UpdateMask<Small> mask;
  CHECK_THROWS_AS(prune_by_magnitude(*net, mask, 1.5), std::invalid_argument);
  CHECK_THROWS_AS(prune_by_magnitude(*net, mask, -0.1), std::invalid_argument);
  CHECK_THROWS_AS(prune_by_magnitude(*net, mask, NAN), std::invalid_argument);
  CHECK(mask.fixed_count() == 0);
}
