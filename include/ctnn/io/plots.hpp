// Report charts drawn on a Picture (io/picture.hpp): a heat map with text in its cells, a grid of
// grayscale images with captions, and a line chart with axes, ticks and a legend.
// Each is described by a plain struct and drawn by one function that sizes the picture to fit
// its labels, so a caller states what to show, never where. All text is drawn at twice the font's
// size (capitals 14 pixels high), which reads well at the sizes these pictures are viewed.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctnn/io/picture.hpp>

namespace ctnn {

// Ten colours that stay apart for ten classes: Tableau 10, matplotlib's default cycle.
inline constexpr std::array<Color, 10> category_colors{{{31, 119, 180},
                                                        {255, 127, 14},
                                                        {44, 160, 44},
                                                        {214, 39, 40},
                                                        {148, 103, 189},
                                                        {140, 86, 75},
                                                        {227, 119, 194},
                                                        {127, 127, 127},
                                                        {188, 189, 34},
                                                        {23, 190, 207}}};

// A shade for t in [0, 1], from white through light blue to dark blue (matplotlib's "Blues").
inline Color sequential_color(double t) noexcept {
  constexpr Color light{247, 251, 255}, middle{107, 174, 214}, dark{8, 48, 107};
  t = t > 0 ? std::min(t, 1.0) : 0.0;  // NaN: the lightest
  return t < 0.5 ? mix(light, middle, 2 * t) : mix(middle, dark, 2 * t - 1);
}

struct TextLine {
  std::string text;
  Color color = colors::black;
};

struct HeatMap {
  std::string title;
  std::string row_title, column_title;  // e.g. "true class" (left, upward) and "predicted class" (below)
  std::vector<std::string> row_labels, column_labels;
  std::vector<double> shades;      // rows x columns, row-major: each cell's colour, sequential_color(shade)
  std::vector<std::string> cells;  // rows x columns texts centred in the cells (grey where the shade is 0)
  std::string note;                // a line under the map, e.g. how the shades are computed
};

struct GridTile {
  ImageView image;
  std::vector<TextLine> caption;  // lines under the image
};

struct ImageGrid {
  std::string title;
  std::vector<GridTile> tiles;  // in reading order
  std::size_t columns = 6;
  int scale = 4;  // each image pixel as a scale x scale block
};

struct Series {
  std::string name;  // the legend entry; empty: not in the legend
  std::vector<double> x, y;
  Color color = colors::black;
  int thickness = 2;
  int dash = 0;          // pixels on, then off; 0: solid
  bool markers = false;  // a square at every point
};

struct AxisRange {
  double low = 0, high = 1;
};

enum class LegendPosition { none, top_left, top_right, bottom_left, bottom_right };

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<Series> series;                 // drawn in order; points with a non-finite coordinate are skipped
  std::optional<AxisRange> x_range, y_range;  // default: the data's, widened to whole ticks
  LegendPosition legend = LegendPosition::top_right;
  int width = 720, height = 540;  // the whole picture, in pixels
};

