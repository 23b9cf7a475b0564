// Data discovery: explicit path, then $CTNN_DATA, data/, ../shared/data/, then system folders;
// the not-found message lists every candidate in order and says how to get the data.
#include <doctest/doctest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include <ctnn/io/data_path.hpp>

#include "io/io_test_support.hpp"

using ctnn::DataError;
using doctest::Contains;
namespace fs = std::filesystem;
namespace test = ctnn::test;

namespace {

// Runs the test from `dir` with $CTNN_DATA set to `env` (or unset), restoring both afterwards.
class Environment {
 public:
  Environment(const fs::path& dir, const char* env) : saved_dir_(fs::current_path()) {
    if (const char* old = std::getenv("CTNN_DATA")) saved_env_ = old;
    fs::current_path(dir);
    set(env);
  }
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;
  ~Environment() {
    fs::current_path(saved_dir_);
    set(saved_env_ ? saved_env_->c_str() : nullptr);
  }
  static void set(const char* env) {
    if (env)
      ::setenv("CTNN_DATA", env, 1);
    else
      ::unsetenv("CTNN_DATA");
  }

 private:
  fs::path saved_dir_;
  std::optional<std::string> saved_env_;
};

const std::string names[] = {"file.bin.gz", "file.bin"};

}  // namespace

TEST_CASE("data_path: candidates are searched in the documented order") {
  const test::TempDir tmp;
  const ctnn::DataLocation location{"Test set", "set", {tmp / "system"}, "ask a colleague"};
  const test::Bytes bytes{1};
  const auto explicit_file = test::write_file(tmp / "explicit/set/file.bin", bytes);
  const auto env_file = test::write_file(tmp / "env/set/file.bin", bytes);
  const auto data_file = test::write_file(tmp / "work/data/set/file.bin", bytes);
  const auto shared_file = test::write_file(tmp / "shared/data/set/file.bin", bytes);
  const auto system_file = test::write_file(tmp / "system/file.bin", bytes);
  const Environment environment(tmp / "work", (tmp / "env").c_str());
  const auto find = [&] { return fs::weakly_canonical(ctnn::find_data_file(names, location, tmp / "explicit")); };

  CHECK(find() == fs::weakly_canonical(explicit_file));
  fs::remove(explicit_file);
  CHECK(find() == fs::weakly_canonical(env_file));
  Environment::set(nullptr);
  CHECK(find() == fs::weakly_canonical(data_file));
  Environment::set("");
  fs::remove(data_file);
  CHECK(find() == fs::weakly_canonical(shared_file));
  fs::remove(shared_file);
  CHECK(find() == fs::weakly_canonical(system_file));
  fs::remove(system_file);
  CHECK_THROWS_AS(find(), DataError);
}

TEST_CASE("data_path: an explicit path may be the folder of the files or a file") {
  const test::TempDir tmp;
  const ctnn::DataLocation location{"Test set", "set", {}, "ask a colleague"};
  const auto direct = test::write_file(tmp / "flat/file.bin", test::Bytes{1});
  CHECK(ctnn::find_data_file(names, location, tmp / "flat") == direct);
  const auto other = test::write_file(tmp / "elsewhere.dat", test::Bytes{1});
  CHECK(ctnn::find_data_file(names, location, other) == other);
  const auto gz = test::write_file(tmp / "flat/file.bin.gz", test::Bytes{1});
  CHECK(ctnn::find_data_file(names, location, tmp / "flat") == gz);
  CHECK(ctnn::find_data_file("set/file.bin", tmp.path() / "flat") == direct);
}

TEST_CASE("data_path: the not-found message lists every candidate in order and how to get the data") {
  const test::TempDir tmp;
  fs::create_directories(tmp / "work");
  const Environment environment(tmp / "work", (tmp / "env").c_str());
  const ctnn::DataLocation location{"Test set", "set", {tmp / "system"}, "ask a colleague"};
  std::string message;
  try {
    ctnn::find_data_file(names, location, tmp / "explicit");
  } catch (const DataError& error) {
    message = error.what();
  }
  REQUIRE(!message.empty());
  CHECK(message.find("cannot find Test set file file.bin.gz (or file.bin); looked in, in order:") == 0);
  const std::string expected[] = {
      "1. " + (tmp / "explicit/set").string() + " (explicit path; no such folder)",
      "2. " + (tmp / "explicit").string() + " (explicit path; no such folder)",
      "3. " + (tmp / "env/set").string() + " ($CTNN_DATA; no such folder)",
      "4. data/set (relative to the current directory: " + (tmp / "work/data/set").string(),
      "5. ../shared/data/set (relative to the current directory: " + (tmp / "shared/data/set").string(),
      "6. " + (tmp / "system").string() + " (system folder",
      "\nTo get it: ask a colleague"};
  std::size_t previous = 0;
  for (const auto& line : expected) {
    const auto at = message.find(line);
    CHECK_MESSAGE(at != std::string::npos, line);
    CHECK(at >= previous);
    previous = at == std::string::npos ? previous : at;
  }
}

TEST_CASE("data_path: each data set states its candidates and how to get it") {
  const test::TempDir tmp;
  const Environment environment(tmp.path(), nullptr);
  CHECK_THROWS_WITH_AS(ctnn::load_mnist(ctnn::Split::train, tmp / "nowhere"),
                       Contains("download the four files from http://yann.lecun.com/exdb/mnist/"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_mnist(ctnn::Split::test), Contains("1. $CTNN_DATA is not set"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_mnist(ctnn::Split::test),
                       Contains("cannot find MNIST file t10k-images-idx3-ubyte.gz (or t10k-images-idx3-ubyte)"),
                       DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_usps(ctnn::Split::test), Contains("cannot find USPS file usps.h5"), DataError);
  const auto fashion = ctnn::data_candidates(ctnn::fashion_mnist_location());
  REQUIRE(!fashion.empty());
  CHECK(fashion.back().folder == "/usr/share/datasets/fashion-mnist");
  CHECK(ctnn::fashion_mnist_location().how_to_get.find("apt-get install dataset-fashion-mnist") == 0);
}

TEST_CASE("data_path: un-gzipped MNIST file names are accepted") {
  const test::TempDir tmp;
  test::Bytes images, labels{0, 0, 8, 1, 0, 0, 0, 2, 4, 2};
  for (const std::uint8_t byte : {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 255, 0}) images.push_back(byte);
  test::write_file(tmp / "mnist/t10k-images-idx3-ubyte", images);
  test::write_file(tmp / "mnist/t10k-labels-idx1-ubyte", labels);
  const auto dataset = ctnn::load_mnist(ctnn::Split::test, tmp.path());
  CHECK(dataset.size() == 2);
  CHECK(dataset.images == std::vector<float>{1.0f, 0.0f});
  CHECK(dataset.labels == std::vector<std::uint8_t>{4, 2});
}
