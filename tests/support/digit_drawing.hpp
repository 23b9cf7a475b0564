// A small renderer for tests of digit preparation and segmentation: anti-aliased pen strokes
// along polylines and ellipses, drawn as coverage (0 paper, 1 ink), then turned into a page of
// either polarity.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numbers>
#include <vector>

#include <ctnn/io/image.hpp>

namespace ctnn::test {

struct Point {
  double x, y;  // pixels, y down
};

// Adds the pen's coverage along the polyline: a pixel whose centre lies d from the path is
// covered pen/2 + 1/2 - d, clamped to [0, 1].
inline void draw_polyline(GrayImage& coverage, const std::vector<Point>& points, double pen) {
  const double radius = pen / 2;
  for (std::size_t i = 0; i + 1 < points.size(); ++i) {
    const Point a = points[i], b = points[i + 1];
    const double dx = b.x - a.x, dy = b.y - a.y, length2 = dx * dx + dy * dy;
    const auto low = [&](double u, double v) { return std::max(0.0, std::floor(std::min(u, v) - radius - 1)); };
    const auto high = [&](double u, double v, std::size_t size) {
      return std::min(static_cast<double>(size) - 1, std::ceil(std::max(u, v) + radius + 1));
    };
    for (auto y = static_cast<std::ptrdiff_t>(low(a.y, b.y));
         y <= static_cast<std::ptrdiff_t>(high(a.y, b.y, coverage.height)); ++y)
      for (auto x = static_cast<std::ptrdiff_t>(low(a.x, b.x));
           x <= static_cast<std::ptrdiff_t>(high(a.x, b.x, coverage.width)); ++x) {
        const double px = static_cast<double>(x) + 0.5 - a.x, py = static_cast<double>(y) + 0.5 - a.y;
        const double t = length2 > 0 ? std::clamp((px * dx + py * dy) / length2, 0.0, 1.0) : 0.0;
        const double distance = std::hypot(px - t * dx, py - t * dy);
        float& pixel = coverage(static_cast<std::size_t>(y), static_cast<std::size_t>(x));
        pixel = std::max(pixel, static_cast<float>(std::clamp(radius + 0.5 - distance, 0.0, 1.0)));
      }
  }
}

// The closed polyline of an ellipse centred at (cx, cy) with radii rx and ry.
inline std::vector<Point> ellipse(double cx, double cy, double rx, double ry) {
  std::vector<Point> points;
  for (int i = 0; i <= 90; ++i) {
    const double angle = 2 * std::numbers::pi * i / 90;
    points.push_back({cx + rx * std::cos(angle), cy + ry * std::sin(angle)});
  }
  return points;
}

// A 7 in the box (left, top, width, height).
inline std::vector<Point> seven(double left, double top, double width, double height) {
  return {{left, top}, {left + width, top}, {left + 0.35 * width, top + height}};
}

// A page of luminance: paper where coverage is 0, ink where it is 1.
inline GrayImage page(const GrayImage& coverage, float paper = 1, float ink = 0) {
  GrayImage result(coverage.height, coverage.width);
  for (std::size_t i = 0; i < coverage.size(); ++i) result.pixels[i] = paper + (ink - paper) * coverage.pixels[i];
  return result;
}

}  // namespace ctnn::test
