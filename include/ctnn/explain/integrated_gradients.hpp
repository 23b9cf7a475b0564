// Integrated gradients (Sundararajan, Taly & Yan 2017, equation 1): the attribution of pixel i to
// the score S of a class at image x, against a baseline x', is
//   IG_i = (x_i - x'_i) * integral over a in [0, 1] of dS/dx_i (x' + a (x - x')) da,
// and by the fundamental theorem of calculus along that path the attributions sum to
// S(x) - S(x') (completeness, their proposition 1). The integral is a sum over `steps` points of
// the path (their equation 3 is the right Riemann sum; the trapezoid rule is the default here, as
// it is second order for a smooth net and includes both ends, whose scores completeness needs).
// The points go through the workspace as batches; their gradients are summed in double in path
// order, so the result depends on neither the batch size nor the thread count.
//
// The baseline is an image in pixel units and goes through the same normalization as the image:
// the all-zero baseline is MNIST's empty background, not a normalized zero (which would be a
// faint grey image). What is left of completeness, sum(IG) - (S(x) - S(x')), is the error of the
// quadrature (for a ReLU net, mostly where the path crosses a kink) plus float rounding.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/explain/score.hpp>

namespace ctnn {

enum class PathRule {
  trapezoid,      // a = 0, 1/m, ..., 1, the ends weighted 1/(2m)
  right_riemann,  // a = 1/m, ..., 1 (Sundararajan et al.'s equation 3)
  midpoint,       // a = (k + 1/2)/m
};

inline std::string_view path_rule_name(PathRule rule) noexcept {
  switch (rule) {
    case PathRule::trapezoid:
      return "trapezoid";
    case PathRule::right_riemann:
      return "right-riemann";
    case PathRule::midpoint:
      return "midpoint";
  }
  return "?";
}

struct IntegratedGradientsOptions {
  Score score = Score::logit;
  std::size_t steps = 64;  // m; the paper finds 20 to 300 enough for completeness within 5%
  PathRule rule = PathRule::trapezoid;
};

struct IntegratedGradients {
  std::vector<float> attribution;  // IG_i per pixel, in units of the score
  double score = 0;                // S(x)
  double baseline_score = 0;       // S(x')
  double attribution_sum = 0;      // sum of IG_i, in double
  // sum(IG) - (S(x) - S(x')): zero for an exact integral.
  double completeness_gap() const noexcept { return attribution_sum - (score - baseline_score); }
};

namespace detail {

struct PathPoint {
  double alpha, weight;
};

// The quadrature points of `rule` with m steps, and the ends (weight 0 where the rule leaves them
// out), in path order.
inline std::vector<PathPoint> path_points(PathRule rule, std::size_t steps) {
  if (steps == 0) throw std::invalid_argument("integrated_gradients: steps must be at least 1");
  const double m = static_cast<double>(steps);
  std::vector<PathPoint> points;
  switch (rule) {
    case PathRule::trapezoid:
      for (std::size_t k = 0; k <= steps; ++k)
        points.push_back({static_cast<double>(k) / m, (k == 0 || k == steps ? 0.5 : 1.0) / m});
      break;
    case PathRule::right_riemann:
      points.push_back({0.0, 0.0});
      for (std::size_t k = 1; k <= steps; ++k) points.push_back({static_cast<double>(k) / m, 1.0 / m});
      break;
    case PathRule::midpoint:
      points.push_back({0.0, 0.0});
      for (std::size_t k = 0; k < steps; ++k) points.push_back({(static_cast<double>(k) + 0.5) / m, 1.0 / m});
      points.push_back({1.0, 0.0});
      break;
  }
  return points;
}

}  // namespace detail

// Integrated gradients of class `target` at `image` against `baseline` (both pixel units,
// in_shape::size values; an empty baseline is the all-zero image). ws's contents are scratch.
// Throws std::invalid_argument for wrong sizes, zero steps, a class the net does not have or an
// unusable normalization.
template <class NetType, std::size_t Batch>
IntegratedGradients integrated_gradients(NetType& net, Workspace<NetType, Batch>& ws, std::span<const float> image,
                                         std::span<const float> baseline, Normalization normalization,
                                         std::size_t target, const IntegratedGradientsOptions& options = {}) {
  constexpr std::size_t size = NetType::in_shape::size;
  detail::check_image_size("the image", image.size(), size);
  const std::vector<float> zeros(baseline.empty() ? size : 0, 0.0f);
  if (baseline.empty()) baseline = zeros;
  detail::check_image_size("the baseline", baseline.size(), size);
  const std::vector<detail::PathPoint> points = detail::path_points(options.rule, options.steps);

  // x' + a (x - x') in double, which gives x and x' back exactly at a = 1 and a = 0.
  const auto on_path = [&](std::size_t k, std::span<float> pixels) {
    const double alpha = points[k].alpha;
    for (std::size_t i = 0; i < size; ++i)
      pixels[i] = static_cast<float>(baseline[i] + alpha * (static_cast<double>(image[i]) - baseline[i]));
  };
  IntegratedGradients result;
  std::vector<double> integral(size, 0.0);
  batched_score_gradients(net, ws, normalization, options.score, target, points.size(), on_path,
                          [&](std::size_t k, double score, std::span<const float> gradient) {
                            if (points[k].alpha == 0.0) result.baseline_score = score;
                            if (points[k].alpha == 1.0) result.score = score;
                            if (points[k].weight == 0.0) return;
                            for (std::size_t i = 0; i < size; ++i) integral[i] += points[k].weight * gradient[i];
                          });
  result.attribution.resize(size);
  for (std::size_t i = 0; i < size; ++i) {
    const double attribution = (static_cast<double>(image[i]) - baseline[i]) * integral[i];
    result.attribution[i] = static_cast<float>(attribution);
    result.attribution_sum += attribution;
  }
  return result;
}

}  // namespace ctnn
