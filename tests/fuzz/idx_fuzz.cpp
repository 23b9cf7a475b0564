// Fuzz target: arbitrary bytes into the in-memory IDX parsers (raw and gzip). A DataError is the
// only acceptable failure; a result that breaks the parsers' promises aborts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <ctnn/io/idx.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  try {
    const auto images = ctnn::parse_idx_images(bytes, "fuzz");
    if (images.rows == 0 || images.cols == 0 || images.rows > ctnn::idx_max_side || images.cols > ctnn::idx_max_side ||
        images.pixels.size() != images.count * images.rows * images.cols)
      std::abort();
  } catch (const ctnn::DataError&) {
  }
  try {
    for (const auto label : ctnn::parse_idx_labels(bytes, 10, "fuzz"))
      if (label >= 10) std::abort();
  } catch (const ctnn::DataError&) {
  }
  return 0;
}
