// Dropout<Rate>: in training, zeroes each value with probability Rate (a std::ratio) and scales
// the survivors by 1 / (1 - Rate), so inference is the identity (inverted dropout, Srivastava et
// al. 2014). The mask is drawn from a seed the Net derives from (step, layer, image) and redrawn
// in backward: no mask is stored, and thread scheduling cannot change it. Interval bounds use the
// inference form, the identity (no interval training through it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ratio>
#include <span>
#include <string>
#include <string_view>
#include <tuple>

#include <ctnn/core/layer.hpp>

namespace ctnn {

template <class Rate = std::ratio<1, 2>>
struct Dropout {
  static constexpr std::string_view name = "Dropout";

  template <class In>
  struct bind {
    static_assert(Rate::num >= 0 && Rate::num < Rate::den, "Dropout: the rate must be in [0, 1)");

    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t flops = 0;
    static constexpr float rate = static_cast<float>(Rate::num) / static_cast<float>(Rate::den);
    static constexpr float keep_scale = Rate::num < Rate::den ? 1.0f / (1.0f - rate) : 1.0f;

    static std::string label() {
      return "Dropout<" + std::to_string(Rate::num) + "/" + std::to_string(Rate::den) + ">";
    }

    void init(Rng&) noexcept {}
    std::tuple<> parameters() noexcept { return {}; }
    std::tuple<> parameters() const noexcept { return {}; }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept { y = x; }
    void backward(const tensor_of<in_shape>&, const tensor_of<out_shape>&, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind&) const noexcept {
      if (dx) *dx = dy;
    }

    // Interval bounds of a chunk of images: the inference form passes them through.
    void forward_interval(std::span<const tensor_of<in_shape>> lower, std::span<const tensor_of<in_shape>> upper,
                          std::span<tensor_of<out_shape>> out_lower,
                          std::span<tensor_of<out_shape>> out_upper) const noexcept {
      std::copy(lower.begin(), lower.end(), out_lower.begin());
      std::copy(upper.begin(), upper.end(), out_upper.begin());
    }

    void forward_train(const tensor_of<in_shape>& x, tensor_of<out_shape>& y, std::uint64_t seed) const noexcept {
      apply_mask(x, y, seed);
    }
    void backward_train(const tensor_of<in_shape>&, const tensor_of<out_shape>&, tensor_of<out_shape>& dy,
                        tensor_of<in_shape>* dx, bind&, std::uint64_t seed) const noexcept {
      if (dx) apply_mask(dy, *dx, seed);
    }

   private:
    static void apply_mask(const tensor_of<In>& from, tensor_of<In>& to, std::uint64_t seed) noexcept {
      Rng rng(seed);
      for (std::size_t i = 0; i < In::size; ++i) to[i] = rng.uniform() < rate ? 0.0f : from[i] * keep_scale;
    }
  };
};

}  // namespace ctnn
