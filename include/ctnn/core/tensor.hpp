// Tensor<Dims...>: a fixed-size, 64-byte aligned block of floats, row-major over Dims.
// The storage is padded to whole cache lines so arrays of tensors keep every element aligned;
// the padding stays zero and no kernel reads past `size`.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>

namespace ctnn {

inline constexpr std::size_t tensor_alignment = 64;

template <std::size_t... Dims>
struct Tensor {
  static_assert(sizeof...(Dims) > 0, "Tensor: needs at least one dimension");
  static constexpr std::size_t rank = sizeof...(Dims);
  static constexpr std::size_t size = (Dims * ...);
  static constexpr std::array<std::size_t, rank> dims{Dims...};
  static constexpr std::size_t floats_per_line = tensor_alignment / sizeof(float);
  static constexpr std::size_t padded_size = (size + floats_per_line - 1) / floats_per_line * floats_per_line;

  alignas(tensor_alignment) std::array<float, padded_size> values{};

  float* data() noexcept { return values.data(); }
  const float* data() const noexcept { return values.data(); }
  float& operator[](std::size_t i) noexcept { return values[i]; }
  float operator[](std::size_t i) const noexcept { return values[i]; }

  // Row-major element access: t(f, c, i, j) for a Tensor<F, C, K, K>.
  template <class... Index>
  requires(sizeof...(Index) == rank) float& operator()(Index... index) noexcept {
    return values[offset(static_cast<std::size_t>(index)...)];
  }
  template <class... Index>
  requires(sizeof...(Index) == rank) float operator()(Index... index) const noexcept {
    return values[offset(static_cast<std::size_t>(index)...)];
  }

  std::span<float, size> span() noexcept { return std::span<float, size>(values.data(), size); }
  std::span<const float, size> span() const noexcept { return std::span<const float, size>(values.data(), size); }

  void fill(float value) noexcept { std::fill_n(values.data(), size, value); }

  friend bool operator==(const Tensor&, const Tensor&) = default;

 private:
  template <class... Index>
  static constexpr std::size_t offset(Index... index) noexcept {
    std::size_t flat = 0;
    std::size_t axis = 0;
    ((flat = flat * dims[axis++] + index), ...);
    return flat;
  }
};

// The tensor that holds one image of a Shape.
template <class Shape>
using tensor_of = Tensor<Shape::channels, Shape::height, Shape::width>;

}  // namespace ctnn
