// IDX through gzip: a round trip written with zlib's gz API, and corrupt or oversized streams.
#include <doctest/doctest.h>

#include <ctnn/io/idx.hpp>

#include "io/io_test_support.hpp"

using ctnn::DataError;
using doctest::Contains;
namespace test = ctnn::test;

TEST_CASE("idx gzip: a gzipped file reads like the raw one") {
  const test::TempDir dir;
  const auto raw = test::idx_images(5, 28, 28);
  const auto images = ctnn::read_idx_images(test::write_gzip_file(dir / "images.gz", raw));
  CHECK(images.count == 5);
  CHECK(images.rows == 28);
  CHECK(std::equal(images.pixels.begin(), images.pixels.end(), raw.begin() + 16, raw.end()));
  const auto labels = ctnn::read_idx_labels(test::write_gzip_file(dir / "labels.gz", test::idx_labels({7, 1})));
  CHECK(labels == std::vector<std::uint8_t>{7, 1});
}

TEST_CASE("idx gzip: two concatenated gzip members decode as one stream") {
  const test::TempDir dir;
  const auto raw = test::idx_labels({1, 2, 3, 4});
  auto bytes = test::read_file(test::write_gzip_file(dir / "a.gz", std::span(raw).first(6)));
  const auto second = test::read_file(test::write_gzip_file(dir / "b.gz", std::span(raw).subspan(6)));
  bytes.insert(bytes.end(), second.begin(), second.end());
  CHECK(ctnn::parse_idx_labels(bytes) == std::vector<std::uint8_t>{1, 2, 3, 4});
}

TEST_CASE("idx gzip: corrupt and truncated streams give zlib's message") {
  const test::TempDir dir;
  const auto good = test::read_file(test::write_gzip_file(dir / "good.gz", test::idx_images(4, 8, 8)));
  auto corrupt = good;
  for (std::size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] ^= 0x5a;
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(corrupt, "bad.gz"), Contains("bad.gz: corrupt gzip data: "), DataError);
  auto bad_crc = good;
  bad_crc[bad_crc.size() - 6] ^= 1;
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(bad_crc), Contains("incorrect data check"), DataError);
  const auto truncated = std::span(good).first(good.size() / 2);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(truncated), Contains("stream ends early"), DataError);
  auto trailing = good;
  trailing.push_back(0);
  CHECK_THROWS_WITH_AS(ctnn::parse_idx_images(trailing), Contains("1 byte of trailing data after the gzip stream"),
                       DataError);
}

TEST_CASE("idx gzip: decompressed data over the cap is refused") {
  const test::TempDir dir;
  const auto bytes = test::read_file(test::write_gzip_file(dir / "big.gz", test::Bytes(1'000'000)));
  CHECK(ctnn::gunzip(bytes).size() == 1'000'000);
  CHECK(ctnn::gunzip(bytes, "exact", 1'000'000).size() == 1'000'000);
  CHECK_THROWS_WITH_AS(ctnn::gunzip(bytes, "big.gz", 999'999),
                       Contains("big.gz: decompressed size exceeds the cap of 999999 bytes"), DataError);
}

TEST_CASE("idx gzip: errors inside the stream name the decompressed file") {
  const test::TempDir dir;
  auto raw = test::idx_labels({1, 2});
  raw.push_back(9);
  CHECK_THROWS_WITH_AS(ctnn::read_idx_labels(test::write_gzip_file(dir / "labels.gz", raw)),
                       Contains("labels.gz (decompressed): 1 byte of trailing data"), DataError);
}
