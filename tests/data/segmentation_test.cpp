// Segmentation of drawn numbers: separated digits in order, a broken stroke and a lifted bar
// merged, touching digits split (by shape, and by a stand-in recogniser through the dynamic
// programme), specks dropped; slanted cut paths; and the edit distance that scores a reading.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

#include <ctnn/data/segmentation.hpp>

#include "support/digit_drawing.hpp"

namespace {

using ctnn::GrayImage;
using namespace ctnn::test;  // Point, draw_polyline, ellipse, seven, page

// A ring 80 wide and 100 tall (MNIST's 0s are 0.9 as wide as tall) whose left edge is at
// `left`, on a 160-row strip.
void draw_ring(GrayImage& coverage, double left, double pen = 8) {
  draw_polyline(coverage, ellipse(left + 40, 80, 40, 50), pen);
}

void draw_bar(GrayImage& coverage, double x, double pen = 8) { draw_polyline(coverage, {{x, 30}, {x, 130}}, pen); }

// A stand-in recogniser: a digit is likely when its box is ring-shaped (88 by 108 with the pen).
double ring_score(const ctnn::DigitSegment& segment) {
  const double aspect = static_cast<double>(segment.box.width) / static_cast<double>(segment.box.height);
  return -std::pow((aspect - 0.8) / 0.1, 2);
}

}  // namespace

TEST_CASE("segment_digits: separated digits come out left to right, each with its own ink") {
  GrayImage coverage(160, 500);
  draw_polyline(coverage, seven(380, 30, 60, 100), 8);  // drawn first, rightmost
  draw_bar(coverage, 60);
  draw_ring(coverage, 200);
  const auto digits = ctnn::segment_digits(coverage);
  REQUIRE(digits.size() == 3);
  const std::size_t drawn[] = {56, 196, 376};  // each left edge is half the pen out
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(digits[i].box.left + 2 >= drawn[i]);
    CHECK(digits[i].box.left <= drawn[i] + 1);
  }
  for (const auto& digit : digits) {
    CHECK(digit.components == 1);
    CHECK_FALSE(digit.split);
    CHECK(digit.ink.width == digit.box.width);
    CHECK(digit.ink.height == digit.box.height);
  }
  CHECK(digits[0].box.width <= 10);                                 // the bar alone
  CHECK(digits[1].box.width == doctest::Approx(89).epsilon(0.05));  // the ring and its pen
}

TEST_CASE("segment_digits: a broken stroke and a lifted bar stay with their digit") {
  GrayImage coverage(160, 400);
  // A 7 whose diagonal starts 6 pixels below its bar: two components, overlapping in columns.
  draw_polyline(coverage, {{40, 30}, {110, 30}}, 8);
  draw_polyline(coverage, {{108, 42}, {70, 130}}, 8);
  // A 5 whose bar was lifted and drawn too far right: a flat fragment overlapping a little.
  draw_polyline(coverage, {{230, 40}, {232, 80}}, 8);
  draw_polyline(coverage, ellipse(255, 102, 25, 24), 8);
  draw_polyline(coverage, {{250, 28}, {310, 26}}, 8);
  const auto digits = ctnn::segment_digits(coverage);
  REQUIRE(digits.size() == 2);
  CHECK(digits[0].components == 2);
  CHECK(digits[1].components >= 2);
  CHECK(digits[1].box.right() >= 310);
}

TEST_CASE("segment_digits: touching digits are split where the ink is thinnest") {
  for (const std::size_t count : {2, 3}) {
    CAPTURE(count);
    GrayImage coverage(160, 100 + 80 * count);
    for (std::size_t i = 0; i < count; ++i) draw_ring(coverage, 30 + 84.0 * static_cast<double>(i));  // strokes touch
    REQUIRE(ctnn::label_ink_components(coverage, 0.5f).components.size() == 1);
    const auto digits = ctnn::segment_digits(coverage);
    REQUIRE(digits.size() == count);
    for (const auto& digit : digits) {
      CHECK(digit.split);
      CHECK(digit.box.width == doctest::Approx(88).epsilon(0.1));
    }
  }
}

TEST_CASE("segment_digits: a single wide digit is not split, and specks are dropped") {
  GrayImage coverage(160, 400);
  draw_polyline(coverage, ellipse(150, 80, 60, 50), 8);  // 1.2 times as wide as tall
  coverage(5, 5) = coverage(150, 390) = coverage(6, 380) = 1;
  const auto digits = ctnn::segment_digits(coverage);
  REQUIRE(digits.size() == 1);
  CHECK(digits[0].box.left >= 80);
  CHECK(ctnn::segment_digits(GrayImage(50, 50)).empty());
  CHECK(ctnn::segment_digits(GrayImage()).empty());
}