namespace detail {

inline constexpr int text_scale = 2;
inline constexpr Color axis_color{64, 64, 64};
inline constexpr Color grid_color{228, 228, 228};
inline constexpr int padding = 10;
inline constexpr int text_height = Picture::cap_height * text_scale;
inline constexpr int line_height = Picture::line_pitch * text_scale;

inline int text_width(const std::string& text) { return Picture::text_size(text, text_scale).width; }

// A bold title: the text drawn twice, one pixel apart.
inline void draw_title(Picture& picture, const std::string& title, int y) {
  const int x = (picture.width() - text_width(title)) / 2;
  picture.draw_text(x, y, title, colors::black, text_scale);
  picture.draw_text(x + 1, y, title, colors::black, text_scale);
}

inline void check_cells(std::size_t expected, std::size_t found, const char* what) {
  if (found != expected)
    throw std::invalid_argument(std::string("draw_heat_map: ") + std::to_string(found) + " " + what + ", expected " +
                                std::to_string(expected));
}

// A tick spacing of 1, 2 or 5 times a power of ten that cuts `span` into about six parts.
inline double tick_step(double span) noexcept {
  const double raw = span / 6;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  const double residual = raw / magnitude;
  return magnitude * (residual < 1.5 ? 1 : residual < 3.5 ? 2 : residual < 7.5 ? 5 : 10);
}

// The tick spacing after `step` in the series 1, 2, 5, 10, 20, ...
inline double next_tick_step(double step) noexcept {
  const double magnitude = std::pow(10.0, std::floor(std::log10(step) + 1e-9));
  const double mantissa = std::round(step / magnitude);
  return magnitude * (mantissa < 2 ? 2 : mantissa < 5 ? 5 : 10);
}

// Tick values in [range.low, range.high] at multiples of step.
inline std::vector<double> ticks(AxisRange range, double step) {
  std::vector<double> values;
  const double first = std::ceil(range.low / step - 1e-9);
  for (double k = first; k * step <= range.high + step * 1e-9 && values.size() < 100; ++k)
    values.push_back(std::abs(k) < 1e-9 ? 0.0 : k * step);
  return values;
}

inline std::string tick_label(double value, double step) {
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

// The range of the finite values of every series along one axis, widened to whole ticks; a
// single value v becomes [v - 0.5, v + 0.5] first.
template <class Values>
AxisRange data_range(const std::vector<Series>& series, Values values) {
  double low = std::numeric_limits<double>::infinity(), high = -low;
  for (const Series& s : series)
    for (const double v : values(s)) {
      if (!std::isfinite(v)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  if (!(low <= high)) return {0, 1};
  if (high - low < 1e-12 * std::max(1.0, std::abs(low))) {
    low -= 0.5;
    high += 0.5;
  }
  // Widening can call for a coarser step, which the chart will use: widen again to its multiples.
  AxisRange range{low, high};
  for (int round = 0; round < 4; ++round) {
    const double step = tick_step(range.high - range.low);
    range = {std::floor(low / step + 1e-9) * step, std::ceil(high / step - 1e-9) * step};
  }
  return range;
}

// Clips the segment (x0, y0)-(x1, y1) to [0, width] x [0, height] (Liang-Barsky); false if
// nothing is left.
inline bool clip_segment(double& x0, double& y0, double& x1, double& y1, double width, double height) noexcept {
  const double dx = x1 - x0, dy = y1 - y0;
  double enter = 0, leave = 1;
  const double p[4] = {-dx, dx, -dy, dy}, q[4] = {x0, width - x0, y0, height - y0};
  for (int i = 0; i < 4; ++i) {
    if (p[i] == 0) {
      if (q[i] < 0) return false;
      continue;
    }
    const double t = q[i] / p[i];
    if (p[i] < 0)
      enter = std::max(enter, t);
    else
      leave = std::min(leave, t);
  }
  if (enter > leave) return false;
  x1 = x0 + leave * dx;
  y1 = y0 + leave * dy;
  x0 += enter * dx;
  y0 += enter * dy;
  return true;
}

inline void draw_legend(Picture& picture, const std::vector<Series>& series, LegendPosition position, int left, int top,
                        int right, int bottom) {
  std::vector<const Series*> entries;
  for (const Series& s : series)
    if (!s.name.empty()) entries.push_back(&s);
  if (entries.empty() || position == LegendPosition::none) return;
  constexpr int sample = 28;  // the length of the line shown beside each name
  int names = 0;
  for (const Series* s : entries) names = std::max(names, text_width(s->name));
  const int width = padding * 3 + sample + names;
  const int height = padding * 2 + static_cast<int>(entries.size()) * line_height - (line_height - text_height);
  const bool at_left = position == LegendPosition::top_left || position == LegendPosition::bottom_left;
  const bool at_top = position == LegendPosition::top_left || position == LegendPosition::top_right;
  const int x = at_left ? left + padding : right - padding - width;
  const int y = at_top ? top + padding : bottom - padding - height;
  picture.fill_rect(x, y, width, height, colors::white);
  picture.draw_rect(x, y, width, height, {190, 190, 190});
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Series& s = *entries[i];
    const int row = y + padding + static_cast<int>(i) * line_height;
    const int middle = row + text_height / 2;
    picture.draw_line(x + padding, middle, x + padding + sample, middle, s.color, s.thickness, s.dash);
    if (s.markers) picture.fill_rect(x + padding + sample / 2 - 3, middle - 3, 7, 7, s.color);
    picture.draw_text(x + 2 * padding + sample, row, s.name, colors::black, text_scale);
  }
}

}  // namespace detail

// A grid of coloured cells with text, row labels on the left, column labels below (turned
// upward when they are wider than a cell), titles for both axes, the title above and the note
// below.
inline Picture draw_heat_map(const HeatMap& map) {
  using namespace detail;
  const std::size_t rows = map.row_labels.size(), columns = map.column_labels.size();
  check_cells(rows * columns, map.shades.size(), "shades");
  check_cells(rows * columns, map.cells.size(), "cell texts");
  if (rows == 0 || columns == 0) throw std::invalid_argument("draw_heat_map: no rows or no columns");

  int cell = 48;
  for (const std::string& text : map.cells) cell = std::max(cell, text_width(text) + 2 * padding);
  int row_labels = 0, column_labels = 0;
  for (const std::string& label : map.row_labels) row_labels = std::max(row_labels, text_width(label));
  for (const std::string& label : map.column_labels) column_labels = std::max(column_labels, text_width(label));
  const bool upward_columns = column_labels > cell - 4;
  const int column_label_height = upward_columns ? column_labels : text_height;

  const int grid_left = padding * 2 + (map.row_title.empty() ? 0 : text_height + padding * 2) + row_labels + padding;
  const int grid_top = padding * 2 + (map.title.empty() ? 0 : text_height + padding * 2);
  const int grid_width = cell * static_cast<int>(columns), grid_height = cell * static_cast<int>(rows);
  int width = grid_left + grid_width + padding * 3;
  width = std::max({width, text_width(map.title) + 4 * padding, text_width(map.note) + 4 * padding});
  const int below = padding + column_label_height + (map.column_title.empty() ? 0 : padding * 2 + text_height) +
                    (map.note.empty() ? 0 : padding * 2 + text_height) + padding * 2;
  Picture picture(width, grid_top + grid_height + below);

  if (!map.title.empty()) draw_title(picture, map.title, padding * 2);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < columns; ++c) {
      const std::size_t i = r * columns + c;
      const int x = grid_left + static_cast<int>(c) * cell, y = grid_top + static_cast<int>(r) * cell;
      picture.fill_rect(x, y, cell, cell, sequential_color(map.shades[i]));
      picture.draw_rect(x, y, cell + 1, cell + 1, {210, 215, 222});
      const Color ink = map.shades[i] > 0.55 ? colors::white : map.shades[i] > 0 ? colors::black : Color{150, 150, 150};
      picture.draw_text(x + (cell - text_width(map.cells[i])) / 2, y + (cell - text_height) / 2, map.cells[i], ink,
                        text_scale);
    }
  for (std::size_t r = 0; r < rows; ++r) {
    const int y = grid_top + static_cast<int>(r) * cell + (cell - text_height) / 2;
    picture.draw_text(grid_left - padding - text_width(map.row_labels[r]), y, map.row_labels[r], colors::black,
                      text_scale);
  }
  const int labels_top = grid_top + grid_height + padding;
  for (std::size_t c = 0; c < columns; ++c) {
    const std::string& label = map.column_labels[c];
    const int center = grid_left + static_cast<int>(c) * cell + cell / 2;
    if (upward_columns)  // right-aligned against the grid, reading upward
      picture.draw_text(center - text_height / 2, labels_top + text_width(label), label, colors::black, text_scale,
                        TextDirection::upward);
    else
      picture.draw_text(center - text_width(label) / 2, labels_top, label, colors::black, text_scale);
  }
  int y = labels_top + column_label_height + padding * 2;
  if (!map.column_title.empty()) {
    picture.draw_text(grid_left + (grid_width - text_width(map.column_title)) / 2, y, map.column_title, axis_color,
                      text_scale);
    y += text_height + padding * 2;
  }
  if (!map.note.empty()) picture.draw_text((width - text_width(map.note)) / 2, y, map.note, axis_color, text_scale);
  if (!map.row_title.empty())
    picture.draw_text(padding * 2, grid_top + (grid_height + text_width(map.row_title)) / 2, map.row_title, axis_color,
                      text_scale, TextDirection::upward);
  return picture;
}

// Images in rows of `columns`, each framed and centred above its caption. Tiles are as wide as
// the widest image or caption line, so long class names never overlap.
inline Picture draw_image_grid(const ImageGrid& grid) {
  using namespace detail;
  if (grid.columns == 0 || grid.scale < 1)
    throw std::invalid_argument("draw_image_grid: columns and scale must be positive");
  int image_width = 0, image_height = 0, caption_width = 0;
  std::size_t caption_lines = 0;
  for (const GridTile& tile : grid.tiles) {
    image_width = std::max(image_width, static_cast<int>(tile.image.width) * grid.scale);
    image_height = std::max(image_height, static_cast<int>(tile.image.height) * grid.scale);
    caption_lines = std::max(caption_lines, tile.caption.size());
    for (const TextLine& line : tile.caption) caption_width = std::max(caption_width, text_width(line.text));
  }
  const int tile_width = std::max(image_width + 2, caption_width) + padding * 3;
  const int tile_height = image_height + 2 + padding + static_cast<int>(caption_lines) * line_height + padding * 2;
  const std::size_t columns = std::min(grid.columns, std::max<std::size_t>(grid.tiles.size(), 1));
  const std::size_t rows = (grid.tiles.size() + columns - 1) / columns;
  const int top = padding * 2 + (grid.title.empty() ? 0 : text_height + padding * 2);
  const std::string empty_note = "(no images)";
  const int width = std::max({static_cast<int>(columns) * tile_width + padding * 2,
                              text_width(grid.title) + padding * 4, text_width(empty_note) + padding * 4});
  const int height = top + std::max(static_cast<int>(rows) * tile_height, text_height + padding * 2) + padding;
  Picture picture(width, height);
  if (!grid.title.empty()) draw_title(picture, grid.title, padding * 2);
  if (grid.tiles.empty())
    picture.draw_text((width - text_width(empty_note)) / 2, top, empty_note, axis_color, text_scale);
  const int left = (width - static_cast<int>(columns) * tile_width) / 2;
  for (std::size_t i = 0; i < grid.tiles.size(); ++i) {
    const GridTile& tile = grid.tiles[i];
    const int x = left + static_cast<int>(i % columns) * tile_width;
    const int y = top + static_cast<int>(i / columns) * tile_height;
    const int shown_width = static_cast<int>(tile.image.width) * grid.scale;
    const int shown_height = static_cast<int>(tile.image.height) * grid.scale;
    const int image_x = x + (tile_width - shown_width) / 2, image_y = y + (image_height - shown_height) / 2;
    picture.draw_image(tile.image, image_x, image_y + 1, grid.scale);
    picture.draw_rect(image_x - 1, image_y, shown_width + 2, shown_height + 2, {170, 170, 170});
    for (std::size_t line = 0; line < tile.caption.size(); ++line) {
      const TextLine& text = tile.caption[line];
      picture.draw_text(x + (tile_width - text_width(text.text)) / 2,
                        y + image_height + 2 + padding + static_cast<int>(line) * line_height, text.text, text.color,
                        text_scale);
    }
  }
  return picture;
}

// Series as lines (and markers) over light grid lines, inside a framed plot area with ticks,
// tick labels, axis labels, the title above and the legend in a corner of the plot area.
inline Picture draw_line_chart(const LineChart& chart) {
  using namespace detail;
  for (const Series& s : chart.series)
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("draw_line_chart: series \"" + s.name + "\" has " + std::to_string(s.x.size()) +
                                  " x values and " + std::to_string(s.y.size()) + " y values");
  const auto xs = [](const Series& s) -> const std::vector<double>& { return s.x; };
  const auto ys = [](const Series& s) -> const std::vector<double>& { return s.y; };
  AxisRange x_range = chart.x_range.value_or(data_range(chart.series, xs));
  AxisRange y_range = chart.y_range.value_or(data_range(chart.series, ys));
  if (!(x_range.low < x_range.high) || !(y_range.low < y_range.high))
    throw std::invalid_argument("draw_line_chart: an axis range is empty or not finite");
  double x_step = tick_step(x_range.high - x_range.low), y_step = tick_step(y_range.high - y_range.low);
  std::vector<double> x_ticks = ticks(x_range, x_step), y_ticks = ticks(y_range, y_step);

  constexpr int tick_length = 6;
  int y_labels = 0, x_labels = 0;
  for (const double v : y_ticks) y_labels = std::max(y_labels, text_width(tick_label(v, y_step)));
  for (const double v : x_ticks) x_labels = std::max(x_labels, text_width(tick_label(v, x_step)));
  const int left =
      padding * 2 + (chart.y_label.empty() ? 0 : text_height + padding * 2) + y_labels + padding + tick_length;
  const int top = padding * 2 + (chart.title.empty() ? 0 : text_height + padding * 2);
  const int right = chart.width - std::max(padding * 3, x_labels / 2 + padding * 2);
  const int bottom = chart.height - (padding * 2 + (chart.x_label.empty() ? 0 : text_height + padding * 2) +
                                     text_height + padding + tick_length);
  if (right - left < 40 || bottom - top < 40)
    throw std::invalid_argument("draw_line_chart: " + std::to_string(chart.width) + "x" + std::to_string(chart.height) +
                                " pixels leave no room for the plot");
  Picture picture(chart.width, chart.height);

  // Fewer ticks where their labels would touch.
  constexpr int inset = 4;
  const int plot_width = right - left, plot_height = bottom - top;
  const auto widest_label = [](const std::vector<double>& values, double step) {
    int widest = 0;
    for (const double v : values) widest = std::max(widest, text_width(tick_label(v, step)));
    return widest;
  };
  while (x_ticks.size() > 2 && (plot_width - 2 * inset) * x_step / (x_range.high - x_range.low) <
                                   widest_label(x_ticks, x_step) + 2 * padding) {
    x_step = next_tick_step(x_step);
    x_ticks = ticks(x_range, x_step);
  }
  while (y_ticks.size() > 2 &&
         (plot_height - 2 * inset) * y_step / (y_range.high - y_range.low) < text_height + 2 * padding) {
    y_step = next_tick_step(y_step);
    y_ticks = ticks(y_range, y_step);
  }

  // Data are mapped a few pixels inside the frame, so lines along a range's edge stay visible.
  const auto to_x = [&](double v) {
    return inset + (v - x_range.low) / (x_range.high - x_range.low) * (plot_width - 1 - 2 * inset);
  };
  const auto to_y = [&](double v) {
    return inset + (y_range.high - v) / (y_range.high - y_range.low) * (plot_height - 1 - 2 * inset);
  };
  Picture plot(plot_width, plot_height);
  for (const double v : x_ticks) {
    const int x = static_cast<int>(std::lround(to_x(v)));
    plot.fill_rect(x, 0, 1, plot_height, grid_color);
  }
  for (const double v : y_ticks) {
    const int y = static_cast<int>(std::lround(to_y(v)));
    plot.fill_rect(0, y, plot_width, 1, grid_color);
  }
  for (const Series& s : chart.series)
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      const bool finite = std::isfinite(s.x[i]) && std::isfinite(s.y[i]);
      if (s.markers && finite && std::abs(to_x(s.x[i])) < 1e6 && std::abs(to_y(s.y[i])) < 1e6)
        plot.fill_rect(static_cast<int>(std::lround(to_x(s.x[i]))) - 3, static_cast<int>(std::lround(to_y(s.y[i]))) - 3,
                       7, 7, s.color);
      if (i == 0 || !finite || !std::isfinite(s.x[i - 1]) || !std::isfinite(s.y[i - 1])) continue;
      double x0 = to_x(s.x[i - 1]), y0 = to_y(s.y[i - 1]), x1 = to_x(s.x[i]), y1 = to_y(s.y[i]);
      if (!clip_segment(x0, y0, x1, y1, plot_width - 1, plot_height - 1)) continue;
      plot.draw_line(static_cast<int>(std::lround(x0)), static_cast<int>(std::lround(y0)),
                     static_cast<int>(std::lround(x1)), static_cast<int>(std::lround(y1)), s.color, s.thickness,
                     s.dash);
    }
  picture.draw_picture(plot, left, top);
  picture.draw_rect(left - 1, top - 1, plot_width + 2, plot_height + 2, axis_color);

