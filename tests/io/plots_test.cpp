// Charts: tick spacing, and that heat maps, image grids and line charts hold what they are
// given, sized to fit, with bad input refused rather than drawn wrong.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <ctnn/io/plots.hpp>

using ctnn::Color;
using ctnn::Picture;

namespace {

int count_pixels(const Picture& picture, Color color) {
  int count = 0;
  for (int y = 0; y < picture.height(); ++y)
    for (int x = 0; x < picture.width(); ++x) count += picture.pixel(x, y) == color;
  return count;
}

constexpr Color series_color{0, 150, 0};

}  // namespace

TEST_CASE("plots: ticks are 1, 2 or 5 times a power of ten") {
  CHECK(ctnn::detail::tick_step(1.0) == doctest::Approx(0.2));
  CHECK(ctnn::detail::tick_step(12.0) == doctest::Approx(2.0));
  CHECK(ctnn::detail::tick_step(0.02) == doctest::Approx(0.002));
  CHECK(ctnn::detail::tick_step(300.0) == doctest::Approx(50.0));
  CHECK(ctnn::detail::next_tick_step(0.002) == doctest::Approx(0.005));
  CHECK(ctnn::detail::next_tick_step(5.0) == doctest::Approx(10.0));
  const std::vector<double> ticks = ctnn::detail::ticks({-0.1, 0.45}, 0.2);
  REQUIRE(ticks.size() == 3);
  CHECK(ticks[0] == 0.0);
  CHECK(ticks[2] == doctest::Approx(0.4));
  CHECK(ctnn::detail::tick_label(0.4, 0.2) == "0.4");
  CHECK(ctnn::detail::tick_label(12, 2) == "12");
  CHECK(ctnn::detail::tick_label(0.004, 0.002) == "0.004");
}

TEST_CASE("plots: a range from the data ends on ticks of the step the chart will use") {
  ctnn::Series accuracy;
  accuracy.x = {1, 2};
  accuracy.y = {91.3, 99.7};  // span 8.4 -> step 1 -> [91, 100], whose span 9 calls for step 2
  const auto ys = [](const ctnn::Series& s) -> const std::vector<double>& { return s.y; };
  const ctnn::AxisRange range = ctnn::detail::data_range(std::vector{accuracy}, ys);
  CHECK(range.low == doctest::Approx(90));
  CHECK(range.high == doctest::Approx(100));
  CHECK(ctnn::detail::tick_step(range.high - range.low) == doctest::Approx(2));

  ctnn::Series single;
  single.x = single.y = {3};
  const ctnn::AxisRange around = ctnn::detail::data_range(std::vector{single}, ys);
  CHECK(around.low < 3);
  CHECK(around.high > 3);
}

TEST_CASE("plots: sequential colours run from near white to dark blue") {
  CHECK(ctnn::sequential_color(0) == Color{247, 251, 255});
  CHECK(ctnn::sequential_color(1) == Color{8, 48, 107});
  CHECK(ctnn::sequential_color(-3) == ctnn::sequential_color(0));
  CHECK(ctnn::sequential_color(std::nan("")) == ctnn::sequential_color(0));
  CHECK(ctnn::sequential_color(7) == ctnn::sequential_color(1));
  CHECK(ctnn::sequential_color(0.7).blue < ctnn::sequential_color(0.3).blue);
}

TEST_CASE("plots: a heat map colours every cell and sizes itself to its labels") {
  ctnn::HeatMap map{.title = "matrix",
                    .row_title = "true",
                    .column_title = "predicted",
                    .row_labels = {"a", "b"},
                    .column_labels = {"a", "b", "c"},
                    .shades = {1, 0, 0, 0, 1, 0.5},
                    .cells = {"5", "0", "0", "0", "7", "2"},
                    .note = ""};
  const Picture picture = ctnn::draw_heat_map(map);
  CHECK(picture.width() > 3 * 48);
  CHECK(picture.height() > 2 * 48);
  // Two dark cells of at least 40x40 pixels (the text takes a few of them).
  CHECK(count_pixels(picture, ctnn::sequential_color(1)) > 2 * 40 * 40);
  CHECK(count_pixels(picture, ctnn::sequential_color(0)) > 3 * 40 * 40);

  // Long column labels turn upward: the map grows taller, not wider per cell.
  ctnn::HeatMap named = map;
  named.column_labels = {"T-shirt/top", "Ankle boot", "Bag"};
  const Picture turned = ctnn::draw_heat_map(named);
  CHECK(turned.width() == picture.width());
  CHECK(turned.height() > picture.height() + 60);

  map.cells.pop_back();
  CHECK_THROWS_WITH_AS(ctnn::draw_heat_map(map), "draw_heat_map: 5 cell texts, expected 6", std::invalid_argument);
}

