// Dataset: labelled images held in memory, the common result of every data-set reader.
// Images are stored back to back, each channel-major (C,H,W) like Shape<C, H, W>, with pixel
// values scaled to [0, 1] and 0 meaning background, so every reader hands a net the same input.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ctnn {

// Thrown by every reader on a missing, malformed or implausible file. The message names the
// file and says what is wrong, with expected and found values where there are any.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Split { train, test };

constexpr std::string_view to_string(Split split) noexcept { return split == Split::train ? "train" : "test"; }

struct Dataset {
  std::string name;
  std::size_t channels = 1, height = 0, width = 0;
  std::vector<float> images;         // size() * image_size() values in [0, 1]
  std::vector<std::uint8_t> labels;  // one class index per image

  std::size_t size() const noexcept { return labels.size(); }
  std::size_t image_size() const noexcept { return channels * height * width; }

  // Requires i < size().
  std::span<const float> image(std::size_t i) const noexcept {
    return std::span<const float>(images).subspan(i * image_size(), image_size());
  }
  std::span<float> image(std::size_t i) noexcept {
    return std::span<float>(images).subspan(i * image_size(), image_size());
  }
};

// One more than the largest label: 10 for the digit sets; 0 when there are no labels.
inline std::size_t class_count(const Dataset& dataset) noexcept {
  if (dataset.labels.empty()) return 0;
  return std::size_t{*std::max_element(dataset.labels.begin(), dataset.labels.end())} + 1;
}

}  // namespace ctnn
