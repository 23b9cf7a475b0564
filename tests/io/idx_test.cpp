// IDX parsing: a valid file round trip, and each kind of bad file gives a DataError naming it.
#include <doctest/doctest.h>

#include <ctnn/io/idx.hpp>

#include "io/io_test_support.hpp"

using ctnn::DataError;
using doctest::Contains;
namespace test = ctnn::test;

TEST_CASE("idx: a valid image and label file round trip") {
  const test::TempDir dir;
  const auto images = ctnn::read_idx_images(test::write_file(dir / "images", test::idx_images(3, 2, 5)));
  CHECK(images.count == 3);
  CHECK(images.rows == 2);
  CHECK(images.cols == 5);
  REQUIRE(images.pixels.size() == 30);
  CHECK(images.pixels[29] == static_cast<std::uint8_t>(29 * 7));

  CHECK(ctnn::read_idx_labels(test::write_file(dir / "labels", test::idx_labels({3, 0, 9})), 10) ==
        std::vector<std::uint8_t>{3, 0, 9});

  const auto dataset = ctnn::load_idx_dataset(dir / "images", dir / "labels", "tiny", 10);
  CHECK(dataset.size() == 3);
  CHECK(dataset.image_size() == 10);
  CHECK(dataset.image(2)[9] == doctest::Approx((29 * 7 % 256) / 255.0));
  CHECK(ctnn::class_count(dataset) == 10);
}

TEST_CASE("idx: a wrong magic number names the file and both values") {
  const test::TempDir dir;
  const auto labels = test::write_file(dir / "labels-as-images", test::idx_labels({1, 2}));
  CHECK_THROWS_WITH_AS(ctnn::read_idx_images(labels),
                       Contains("labels-as-images: wrong magic number: expected 0x00000803"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::read_idx_images(labels), Contains("found 0x00000801 (an IDX label file)"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_labels(test::idx_images(1, 1, 1, 0x12345678)),
                       Contains("expected 0x00000801 (IDX labels, unsigned bytes, 1 dimension), found 0x12345678"),
                       DataError);
}

TEST_CASE("idx: truncated files report expected and found sizes") {
  auto images = test::idx_images(4, 3, 3);
  images.resize(images.size() - 5);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(images, "short"),
                       Contains("short: truncated file: expected 52 bytes, found 47"), DataError);
  const test::Bytes header_only = {0, 0, 8, 3, 0, 0};
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(header_only), Contains("expected a 16-byte IDX header, found 6"),
                       DataError);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_labels(test::Bytes{0, 0}), Contains("truncated file"), DataError);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_labels(test::Bytes{}), Contains("truncated file"), DataError);
}

TEST_CASE("idx: trailing data is an error") {
  auto labels = test::idx_labels({1, 2, 3});
  labels.push_back(0);
  labels.push_back(0);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_labels(labels, 10, "padded"),
                       Contains("padded: 2 bytes of trailing data after the expected 11 bytes"), DataError);
}

TEST_CASE("idx: absurd dimensions are refused before allocating") {
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(test::idx_images(1, 0, 28)), Contains("absurd dimensions: rows = 0"),
                       DataError);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(test::idx_images(0, 28, 5000)),
                       Contains("absurd dimensions: cols = 5000, expected 1..4096"), DataError);
  test::Bytes huge;
  for (const std::uint32_t word : {0x803u, 0xffffffffu, 4096u, 4096u}) test::append_be32(huge, word);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(huge), Contains("count 4294967295 is over the limit of 10000000"),
                       DataError);
  test::Bytes big;  // a plausible header promising 10M 4096x4096 images, with no data behind it
  for (const std::uint32_t word : {0x803u, 10'000'000u, 4096u, 4096u}) test::append_be32(big, word);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(big), Contains("truncated file: expected 167772160000016 bytes"),
                       DataError);
}

TEST_CASE("idx: a label out of range gives its value and index") {
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_labels(test::idx_labels({0, 1, 2, 3, 4, 12, 6}), 10, "digits"),
                       Contains("digits: label 12 at index 5 is out of range 0..9"), DataError);
  CHECK(ctnn::parse_idx_labels(test::idx_labels({0, 255})).size() == 2);
}

TEST_CASE("idx: image and label counts must match") {
  const test::TempDir dir;
  test::write_file(dir / "images", test::idx_images(3, 2, 2));
  test::write_file(dir / "labels", test::idx_labels({1, 2}));
  CHECK_THROWS_WITH_AS(ctnn::load_idx_dataset(dir / "images", dir / "labels", "tiny"), Contains("has 3 images but"),
                       DataError);
  CHECK_THROWS_WITH_AS(ctnn::load_idx_dataset(dir / "images", dir / "labels", "tiny"),
                       Contains("has 2 labels: image/label count mismatch"), DataError);
}

TEST_CASE("idx: a missing file is named") {
  const test::TempDir dir;
  CHECK_THROWS_WITH_AS(ctnn::read_idx_images(dir / "nope.gz"), Contains("nope.gz: file does not exist"), DataError);
}