TEST_CASE("segment_digits_by_recognition: the score picks the reading among candidate cuts") {
  GrayImage pair(160, 280), single(160, 160);
  draw_ring(pair, 40);
  draw_ring(pair, 124);
  draw_ring(single, 40);
  const auto two = ctnn::segment_digits_by_recognition(pair, ring_score);
  REQUIRE(two.size() == 2);
  CHECK(two[0].box.right() <= two[1].box.left + 12);
  const auto one = ctnn::segment_digits_by_recognition(single, ring_score);
  REQUIRE(one.size() == 1);
  CHECK(one[0].box.width >= 86);
  // A recogniser that refuses everything still gets every piece back, alone.
  const auto refused = ctnn::segment_digits_by_recognition(
      pair, [](const ctnn::DigitSegment&) { return -std::numeric_limits<double>::infinity(); });
  CHECK(refused.size() >= 2);
  // Separate components join only when the score says so and their gap is small.
  GrayImage apart(160, 360);
  draw_ring(apart, 40);
  draw_ring(apart, 220);
  CHECK(ctnn::segment_digits_by_recognition(apart, [](const ctnn::DigitSegment&) { return 0.0; }).size() == 2);
}

TEST_CASE("cut paths lean with slanted digits where no straight cut is clean") {
  // Two parallel slanted strokes 16 pixels apart, each leaning across 40 columns: every column
  // between them crosses ink, but a path along the slant crosses none.
  GrayImage coverage(100, 160);
  draw_polyline(coverage, {{60, 5}, {20, 95}}, 6);
  draw_polyline(coverage, {{80, 5}, {40, 95}}, 6);
  ctnn::SegmentationOptions options;
  const auto components = ctnn::label_ink_components(coverage, options.ink_threshold);
  REQUIRE(components.components.size() == 2);
  ctnn::detail::InkGroup group{ctnn::box_union(components.components[0].box, components.components[1].box), {1, 2}, {}};
  const std::vector<std::uint32_t> group_of{0, 1, 1};
  const std::size_t start = 70 - group.box.left;  // between the strokes at the top
  const auto slanted = ctnn::detail::cut_paths(components, group_of, group, 0, 40);
  const auto straight = ctnn::detail::cut_paths(components, group_of, group, 0, 0);
  CHECK(straight.cost[start] >= 1);  // one stroke crossed
  CHECK(slanted.cost[start] < 1);    // sideways steps only
  // The path keeps to the channel: at the bottom it is 40 columns further left.
  CHECK(slanted.paths[start].front() - slanted.paths[start].back() >= 30);
}

TEST_CASE("prepare_number: each digit prepared, boxes in the image's pixels") {
  GrayImage coverage(160, 500);
  draw_bar(coverage, 60);
  draw_ring(coverage, 200);
  draw_polyline(coverage, seven(380, 30, 60, 100), 8);
  const auto digits = ctnn::prepare_number(page(coverage));
  REQUIRE(digits.size() == 3);
  CHECK(digits[0].inverted);
  CHECK(digits[0].ink_box.left < digits[1].ink_box.left);
  CHECK(digits[1].ink_box.left >= 195);
  CHECK(digits[2].ink_box.left >= 375);
  CHECK(digits[2].ink_box.top >= 25);
  for (const auto& digit : digits)
    CHECK(*std::max_element(digit.pixels.begin(), digit.pixels.end()) == doctest::Approx(1.0f));
  CHECK_THROWS_AS(ctnn::prepare_number(GrayImage(100, 300, 1.0f)), ctnn::NoInkError);
}

TEST_CASE("edit distance: hand-computed cases") {
  CHECK(ctnn::edit_distance("", "") == 0);
  CHECK(ctnn::edit_distance("90210", "90210") == 0);
  CHECK(ctnn::edit_distance("9021", "90210") == 1);    // a digit missed
  CHECK(ctnn::edit_distance("902110", "90210") == 1);  // a digit too many
  CHECK(ctnn::edit_distance("90710", "90210") == 1);   // a digit misread
  CHECK(ctnn::edit_distance("", "123") == 3);
  CHECK(ctnn::edit_distance("123", "") == 3);
  CHECK(ctnn::edit_distance("1234", "1324") == 2);  // a swap is two substitutions
  CHECK(ctnn::edit_distance("7712", "1277") == 4);
  CHECK(ctnn::edit_distance("12345", "2345") == 1);
}
