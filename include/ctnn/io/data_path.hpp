// Finding data files on disk, and the one-call loaders load_mnist, load_fashion_mnist, load_usps.
// Design: a DataLocation states, for one data set, its folder under a data root, any system
// folders that hold its files directly, and how to get it. The search order is the same for
// every set: the explicit path, $CTNN_DATA, data/, ../shared/data/, then the set's system
// folders. One candidate list drives both the search and the not-found message, so the message
// always lists every place looked at, in order.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <ctnn/io/dataset.hpp>
#include <ctnn/io/idx.hpp>
#include <ctnn/io/usps.hpp>

namespace ctnn {

inline constexpr const char* data_env_var = "CTNN_DATA";

struct DataLocation {
  std::string name;                                   // "MNIST", for messages
  std::filesystem::path subfolder;                    // files live in <root>/<subfolder>/
  std::vector<std::filesystem::path> system_folders;  // hold the files directly; searched last
  std::string how_to_get;                             // the last line of the not-found message
};

inline DataLocation mnist_location() {
  return {"MNIST",
          "mnist",
          {},
          "download the four files from http://yann.lecun.com/exdb/mnist/ (or a mirror) into data/mnist/ "
          "or set CTNN_DATA to a folder holding mnist/"};
}

inline DataLocation fashion_mnist_location() {
  return {"Fashion-MNIST",
          "fashion-mnist",
          {"/usr/share/datasets/fashion-mnist"},
          "apt-get install dataset-fashion-mnist (Debian/Ubuntu), or download the four files from "
          "https://github.com/zalandoresearch/fashion-mnist into data/fashion-mnist/ or set CTNN_DATA"};
}

inline DataLocation usps_location() {
  return {"USPS",
          "usps",
          {},
          "put usps.h5 (the Kaggle \"USPS Dataset\" HDF5 file with /train and /test groups, e.g. data/usps.h5 of "
          "github.com/niuers/Learning-From-Data-A-Short-Course) into data/usps/ or set CTNN_DATA to a folder "
          "holding usps/usps.h5"};
}

// One folder to search, and where it came from. An empty folder stands for an unset variable.
struct DataCandidate {
  std::filesystem::path folder;
  std::string origin;
};

// Every folder searched for `location`, in order.
inline std::vector<DataCandidate> data_candidates(const DataLocation& location,
                                                  const std::optional<std::filesystem::path>& explicit_path = {}) {
  std::vector<DataCandidate> candidates;
  const auto add_root = [&](const std::filesystem::path& root, const std::string& origin) {
    if (!location.subfolder.empty()) candidates.push_back({root / location.subfolder, origin});
    candidates.push_back({root, origin});
  };
  if (explicit_path) add_root(*explicit_path, "explicit path");
  const char* env = std::getenv(data_env_var);
  if (env && *env)
    candidates.push_back({std::filesystem::path(env) / location.subfolder, std::string("$") + data_env_var});
  else
    candidates.push_back({{}, std::string("$") + data_env_var + " is not set"});
  candidates.push_back({std::filesystem::path("data") / location.subfolder, "relative to the current directory"});
  candidates.push_back(
      {std::filesystem::path("../shared/data") / location.subfolder, "relative to the current directory"});
  for (const auto& folder : location.system_folders) candidates.push_back({folder, "system folder"});
  return candidates;
}

// The first existing file among `names` (alternatives, e.g. gzipped and not) in the candidate
// folders. An explicit path that is itself a file is returned as is.
inline std::filesystem::path find_data_file(std::span<const std::string> names, const DataLocation& location,
                                            const std::optional<std::filesystem::path>& explicit_path = {}) {
  std::error_code error;
  if (explicit_path && std::filesystem::is_regular_file(*explicit_path, error)) return *explicit_path;
  const auto candidates = data_candidates(location, explicit_path);
  for (const auto& candidate : candidates) {
    if (candidate.folder.empty()) continue;
    for (const auto& name : names)
      if (std::filesystem::is_regular_file(candidate.folder / name, error)) return candidate.folder / name;
  }

  std::string message = "cannot find " + location.name + " file ";
  for (std::size_t i = 0; i < names.size(); ++i) message += (i ? i == 1 ? " (or " : ", " : "") + names[i];
  message += names.size() > 1 ? ")" : "";
  message += "; looked in, in order:";
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const auto& candidate = candidates[i];
    message.append("\n  ").append(std::to_string(i + 1)).append(". ");
    if (candidate.folder.empty()) {
      message += candidate.origin;
      continue;
    }
    message += candidate.folder.string() + " (" + candidate.origin;
    if (candidate.folder.is_relative()) {
      const auto absolute = std::filesystem::absolute(candidate.folder, error);
      if (!error) message += ": " + absolute.lexically_normal().string();
    }
    message += std::filesystem::is_directory(candidate.folder, error) ? ")" : "; no such folder)";
  }
  throw DataError(message + "\nTo get it: " + location.how_to_get);
}

// `relative` (e.g. "mnist/train-labels-idx1-ubyte.gz") under an explicit path (a folder, or the
// file itself), $CTNN_DATA, data/ or ../shared/data/.
inline std::filesystem::path find_data_file(std::string_view relative,
                                            std::optional<std::filesystem::path> explicit_path = {}) {
  const std::filesystem::path path(relative);
  const DataLocation location{
      "data", path.parent_path(), {}, "put it under data/ or set CTNN_DATA to the folder that holds it"};
  const std::string name = path.filename().string();
  return find_data_file(std::span(&name, 1), location, explicit_path);
}

namespace detail {

inline Dataset load_idx_set(const DataLocation& location, Split split, std::size_t classes,
                            const std::optional<std::filesystem::path>& root) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const std::string images[] = {prefix + "-images-idx3-ubyte.gz", prefix + "-images-idx3-ubyte"};
  const std::string labels[] = {prefix + "-labels-idx1-ubyte.gz", prefix + "-labels-idx1-ubyte"};
  const auto images_path = find_data_file(images, location, root);
  const auto labels_path = find_data_file(labels, location, root);
  return load_idx_dataset(images_path, labels_path, location.subfolder.string(), classes);
}

}  // namespace detail

// MNIST digits, 1x28x28, labels 0..9. `root` is a folder holding mnist/ or the four files.
inline Dataset load_mnist(Split split, std::optional<std::filesystem::path> root = {}) {
  return detail::load_idx_set(mnist_location(), split, 10, root);
}

// Zalando's Fashion-MNIST, 1x28x28, labels 0..9 (same file names as MNIST).
inline Dataset load_fashion_mnist(Split split, std::optional<std::filesystem::path> root = {}) {
  return detail::load_idx_set(fashion_mnist_location(), split, 10, root);
}

// USPS digits, 1x16x16, labels 0..9. `root` is a folder holding usps/usps.h5 or usps.h5, or the file.
inline Dataset load_usps(Split split, std::optional<std::filesystem::path> root = {}) {
  const std::string name = "usps.h5";
  return load_usps(find_data_file(std::span(&name, 1), usps_location(), root), split);
}

}  // namespace ctnn
