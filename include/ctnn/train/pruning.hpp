// Magnitude pruning (Han et al. 2015): the weights of smallest magnitude are set to zero and fixed
// there in the optimizer's UpdateMask (update_mask.hpp), so that fine-tuning afterwards cannot
// bring them back. Only the weight tensors of Conv and Dense are pruned: biases and BatchNorm's
// scales and shifts are few, and zeroing them saves nothing.
//
// The k weights pruned are the first k in the order (already pruned first, then |w| ascending,
// then position): a strict total order, so the choice is unique whatever the ties. A pruned weight
// is one that is zero and fixed; pruning again to a higher sparsity keeps it pruned, and pruning
// never revives a weight. gradual_sparsity gives Zhu & Gupta's (2017) schedule for pruning in
// steps during training rather than at once.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <ctnn/core/layer.hpp>
#include <ctnn/train/update_mask.hpp>

namespace ctnn {

// A layer whose `weight` tensor magnitude pruning applies to (Conv, Dense).
template <class L>
concept PrunableLayer = Layer<L> && requires(L& layer) {
  layer.weight;
  layer.bias;
};

enum class PruningScope {
  per_layer,  // every prunable layer loses the same share of its weights
  global      // the smallest weights of the whole net, wherever they are
};

struct LayerSparsity {
  std::size_t layer = 0;  // position in the net's layers, as summary() lists them
  std::string label;      // "Conv<6, 5> + ReLU"
  std::size_t weights = 0;
  std::size_t zeros = 0;  // weights exactly zero
  double sparsity() const noexcept { return weights ? static_cast<double>(zeros) / static_cast<double>(weights) : 0; }
};

namespace detail {

// Calls f(layer_index, weight, weight_flags) for every prunable layer of the net.
template <class NetType, class Layers, class F>
void for_each_prunable(Layers& layers, Layers& flags, F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          if constexpr (PrunableLayer<typename NetType::template layer_type<I>>)
            f(I, std::get<I>(layers).weight, std::get<I>(flags).weight);
        }(),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
}

// One candidate weight: its sort key and where it lives.
struct PruningCandidate {
  bool pruned;  // zero and fixed already
  float magnitude;
  std::size_t position;  // running index over the weights considered together
  float* weight;
  float* flag;
  bool operator<(const PruningCandidate& other) const noexcept {
    return std::tuple(!pruned, magnitude, position) < std::tuple(!other.pruned, other.magnitude, other.position);
  }
};

// Prunes the round(sparsity * size) first candidates (ties broken by position).
inline void prune_smallest(std::vector<PruningCandidate>& candidates, double sparsity) {
  const auto count = static_cast<std::size_t>(std::llround(sparsity * static_cast<double>(candidates.size())));
  if (count == 0) return;
  std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(count - 1), candidates.end());
  const auto last = candidates.begin() + static_cast<std::ptrdiff_t>(count);
  std::for_each(candidates.begin(), last, [](PruningCandidate& candidate) {
    *candidate.weight = 0.0f;
    *candidate.flag = 0.0f;
  });
}

}  // namespace detail

// Sets the given share of the net's Conv and Dense weights (per layer or over the whole net) to
// zero and fixes them in `mask`: round(sparsity * weights) of them, counting those pruned already.
// Throws std::invalid_argument unless 0 <= sparsity <= 1.
template <class NetType>
void prune_by_magnitude(NetType& net, UpdateMask<NetType>& mask, double sparsity,
                        PruningScope scope = PruningScope::per_layer) {
  if (!(sparsity >= 0 && sparsity <= 1))
    throw std::invalid_argument("pruning: sparsity " + std::to_string(sparsity) + " is not within [0, 1]");
  std::vector<detail::PruningCandidate> candidates;
  const auto collect = [&candidates](std::size_t, auto& weight, auto& flags) {
    for (std::size_t i = 0; i < weight.size; ++i)
      candidates.push_back({.pruned = flags[i] == 0.0f && weight[i] == 0.0f,
                            .magnitude = std::abs(weight[i]),
                            .position = candidates.size(),
                            .weight = &weight[i],
                            .flag = &flags[i]});
  };
  detail::for_each_prunable<NetType>(net.parameters(), mask.flags(), [&](std::size_t layer, auto& weight, auto& flags) {
    collect(layer, weight, flags);
    if (scope == PruningScope::per_layer) {
      detail::prune_smallest(candidates, sparsity);
      candidates.clear();
    }
  });
  if (scope == PruningScope::global) detail::prune_smallest(candidates, sparsity);
}

// The weights of each Conv and Dense layer and how many of them are zero.
template <class NetType>
std::vector<LayerSparsity> weight_sparsity(const NetType& net) {
  std::vector<LayerSparsity> layers;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = typename NetType::template layer_type<I>;
          if constexpr (PrunableLayer<L>) {
            const auto& weight = net.template layer<I>().weight;
            layers.push_back({I, L::label(), weight.size,
                              static_cast<std::size_t>(std::count(weight.data(), weight.data() + weight.size, 0.0f))});
          }
        }(),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
  return layers;
}

// Trained scalars (weights, biases, BatchNorm's) that are not zero: what a sparse format stores.
template <class NetType>
std::size_t nonzero_parameters(const NetType& net) {
  std::size_t count = 0;
  for_each_parameter(
      [&count](const auto& tensor) {
        count += static_cast<std::size_t>(
            std::count_if(tensor.data(), tensor.data() + tensor.size, [](float value) { return value != 0.0f; }));
      },
      net.parameters());
  return count;
}

// Zhu & Gupta (2017), eq. 1: the sparsity at `progress` in [0, 1] of a pruning period that goes
// from `initial` to `final`, s = final + (initial - final) (1 - progress)^3: fast at first, while
// many redundant weights remain, and slowly at the end.
inline double gradual_sparsity(double initial, double final, double progress) noexcept {
  const double remaining = 1.0 - std::clamp(progress, 0.0, 1.0);
  return final + (initial - final) * remaining * remaining * remaining;
}

}  // namespace ctnn
