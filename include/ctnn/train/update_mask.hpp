// UpdateMask: which parameters an optimizer may change. One flag per trained scalar, held in a set
// of the net's own layer types so the optimizers walk it beside the weights: 1 trainable, 0 fixed.
// Transfer learning freezes whole layers; magnitude pruning fixes the pruned weights at zero. A
// fixed scalar is never written (no step, no weight decay, no momentum), so it stays bit-identical
// however long training runs.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include <ctnn/core/layer.hpp>

namespace ctnn {

template <class NetType>
class UpdateMask {
 public:
  using layers = typename NetType::layers;

  UpdateMask() : flags_(std::make_unique<layers>()) { set_layers(0, NetType::layer_count, true); }
  UpdateMask(const UpdateMask& other) : flags_(std::make_unique<layers>(*other.flags_)) {}
  UpdateMask& operator=(const UpdateMask& other) {
    *flags_ = *other.flags_;
    return *this;
  }

  // Makes the parameters of layers first..last-1 (positions in NetType::layers, as summary()
  // lists them) trainable or frozen.
  void set_layers(std::size_t first, std::size_t last, bool trainable) {
    if (first > last || last > NetType::layer_count)
      throw std::out_of_range("UpdateMask: layers " + std::to_string(first) + ".." + std::to_string(last) +
                              " are not within the net's " + std::to_string(NetType::layer_count) + " layers");
    const auto fill = [value = trainable ? 1.0f : 0.0f](auto& tensor) {
      for (float& flag : tensor.span()) flag = value;
    };
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I >= first && I < last ? detail::for_each_in_layer(fill, std::get<I>(*flags_).parameters()) : void()), ...);
    }
    (std::make_index_sequence<NetType::layer_count>{});
  }
  void freeze_layers(std::size_t first, std::size_t last) { set_layers(first, last, false); }
  void unfreeze_all() { set_layers(0, NetType::layer_count, true); }

  // The flags themselves, for masks finer than a layer (pruning sets single weights to 0).
  layers& flags() noexcept { return *flags_; }
  const layers& flags() const noexcept { return *flags_; }

  // How many trained scalars are fixed.
  std::size_t fixed_count() const {
    std::size_t count = 0;
    for_each_parameter(
        [&count](const auto& tensor) {
          for (const float value : tensor.span()) count += value == 0.0f;
        },
        *flags_);
    return count;
  }

 private:
  std::unique_ptr<layers> flags_;
};

}  // namespace ctnn
