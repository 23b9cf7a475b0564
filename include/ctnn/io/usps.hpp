// USPS handwritten digits from the HDF5 file usps.h5 (the Kaggle repackaging), read with the
// HDF5 C API. Layout: /train/data float32 [7291, 256] in [0, 1], /train/target int32 [7291],
// and the same under /test ([2007, ...]); each row is a 16x16 image, row-major, 0 = background.
// Design: every HDF5 handle lives in an RAII Handle, and HDF5's automatic error printing is off
// while we read, so a bad file gives one DataError and no noise on stderr. Sizes are checked
// against the same 1 GiB budget as the IDX reader before anything is allocated.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <ctnn/io/dataset.hpp>
#include <ctnn/io/idx.hpp>

namespace ctnn {

inline constexpr std::size_t usps_side = 16;
inline constexpr std::size_t usps_classes = 10;
inline constexpr float usps_tolerance = 1e-5f;  // values this far outside [0, 1] are clamped

namespace detail {

// Owns one HDF5 identifier and closes it with `Close` (H5Fclose, H5Dclose, ...).
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  explicit Handle(hid_t id) noexcept : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() {
    if (id_ >= 0) Close(id_);
  }
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }

 private:
  hid_t id_;
};

// Silences HDF5's automatic error printing for its lifetime, then restores the old handler.
class QuietHdf5 {
 public:
  QuietHdf5() noexcept {
    H5Eget_auto2(H5E_DEFAULT, &function_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  QuietHdf5(const QuietHdf5&) = delete;
  QuietHdf5& operator=(const QuietHdf5&) = delete;
  ~QuietHdf5() { H5Eset_auto2(H5E_DEFAULT, function_, data_); }

 private:
  H5E_auto2_t function_ = nullptr;
  void* data_ = nullptr;
};

struct Hdf5Array {
  H5T_class_t type_class;
  std::vector<hsize_t> dims;
};

inline std::string dims_text(const std::vector<hsize_t>& dims) {
  std::string text = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) text += (i ? ", " : "") + std::to_string(dims[i]);
  return text + "]";
}

// Opens `name` (e.g. "/train/data") as a dataset; the error says which link is missing.
inline hid_t open_hdf5_dataset(hid_t file, const std::string& group, const std::string& name,
                               const std::string& source) {
  if (H5Lexists(file, group.c_str(), H5P_DEFAULT) <= 0) throw DataError(source + ": missing group " + group);
  const std::string full = group + "/" + name;
  if (H5Lexists(file, full.c_str(), H5P_DEFAULT) <= 0) throw DataError(source + ": missing dataset " + full);
  const hid_t dataset = H5Dopen2(file, full.c_str(), H5P_DEFAULT);
  if (dataset < 0) throw DataError(source + ": " + full + " is not a dataset");
  return dataset;
}

inline Hdf5Array describe_hdf5_dataset(hid_t dataset, const std::string& what) {
  Handle<H5Tclose> type(H5Dget_type(dataset));
  Handle<H5Sclose> space(H5Dget_space(dataset));
  if (!type.valid() || !space.valid()) throw DataError(what + ": cannot read its type and shape");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) throw DataError(what + ": cannot read its shape");
  Hdf5Array array{H5Tget_class(type.get()), std::vector<hsize_t>(static_cast<std::size_t>(rank))};
  if (H5Sget_simple_extent_dims(space.get(), array.dims.data(), nullptr) < 0)
    throw DataError(what + ": cannot read its shape");
  return array;
}

}  // namespace detail

// Reads one split of usps.h5 as a 1x16x16 Dataset named "usps".
inline Dataset load_usps(const std::filesystem::path& path, Split split) {
  const std::string source = path.string();
  if (!std::filesystem::is_regular_file(path)) throw DataError(source + ": file does not exist");
  const detail::QuietHdf5 quiet;
  const detail::Handle<H5Fclose> file(H5Fopen(source.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT));
  if (!file.valid()) throw DataError(source + ": cannot open as an HDF5 file");

  const std::string group = std::string(1, '/').append(to_string(split));
  const detail::Handle<H5Dclose> data(detail::open_hdf5_dataset(file.get(), group, "data", source));
  const detail::Handle<H5Dclose> target(detail::open_hdf5_dataset(file.get(), group, "target", source));
  const std::string data_name = source + ": " + group + "/data";
  const std::string target_name = source + ": " + group + "/target";
  const auto data_array = detail::describe_hdf5_dataset(data.get(), data_name);
  const auto target_array = detail::describe_hdf5_dataset(target.get(), target_name);

  const auto& dims = data_array.dims;
  const bool flat = dims.size() == 2 && dims[1] == usps_side * usps_side;
  const bool square = dims.size() == 3 && dims[1] == usps_side && dims[2] == usps_side;
  if (!flat && !square)
    throw DataError(data_name + ": wrong dimensions " + detail::dims_text(dims) + ", expected [count, 256]");
  if (data_array.type_class != H5T_FLOAT) throw DataError(data_name + ": expected floating-point pixel values");
  const std::size_t count = dims[0];
  const std::size_t image_size = usps_side * usps_side;
  if (count > max_data_bytes / (image_size * sizeof(float)))
    throw DataError(data_name + ": absurd dimensions: " + std::to_string(count) + " images");

  const auto& label_dims = target_array.dims;
  if (!(label_dims.size() == 1 || (label_dims.size() == 2 && label_dims[1] == 1)))
    throw DataError(target_name + ": wrong dimensions " + detail::dims_text(label_dims) + ", expected [count]");
  if (target_array.type_class != H5T_INTEGER) throw DataError(target_name + ": expected integer labels");
  if (label_dims[0] != count)
    throw DataError(source + ": " + group + "/data has " + std::to_string(count) + " images but " + group +
                    "/target has " + std::to_string(label_dims[0]) + " labels: image/label count mismatch");

  Dataset dataset;
  dataset.name = "usps";
  dataset.height = dataset.width = usps_side;
  dataset.images.resize(count * image_size);
  if (count && H5Dread(data.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, dataset.images.data()) < 0)
    throw DataError(data_name + ": cannot read the pixel values (corrupt file?)");
  for (std::size_t i = 0; i < dataset.images.size(); ++i) {
    float& value = dataset.images[i];
    if (!(value >= -usps_tolerance && value <= 1 + usps_tolerance))
      throw DataError(data_name + ": value " + std::to_string(value) + " at image " + std::to_string(i / image_size) +
                      ", pixel " + std::to_string(i % image_size) + " is outside [0, 1]");
    value = value < 0 ? 0 : value > 1 ? 1 : value;
  }

  std::vector<long long> labels(count);
  if (count && H5Dread(target.get(), H5T_NATIVE_LLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels.data()) < 0)
    throw DataError(target_name + ": cannot read the labels (corrupt file?)");
  dataset.labels.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    if (labels[i] < 0 || labels[i] >= static_cast<long long>(usps_classes))
      throw DataError(target_name + ": label " + std::to_string(labels[i]) + " at index " + std::to_string(i) +
                      " is out of range 0.." + std::to_string(usps_classes - 1));
    dataset.labels[i] = static_cast<std::uint8_t>(labels[i]);
  }
  return dataset;
}

}  // namespace ctnn