TEST_CASE("plots: an image grid shows every image at its scale, in rows of `columns`") {
  const std::vector<float> ink(28 * 28, 1.0f);
  ctnn::ImageGrid grid{.title = "", .tiles = {}, .columns = 3, .scale = 2};
  for (int i = 0; i < 7; ++i) grid.tiles.push_back({{ink, 28, 28}, {{"true 4", Color{200, 0, 0}}}});
  const Picture picture = ctnn::draw_image_grid(grid);
  CHECK(count_pixels(picture, ctnn::colors::black) == 7 * 56 * 56);
  CHECK(picture.width() >= 3 * 56);
  CHECK(picture.height() >= 3 * (56 + 24));
  CHECK(count_pixels(picture, Color{200, 0, 0}) > 0);

  // A caption wider than the image widens its column; no tiles still make a picture.
  grid.tiles[0].caption.push_back({"a caption much wider than the image", ctnn::colors::black});
  CHECK(ctnn::draw_image_grid(grid).width() > picture.width());
  CHECK(ctnn::draw_image_grid({.title = "none", .tiles = {}, .columns = 6, .scale = 4}).width() > 0);
  grid.columns = 0;
  CHECK_THROWS_AS(ctnn::draw_image_grid(grid), std::invalid_argument);
}

TEST_CASE("plots: a line chart has the requested size, draws its series inside the frame, and skips NaN") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ctnn::LineChart chart{.title = "curve",
                        .x_label = "x",
                        .y_label = "y",
                        .series = {{"rising", {0, 1, 2, 3}, {0, 1, nan, 3}, series_color, 2, 0, true}},
                        .x_range = std::nullopt,
                        .y_range = std::nullopt,
                        .legend = ctnn::LegendPosition::top_left,
                        .width = 400,
                        .height = 300};
  const Picture picture = ctnn::draw_line_chart(chart);
  CHECK(picture.width() == 400);
  CHECK(picture.height() == 300);
  const int drawn = count_pixels(picture, series_color);
  CHECK(drawn > 100);

  // A range that shows only part of the data clips it to the plot area.
  chart.x_range = ctnn::AxisRange{0, 1};
  chart.y_range = ctnn::AxisRange{0, 1};
  chart.legend = ctnn::LegendPosition::none;
  chart.series[0].markers = false;
  chart.series.push_back({"", {-1e6, 1e6}, {0.5, 0.5}, Color{0, 0, 200}, 1, 0, false});
  const Picture clipped = ctnn::draw_line_chart(chart);
  const int across = count_pixels(clipped, Color{0, 0, 200});
  CHECK(across > 200);
  CHECK(across < 400);

  // Coordinates beyond any pixel precision are survived, if not drawn exactly.
  chart.series.push_back({"", {-1e300, 1e300}, {-1e300, 1e300}, Color{0, 0, 200}, 1, 0, true});
  CHECK(ctnn::draw_line_chart(chart).width() == 400);

  chart.series[0].y.pop_back();
  CHECK_THROWS_AS(ctnn::draw_line_chart(chart), std::invalid_argument);
  chart.series[0].y.push_back(3);
  chart.x_range = ctnn::AxisRange{1, 1};
  CHECK_THROWS_AS(ctnn::draw_line_chart(chart), std::invalid_argument);
  chart.x_range.reset();
  chart.width = 60;
  CHECK_THROWS_AS(ctnn::draw_line_chart(chart), std::invalid_argument);
}

TEST_CASE("plots: side by side adds the widths and keeps the tallest height") {
  const Picture row = ctnn::side_by_side({Picture(30, 20, ctnn::colors::black), Picture(10, 40)});
  CHECK(row.width() == 40);
  CHECK(row.height() == 40);
  CHECK(count_pixels(row, ctnn::colors::black) == 30 * 20);
}
