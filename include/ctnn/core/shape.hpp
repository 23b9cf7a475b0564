// Shapes are types: Shape<C, H, W> is an image of C channels, H rows and W columns, stored
// channel-major (CHW). A flat vector of N values is Shape<N, 1, 1>.
#pragma once

#include <cstddef>
#include <string>

namespace ctnn {

template <std::size_t Channels, std::size_t Height, std::size_t Width>
struct Shape {
  static constexpr std::size_t channels = Channels;
  static constexpr std::size_t height = Height;
  static constexpr std::size_t width = Width;
  static constexpr std::size_t size = Channels * Height * Width;

  // Appended piece by piece: "(" + std::to_string(...) trips g++ 12's false -Wrestrict (PR 105329).
  static std::string label() {
    std::string text = "(";
    text += std::to_string(Channels);
    text += ", ";
    text += std::to_string(Height);
    text += ", ";
    text += std::to_string(Width);
    text += ")";
    return text;
  }
};

// The first entry of a Net: the shape of one input image.
template <std::size_t Channels, std::size_t Height, std::size_t Width>
struct Input {
  static_assert(Channels > 0 && Height > 0 && Width > 0, "Input: every dimension must be positive");
  // Kept non-empty when the assertion fails, so that it stays the only error.
  using shape = Shape<(Channels > 0 ? Channels : 1), (Height > 0 ? Height : 1), (Width > 0 ? Width : 1)>;
};

}  // namespace ctnn