  for (const double v : x_ticks) {
    const int x = left + static_cast<int>(std::lround(to_x(v)));
    picture.fill_rect(x, bottom + 1, 1, tick_length, axis_color);
    const std::string label = tick_label(v, x_step);
    picture.draw_text(x - text_width(label) / 2, bottom + 1 + tick_length + padding / 2, label, axis_color, text_scale);
  }
  for (const double v : y_ticks) {
    const int y = top + static_cast<int>(std::lround(to_y(v)));
    picture.fill_rect(left - 1 - tick_length, y, tick_length, 1, axis_color);
    const std::string label = tick_label(v, y_step);
    picture.draw_text(left - 1 - tick_length - padding / 2 - text_width(label), y - text_height / 2, label, axis_color,
                      text_scale);
  }
  if (!chart.title.empty()) draw_title(picture, chart.title, padding * 2);
  if (!chart.x_label.empty())
    picture.draw_text(left + (plot_width - text_width(chart.x_label)) / 2, chart.height - padding * 2 - text_height,
                      chart.x_label, colors::black, text_scale);
  if (!chart.y_label.empty())
    picture.draw_text(padding * 2, top + (plot_height + text_width(chart.y_label)) / 2, chart.y_label, colors::black,
                      text_scale, TextDirection::upward);
  draw_legend(picture, chart.series, chart.legend, left, top, right, bottom);
  return picture;
}

// Pictures side by side, top-aligned, on white: for charts that belong together.
inline Picture side_by_side(const std::vector<Picture>& pictures) {
  int width = 0, height = 1;
  for (const Picture& p : pictures) {
    width += p.width();
    height = std::max(height, p.height());
  }
  Picture row(std::max(width, 1), height);
  int x = 0;
  for (const Picture& p : pictures) {
    row.draw_picture(p, x, 0);
    x += p.width();
  }
  return row;
}

}  // namespace ctnn
