// usps.h5 reader on crafted HDF5 files: each defect gives a DataError that names it, quietly.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <type_traits>
#include <vector>

#include <ctnn/io/usps.hpp>

#include "io/io_test_support.hpp"

using ctnn::DataError;
using ctnn::Split;
using doctest::Contains;
namespace test = ctnn::test;

namespace {

// Writes HDF5 files group by group, dataset by dataset.
class H5Writer {
 public:
  explicit H5Writer(const std::filesystem::path& path)
      : file_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {
    REQUIRE(file_ >= 0);
  }
  H5Writer(const H5Writer&) = delete;
  H5Writer& operator=(const H5Writer&) = delete;
  ~H5Writer() { H5Fclose(file_); }

  void group(const char* name) { H5Gclose(H5Gcreate2(file_, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)); }

  template <class T>
  void dataset(const char* name, const std::vector<hsize_t>& dims, const std::vector<T>& values) {
    const hid_t type = std::is_same_v<T, float> ? H5T_NATIVE_FLOAT : H5T_NATIVE_INT;
    const hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
    const hid_t dataset = H5Dcreate2(file_, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    REQUIRE(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) >= 0);
    H5Dclose(dataset);
    H5Sclose(space);
  }

 private:
  hid_t file_;
};

// A file with `count` training images whose pixel values are all `pixel`, labels 0, 1, 2, ...
std::filesystem::path write_usps(const std::filesystem::path& path, std::size_t count, float pixel,
                                 std::vector<int> labels = {}) {
  if (labels.empty())
    for (std::size_t i = 0; i < count; ++i) labels.push_back(static_cast<int>(i % 10));
  H5Writer writer(path);
  writer.group("/train");
  writer.dataset("/train/data", {count, 256}, std::vector<float>(count * 256, pixel));
  writer.dataset("/train/target", {labels.size()}, labels);
  return path;
}

}  // namespace

TEST_CASE("usps: a crafted file loads and tiny excursions are clamped") {
  const test::TempDir dir;
  const auto dataset = ctnn::load_usps(write_usps(dir / "ok.h5", 3, 1.0f + 1e-7f), Split::train);
  CHECK(dataset.size() == 3);
  CHECK(dataset.labels == std::vector<std::uint8_t>{0, 1, 2});
  CHECK(dataset.image(2)[255] == 1.0f);
}

TEST_CASE("usps: missing groups and datasets are named") {
  const test::TempDir dir;
  const auto path = write_usps(dir / "train-only.h5", 2, 0.5f);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(path, Split::test), Contains("train-only.h5: missing group /test"), DataError);
  {
    H5Writer writer(dir / "no-target.h5");
    writer.group("/test");
    writer.dataset("/test/data", {1, 256}, std::vector<float>(256));
  }
  CHECK_THROWS_WITH_AS(ctnn::load_usps(dir / "no-target.h5", Split::test), Contains("missing dataset /test/target"),
                       DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(dir / "absent.h5", Split::test), Contains("absent.h5: file does not exist"),
                       DataError);
}

TEST_CASE("usps: wrong dimensions and count mismatches") {
  const test::TempDir dir;
  {
    H5Writer writer(dir / "narrow.h5");
    writer.group("/train");
    writer.dataset("/train/data", {3, 100}, std::vector<float>(300));
    writer.dataset("/train/target", {3}, std::vector<int>{1, 2, 3});
  }
  CHECK_THROWS_WITH_AS(ctnn::load_usps(dir / "narrow.h5", Split::train),
                       Contains("/train/data: wrong dimensions [3, 100], expected [count, 256]"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(write_usps(dir / "short.h5", 3, 0.5f, {1, 2}), Split::train),
                       Contains("/train/data has 3 images but /train/target has 2 labels"), DataError);
}

TEST_CASE("usps: labels out of 0..9 and pixels out of [0, 1]") {
  const test::TempDir dir;
  CHECK_THROWS_WITH_AS(ctnn::load_usps(write_usps(dir / "ten.h5", 3, 0.5f, {1, 2, 10}), Split::train),
                       Contains("/train/target: label 10 at index 2 is out of range 0..9"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(write_usps(dir / "minus.h5", 2, 0.5f, {-1, 2}), Split::train),
                       Contains("label -1 at index 0"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(write_usps(dir / "bright.h5", 2, 1.5f), Split::train),
                       Contains("/train/data: value 1.500000 at image 0, pixel 0 is outside [0, 1]"), DataError);
  CHECK_THROWS_WITH_AS(
      ctnn::load_usps(write_usps(dir / "nan.h5", 2, std::numeric_limits<float>::quiet_NaN()), Split::train),
      Contains("is outside [0, 1]"), DataError);
}

TEST_CASE("usps: a non-HDF5 file fails without HDF5 printing to stderr") {
  const test::TempDir dir;
  const auto path = test::write_file(dir / "garbage.h5", test::idx_labels({1, 2, 3}));
  const auto log = dir / "stderr.txt";
  std::fflush(stderr);
  const int saved = ::dup(2);
  const int redirect = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(redirect >= 0);
  ::dup2(redirect, 2);
  ::close(redirect);
  std::string message;
  try {
    ctnn::load_usps(path, Split::train);
  } catch (const DataError& error) {
    message = error.what();
  }
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  CHECK(message.find("garbage.h5: cannot open as an HDF5 file") != std::string::npos);
  CHECK(std::filesystem::file_size(log) == 0);
  H5E_auto2_t function = nullptr;
  void* data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &function, &data);
  const bool printing_restored = function != nullptr;
  CHECK(printing_restored);
}
