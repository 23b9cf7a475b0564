// Fuzz target: arbitrary bytes into SafetensorsFile::parse. A SafetensorsError is the only
// acceptable failure. A file that parses must keep the reader's promises (every tensor's bytes
// inside the input, sized by its shape and dtype, the tensors tiling the buffer), and must
// survive a round trip: serialize_safetensors of what was read parses back to the same tensors.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <ctnn/io/safetensors.hpp>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::byte> bytes(size);
  if (size) std::memcpy(bytes.data(), data, size);
  try {
    const auto file = ctnn::SafetensorsFile::parse(std::move(bytes), "fuzz");
    const std::vector<std::string> names = file.names();
    std::vector<ctnn::TensorToWrite> tensors;
    std::uint64_t total = 0;
    for (const auto& name : names) {
      const auto& entry = file.at(name);
      std::uint64_t expected = 1;
      for (const auto dim : entry.shape) expected *= dim;  // may wrap, harmlessly, before a 0 dim
      expected *= ctnn::safetensors_dtype_size(entry.dtype);
      if (expected != entry.bytes.size() || !file.contains(name)) std::abort();
      total += entry.bytes.size();
      tensors.push_back({name, entry.dtype, entry.shape, entry.bytes});
    }
    if (total > size) std::abort();

    const auto again = ctnn::SafetensorsFile::parse(ctnn::serialize_safetensors(tensors, file.metadata()), "again");
    if (again.names() != names || again.metadata() != file.metadata()) std::abort();
    for (const auto& name : names) {
      const auto& before = file.at(name);
      const auto& after = again.at(name);
      if (after.dtype != before.dtype || after.shape != before.shape || after.bytes.size() != before.bytes.size() ||
          (!before.bytes.empty() && std::memcmp(after.bytes.data(), before.bytes.data(), before.bytes.size()) != 0))
        std::abort();
    }
  } catch (const ctnn::SafetensorsError&) {
  }
  return 0;
}
