// The one finite-difference gradient check every layer passes (dlib's test_layer, llm.c's
// check_tensor). A layer is bound, initialized and given a random input; the scalar loss is
// L = sum_i r_i y_i for a fixed random r, so dL/dy = r. One backward gives the analytic input and
// parameter gradients, which are compared entry by entry with central differences
//   dL/dv ~ (L(v + h) - L(v - h)) / ((v + h) - (v - h)),
// where the forward runs in float (it is the code under test) and L is accumulated in double.
// The denominator uses the perturbed values as actually stored in float, so the rounding of
// v +- h costs nothing.
//
// Tolerance (mixed absolute/relative, per entry):
//   |analytic - numerical| <= relative_tolerance * max(|analytic|, |numerical|)
//                             + absolute_tolerance * (largest |entry| of that gradient tensor),
// with h = 5e-3 (relative to max(1, |v|)), relative_tolerance = 5e-3, absolute_tolerance = 5e-4.
// Why: the forward is float, so each output carries a rounding error of a few ulp (~1e-7
// relative). Only the outputs a coordinate reaches change between L(v + h) and L(v - h) (the
// others are recomputed bit for bit), so the difference quotient carries an absolute error of
// about 1e-7 sqrt(outputs reached) |y| / h, which grows as h shrinks. The truncation error of
// the central difference, h^2 y''' / 6 per output reached, grows with h: it is zero for
// piecewise-linear layers between kinks, and the larger term for Tanh, Sigmoid and BatchNorm
// (about 1e-4 at h = 1e-2). At h = 5e-3 both stay near 3e-5 of a gradient of order 1, and the
// worst entries measured over every layer test sit at about 0.13 of the limit. A wrong gradient
// (a missing factor or term, a transposed index, a lost accumulation) is off by far more, and
// even a uniform 1% error fails: the bias gradient of Dense scaled by 1.01 does. The absolute
// term only matters for entries that are tiny next to the rest of their tensor, where
// cancellation leaves nothing relative to measure.
//
// Kinks. ReLU, LeakyReLU and MaxPool are not differentiable everywhere, and a difference taken
// across a kink measures neither one-sided derivative. So:
//   - inputs are drawn as a shuffled, jittered grid per channel plane (per tensor for flat
//     shapes): entries differ pairwise by at least g/2 and lie at least g/4 from zero, where g is
//     the grid spacing, and the input step is capped at g/8. Perturbing one input can then
//     neither move it across zero (standalone ReLU) nor reorder it with a neighbour in a pooling
//     window (MaxPool ties);
//   - a Conv or Dense with a fused ReLU/LeakyReLU has its pre-activations z computed through the
//     same layer with an Identity activation, and each output channel's bias is shifted so that
//     no |z| is below twice the largest change any single perturbation can make to z.
//
// Besides the values, every check verifies the contract of core/layer.hpp: forward overwrites
// y, backward overwrites dx (dx is pre-filled with NaN), accumulates into grad (a second call
// doubles it), gives the same parameter gradient when dx is null, and may scribble on dy (each
// call gets a fresh copy).
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <numeric>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace ctnn::testing {

struct GradientCheckOptions {
  double step = 5e-3;             // h relative to max(1, |v|); the input step is also capped (see the header)
  double input_range = 1.0;       // inputs lie in about [-range, range]
  double parameter_jitter = 0.1;  // added to every initial parameter, so that e.g. gamma = 1 or bias = 0 hide nothing
  double relative_tolerance = 5e-3;    // see the header comment
  double absolute_tolerance = 5e-4;    // times the largest |entry| of the tensor
  std::size_t samples_per_tensor = 0;  // 0: check every entry; else this many, first and last included
};

struct TensorReport {
  std::string name;
  std::vector<std::size_t> dims;  // of the tensor, with the image index first for input gradients
  std::size_t checked = 0;
  double max_relative_error = 0;  // max |a - n| / max(|a|, |n|)
  double max_absolute_error = 0;
  double worst_ratio = 0;  // max |a - n| / allowed; above 1 fails
  std::size_t worst_index = 0;
  double worst_analytic = 0, worst_numerical = 0;

  bool passed() const { return worst_ratio <= 1.0; }
  std::string index_text(std::size_t flat) const {
    std::vector<std::size_t> index(dims.size());
    for (std::size_t axis = dims.size(); axis-- > 0;) {
      index[axis] = flat % dims[axis];
      flat /= dims[axis];
    }
    std::string text = "(";
    for (std::size_t axis = 0; axis < index.size(); ++axis) text += (axis ? ", " : "") + std::to_string(index[axis]);
    return text + ")";
  }
  std::string describe() const {
    std::ostringstream out;
    out.precision(4);
    out << name << ": " << checked << " entries, max relative error " << max_relative_error << ", max absolute error "
        << max_absolute_error << "; worst at " << index_text(worst_index) << ": analytic " << worst_analytic
        << ", numerical " << worst_numerical << " (" << worst_ratio << " of the tolerance)";
    return out.str();
  }
};

struct GradientReport {
  std::string layer;
  std::vector<TensorReport> tensors;
  bool passed() const {
    return std::all_of(tensors.begin(), tensors.end(), [](const TensorReport& t) { return t.passed(); });
  }
  double worst_ratio() const {
    double worst = 0;
    for (const auto& t : tensors) worst = std::max(worst, t.worst_ratio);
    return worst;
  }
};

// Compares analytic and numerical gradients of one tensor, entry by entry (see the tolerance).
// The absolute term scales with the tensor's largest entry, or with scale_floor if that is
// larger (the network check passes the largest gradient entry of the whole network).
inline TensorReport compare_gradients(std::string name, std::vector<std::size_t> dims,
                                      const std::vector<std::size_t>& indices, const std::vector<double>& analytic,
                                      const std::vector<double>& numerical, const GradientCheckOptions& options,
                                      double scale_floor = 0) {
  TensorReport report;
  report.name = std::move(name);
  report.dims = std::move(dims);
  double scale = scale_floor;
  for (std::size_t k = 0; k < indices.size(); ++k)
    scale = std::max({scale, std::abs(analytic[k]), std::abs(numerical[k])});
  const double floor = options.absolute_tolerance * scale + 1e-12;
  report.checked = indices.size();
  report.worst_ratio = -1;
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const double a = analytic[k], n = numerical[k];
    const double difference = std::abs(a - n);
    const double magnitude = std::max(std::abs(a), std::abs(n));
    const double ratio = std::isfinite(difference) ? difference / (options.relative_tolerance * magnitude + floor)
                                                   : std::numeric_limits<double>::infinity();
    report.max_absolute_error = std::max(report.max_absolute_error, difference);
    if (magnitude > 0) report.max_relative_error = std::max(report.max_relative_error, difference / magnitude);
    if (!(ratio <= report.worst_ratio)) {
      report.worst_ratio = ratio;
      report.worst_index = indices[k];
      report.worst_analytic = a;
      report.worst_numerical = n;
    }
  }
  report.worst_ratio = std::max(report.worst_ratio, 0.0);
  return report;
}

namespace detail {

template <class Tuple, class F>
void for_each_indexed(Tuple&& tuple, F&& f) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (f(std::get<I>(tuple), std::integral_constant<std::size_t, I>{}), ...);
  }
  (std::make_index_sequence<std::tuple_size_v<std::remove_cvref_t<Tuple>>>{});
}

template <class T>
void fill_nan(T& tensor) {
  tensor.fill(std::numeric_limits<float>::quiet_NaN());
}

template <class T>
bool all_finite(const T& tensor) {
  return std::all_of(tensor.data(), tensor.data() + T::size, [](float v) { return std::isfinite(v); });
}

template <class T>
float max_abs(const T& tensor) {
  float top = 0;
  for (std::size_t i = 0; i < T::size; ++i) top = std::max(top, std::abs(tensor[i]));
  return top;
}

// The indices to check: all, or `samples` of them with the first and the last included.
inline std::vector<std::size_t> sample_indices(std::size_t size, std::size_t samples, Rng& rng) {
  std::vector<std::size_t> all(size);
  std::iota(all.begin(), all.end(), std::size_t{0});
  if (samples == 0 || samples >= size) return all;
  std::vector<std::size_t> chosen{0, size - 1};
  for (std::size_t k = 1; k + 1 < size && chosen.size() < samples; ++k) {
    // Partial Fisher-Yates over the interior indices.
    const std::size_t pick = k + static_cast<std::size_t>(rng.below(size - 1 - k));
    std::swap(all[k], all[pick]);
    chosen.push_back(all[k]);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace detail

// One input image as a shuffled, jittered grid over [-range, range], per channel plane (per
// tensor for flat shapes): entries differ pairwise by at least spacing/2 and lie at least
// spacing/4 away from zero. Returns the spacing.
template <class Shape>
double draw_distinct_input(Rng& rng, double range, tensor_of<Shape>& x) {
  constexpr std::size_t plane = Shape::height * Shape::width;
  constexpr std::size_t group = plane > 1 ? plane : Shape::size;
  constexpr std::size_t groups = Shape::size / group;
  const double spacing = 2.0 * range / static_cast<double>(group);
  // Odd groups would put a grid point on zero: shift them by half a spacing.
  const double offset = group % 2 == 1 ? spacing / 2 : 0.0;
  std::vector<double> values(group);
  for (std::size_t g = 0; g < groups; ++g) {
    for (std::size_t k = 0; k < group; ++k)
      values[k] = -range + (static_cast<double>(k) + 0.5) * spacing + offset + spacing * rng.uniform(-0.25f, 0.25f);
    for (std::size_t k = group; k > 1; --k) std::swap(values[k - 1], values[rng.below(k)]);
    for (std::size_t k = 0; k < group; ++k) x[g * group + k] = static_cast<float>(values[k]);
  }
  return spacing;
}

// A rough but safe input step for draw_distinct_input: at most an eighth of the grid spacing.
template <class Shape>
double input_step(const GradientCheckOptions& options) {
  constexpr std::size_t plane = Shape::height * Shape::width;
  constexpr std::size_t group = plane > 1 ? plane : Shape::size;
  const double spacing = 2.0 * options.input_range / static_cast<double>(group);
  return std::min(options.step * options.input_range, spacing / 8);
}

namespace detail {

template <class L>
constexpr bool has_kinked_fused_activation() {
  if constexpr (requires { typename L::activation; }) {
    using A = typename L::activation;
    return std::is_same_v<A, ReLU> || requires { A::slope; };
  } else {
    return false;
  }
}

// Shifts each output channel's bias so that no pre-activation of any image lies within
// `margin` of the kink at zero: the point nearest zero that is at least `margin` from every z
// of the channel becomes the new zero.
template <class Spec, class In, class L>
void move_kinks_away(L& layer, const std::vector<tensor_of<In>>& xs, double step, double input_h) {
  using Linear = typename Spec::template with_activation<Identity>::template bind<In>;
  using Out = typename L::out_shape;
  auto linear = std::make_unique<Linear>();
  for_each_indexed(layer.parameters(),
                   [&](auto& tensor, auto index) { std::get<decltype(index)::value>(linear->parameters()) = tensor; });

  double max_x = 0;
  for (const auto& x : xs) max_x = std::max(max_x, static_cast<double>(max_abs(x)));
  const double max_w = max_abs(layer.weight), max_b = max_abs(layer.bias) + 1.0;
  // The largest change to any z from one perturbation: of an input, of a weight, of a bias.
  const double reach = std::max({input_h * max_w, step * std::max(1.0, max_w) * max_x, step * std::max(1.0, max_b)});
  const double margin = 2.0 * reach;

  std::vector<tensor_of<Out>> zs(xs.size());
  for (std::size_t b = 0; b < xs.size(); ++b) linear->forward(xs[b], zs[b]);
  constexpr std::size_t plane = Out::height * Out::width;
  for (std::size_t c = 0; c < Out::channels; ++c) {
    std::vector<double> z;
    for (const auto& image : zs)
      for (std::size_t i = 0; i < plane; ++i) z.push_back(image[c * plane + i]);
    std::sort(z.begin(), z.end());
    // Candidates for the new zero t: 0 itself, gap midpoints, and just past either end.
    std::vector<double> candidates{0.0, z.front() - 2 * margin, z.back() + 2 * margin};
    for (std::size_t i = 0; i + 1 < z.size(); ++i)
      if (z[i + 1] - z[i] > 2.5 * margin) candidates.push_back((z[i] + z[i + 1]) / 2);
    double best = std::numeric_limits<double>::infinity();
    for (double t : candidates) {
      const auto nearest = std::lower_bound(z.begin(), z.end(), t);
      double distance = std::numeric_limits<double>::infinity();
      if (nearest != z.end()) distance = std::min(distance, *nearest - t);
      if (nearest != z.begin()) distance = std::min(distance, t - *(nearest - 1));
      if (distance >= 1.2 * margin && std::abs(t) < std::abs(best)) best = t;
    }
    layer.bias[c] = static_cast<float>(layer.bias[c] - best);
  }
}

// The engine behind every front end: `forward(layer, xs, ys)` and
// `backward(layer, xs, ys, dys, dxs_or_null, grad)` run the pass under test over a batch.
template <class L, class Forward, class Backward>
GradientReport run_gradient_check(L& layer, std::vector<tensor_of<typename L::in_shape>>& xs, Rng& rng,
                                  const GradientCheckOptions& options, double input_h, Forward forward,
                                  Backward backward) {
  using In = typename L::in_shape;
  using Out = typename L::out_shape;
  using X = tensor_of<In>;
  using Y = tensor_of<Out>;
  const std::size_t batch = xs.size();
  GradientReport report;
  {
    // Not In::label(): g++ 12 at -O3 raises a false -Wrestrict inside "(" + std::to_string(..)
    // once that is inlined here (GCC PR 105329).
    std::ostringstream text;
    text << L::label() << " on (" << In::channels << ", " << In::height << ", " << In::width << ")";
    if (batch > 1) text << " x" << batch;
    report.layer = text.str();
  }
  INFO(report.layer);

  std::vector<Y> r(batch), ys(batch);
  for (auto& tensor : r)
    for (std::size_t i = 0; i < Out::size; ++i) tensor[i] = rng.uniform(-1.0f, 1.0f);
  const auto loss = [&] {
    for (auto& y : ys) fill_nan(y);
    forward(layer, xs, ys);
    double total = 0;
    for (std::size_t b = 0; b < batch; ++b)
      for (std::size_t i = 0; i < Out::size; ++i) total += static_cast<double>(r[b][i]) * static_cast<double>(ys[b][i]);
    return total;
  };

  // Forward overwrites y: it was NaN, the loss must be finite.
  const double base_loss = loss();
  CHECK_MESSAGE(std::isfinite(base_loss), "forward left NaN in y, or produced a non-finite output");
  const std::vector<Y> base_ys = ys;

  // Analytic gradients: one backward into a zero grad, with dx pre-filled with NaN.
  auto grad = std::make_unique<L>();
  std::vector<X> dxs(batch);
  const auto run_backward = [&](L& into, std::vector<X>* dx_out) {
    std::vector<Y> dys = r;  // backward may overwrite dy
    if (dx_out)
      for (auto& dx : *dx_out) fill_nan(dx);
    backward(layer, xs, base_ys, dys, dx_out, into);
  };
  run_backward(*grad, &dxs);
  for (std::size_t b = 0; b < batch; ++b)
    CHECK_MESSAGE(all_finite(dxs[b]), "backward did not overwrite dx of image " << b << " (NaN left in it)");

  // Contract: a second call accumulates (doubles grad) and writes the same dx; a null dx gives
  // the same parameter gradient.
  {
    auto twice = std::make_unique<L>(*grad);
    std::vector<X> dxs_again(batch);
    run_backward(*twice, &dxs_again);
    for (std::size_t b = 0; b < batch; ++b)
      CHECK_MESSAGE(dxs_again[b] == dxs[b], "dx differs between two identical calls");
    auto without_dx = std::make_unique<L>();
    run_backward(*without_dx, nullptr);
    for_each_indexed(grad->parameters(), [&](const auto& once, auto index) {
      constexpr std::size_t I = decltype(index)::value;
      const auto& doubled = std::get<I>(twice->parameters());
      const auto& alone = std::get<I>(without_dx->parameters());
      const double scale = max_abs(once) + 1e-30;
      double worst_double = 0, worst_alone = 0;
      for (std::size_t i = 0; i < once.size; ++i) {
        worst_double = std::max(worst_double, std::abs(static_cast<double>(doubled[i]) - 2.0 * once[i]) / scale);
        worst_alone = std::max(worst_alone, std::abs(static_cast<double>(alone[i]) - once[i]) / scale);
      }
      CHECK_MESSAGE(worst_double <= 1e-5, "parameter " << I << ": a second backward does not add to grad (off by "
                                                       << worst_double << " of its scale)");
      CHECK_MESSAGE(worst_alone <= 1e-6, "parameter " << I
                                                      << ": backward with dx = null gives another gradient (off by "
                                                      << worst_alone << " of its scale)");
    });
  }

  // Input gradient, image by image.
  {
    const std::size_t total = batch * In::size;
    const auto indices = sample_indices(total, options.samples_per_tensor * batch, rng);
    std::vector<double> analytic, numerical;
    for (std::size_t flat : indices) {
      float& v = xs[flat / In::size][flat % In::size];
      const float original = v;
      const float plus = static_cast<float>(original + input_h), minus = static_cast<float>(original - input_h);
      v = plus;
      const double loss_plus = loss();
      v = minus;
      const double loss_minus = loss();
      v = original;
      numerical.push_back((loss_plus - loss_minus) / (static_cast<double>(plus) - static_cast<double>(minus)));
      analytic.push_back(dxs[flat / In::size][flat % In::size]);
    }
    std::vector<std::size_t> dims{batch, In::channels, In::height, In::width};
    report.tensors.push_back(compare_gradients("dx", dims, indices, analytic, numerical, options));
  }

  // Parameter gradients, tensor by tensor, in the order of parameters().
  for_each_indexed(layer.parameters(), [&](auto& tensor, auto index) {
    constexpr std::size_t I = decltype(index)::value;
    const auto& gradient = std::get<I>(grad->parameters());
    const auto indices = sample_indices(tensor.size, options.samples_per_tensor, rng);
    std::vector<double> analytic, numerical;
    for (std::size_t i : indices) {
      const float original = tensor[i];
      const double h = options.step * std::max(1.0, std::abs(static_cast<double>(original)));
      const float plus = static_cast<float>(original + h), minus = static_cast<float>(original - h);
      tensor[i] = plus;
      const double loss_plus = loss();
      tensor[i] = minus;
      const double loss_minus = loss();
      tensor[i] = original;
      numerical.push_back((loss_plus - loss_minus) / (static_cast<double>(plus) - static_cast<double>(minus)));
      analytic.push_back(gradient[i]);
    }
    const auto& dims = std::remove_cvref_t<decltype(tensor)>::dims;
    report.tensors.push_back(compare_gradients("parameter " + std::to_string(I),
                                               std::vector<std::size_t>(dims.begin(), dims.end()), indices, analytic,
                                               numerical, options));
  });

  // The parameters were restored bit for bit: the loss must be exactly the first one.
  CHECK(loss() == base_loss);
  for (const auto& tensor : report.tensors) CHECK_MESSAGE(tensor.passed(), report.layer << ": " << tensor.describe());
  return report;
}

// Draws the layer's parameters (init, then jitter) and `batch` distinct-grid input images.
template <class Spec, class In>
struct Problem {
  using L = typename Spec::template bind<In>;
  static_assert(Layer<L>, "gradient_check: the bound spec must model ctnn::Layer");
  std::unique_ptr<L> layer = std::make_unique<L>();
  std::vector<tensor_of<In>> xs;
  Rng rng;

  Problem(std::uint64_t seed, std::size_t batch, const GradientCheckOptions& options) : xs(batch), rng(seed) {
    layer->init(rng);
    for_each_indexed(layer->parameters(), [&](auto& tensor, auto) {
      for (std::size_t i = 0; i < tensor.size; ++i)
        tensor[i] = static_cast<float>(tensor[i] + options.parameter_jitter * rng.uniform(-1.0f, 1.0f));
    });
    for (auto& x : xs) draw_distinct_input<In>(rng, options.input_range, x);
  }
};

struct NoPreparation {
  template <class L>
  void operator()(L&, Rng&) const {}
};

}  // namespace detail

// Inference-mode forward/backward of Spec::bind<InShape> on one image. `prepare(layer, rng)`
// runs after init and jitter, to set e.g. running statistics.
template <class Spec, class InShape, class Prepare = detail::NoPreparation>
GradientReport check_gradients(std::uint64_t seed, const GradientCheckOptions& options = {}, Prepare prepare = {}) {
  detail::Problem<Spec, InShape> problem(seed, 1, options);
  using L = typename detail::Problem<Spec, InShape>::L;
  prepare(*problem.layer, problem.rng);
  const double input_h = input_step<InShape>(options);
  if constexpr (detail::has_kinked_fused_activation<L>())
    detail::move_kinks_away<Spec, InShape>(*problem.layer, problem.xs, options.step, input_h);
  return detail::run_gradient_check(
      *problem.layer, problem.xs, problem.rng, options, input_h,
      [](const L& layer, const auto& xs, auto& ys) {
        for (std::size_t b = 0; b < xs.size(); ++b) layer.forward(xs[b], ys[b]);
      },
      [](const L& layer, const auto& xs, const auto& ys, auto& dys, auto* dxs, L& grad) {
        for (std::size_t b = 0; b < xs.size(); ++b)
          layer.backward(xs[b], ys[b], dys[b], dxs ? &(*dxs)[b] : nullptr, grad);
      });
}

// Training-mode pass of a StochasticLayer (Dropout) on one image. Its randomness comes from
// `mask_seed` alone, so for a fixed seed the mask is fixed and the function differentiable.
template <class Spec, class InShape>
GradientReport check_stochastic_gradients(std::uint64_t seed, std::uint64_t mask_seed,
                                          const GradientCheckOptions& options = {}) {
  detail::Problem<Spec, InShape> problem(seed, 1, options);
  using L = typename detail::Problem<Spec, InShape>::L;
  static_assert(StochasticLayer<L>, "check_stochastic_gradients: the layer must model ctnn::StochasticLayer");
  return detail::run_gradient_check(
      *problem.layer, problem.xs, problem.rng, options, input_step<InShape>(options),
      [mask_seed](const L& layer, const auto& xs, auto& ys) {
        for (std::size_t b = 0; b < xs.size(); ++b) layer.forward_train(xs[b], ys[b], derive_seed(mask_seed, b));
      },
      [mask_seed](const L& layer, const auto& xs, const auto& ys, auto& dys, auto* dxs, L& grad) {
        for (std::size_t b = 0; b < xs.size(); ++b)
          layer.backward_train(xs[b], ys[b], dys[b], dxs ? &(*dxs)[b] : nullptr, grad, derive_seed(mask_seed, b));
      });
}

// Training-mode pass of a BatchLayer (BatchNorm) over a batch of `Batch` images: the loss sums
// r . y over every image, so the input gradient carries the coupling through the statistics.
template <class Spec, class InShape, std::size_t Batch, class Prepare = detail::NoPreparation>
GradientReport check_batch_gradients(std::uint64_t seed, const GradientCheckOptions& options = {},
                                     Prepare prepare = {}) {
  detail::Problem<Spec, InShape> problem(seed, Batch, options);
  using L = typename detail::Problem<Spec, InShape>::L;
  using X = tensor_of<typename L::in_shape>;
  using Y = tensor_of<typename L::out_shape>;
  static_assert(BatchLayer<L>, "check_batch_gradients: the layer must model ctnn::BatchLayer");
  prepare(*problem.layer, problem.rng);
  return detail::run_gradient_check(
      *problem.layer, problem.xs, problem.rng, options, input_step<InShape>(options),
      [](L& layer, const auto& xs, auto& ys) { layer.forward_batch(std::span<const X>(xs), std::span<Y>(ys)); },
      [](const L& layer, const auto& xs, const auto& ys, auto& dys, auto* dxs, L& grad) {
        layer.backward_batch(std::span<const X>(xs), std::span<const Y>(ys), std::span<Y>(dys),
                             dxs ? std::span<X>(*dxs) : std::span<X>(), grad);
      });
}

// The whole-network check: the mean softmax cross-entropy of a Workspace's batch, through
// Net::forward(ws, mode) and Net::backward(ws), against central differences on a sample of
// every parameter tensor of every layer and of the input pixels (Net::input_gradient). The loss
// for the differences is recomputed in double from the float logits.
//
// A net's kinks (ReLU units switching, MaxPool winners changing) cannot all be kept away by
// construction, so each difference is validated instead: the on/off pattern of every ReLU
// output and the winner of every MaxPool window are recorded, and a difference whose perturbed
// passes changed the pattern is retried with a step four times smaller (twice); if even that
// crosses a kink, the coordinate is skipped. A skipped coordinate proves nothing either way, so
// at most a fifth of them may be skipped.
struct NetGradientOptions {
  // Looser than a single layer's: the logits come out of a deep float computation, and the
  // ReLU/MaxPool pattern check may force the step down to h/16, where rounding noise grows.
  GradientCheckOptions tolerance{.step = 1e-2, .relative_tolerance = 1e-2, .absolute_tolerance = 1e-3};
  std::size_t samples_per_tensor = 40;
  std::size_t input_samples = 120;
};

struct NetGradientReport {
  GradientReport gradients;
  std::size_t checked = 0, skipped = 0;
};

namespace detail {

template <class L>
constexpr bool is_rectified() {
  if constexpr (requires { typename L::activation; })
    return has_kinked_fused_activation<L>();
  else
    return std::is_same_v<L, ReLU::bind<typename L::in_shape>> ||
           std::is_same_v<L, LeakyReLU<>::bind<typename L::in_shape>>;
}

// One word per ReLU output (on or off) and per MaxPool window (the winner's offset).
template <class NetType, std::size_t Batch>
std::vector<std::uint32_t> kink_pattern(Workspace<NetType, Batch>& ws) {
  std::vector<std::uint32_t> pattern;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (
        [&] {
          using L = typename NetType::template layer_type<I>;
          const auto& ys = ws.template activations<I + 1>();
          if constexpr (is_rectified<L>()) {
            for (std::size_t b = 0; b < ws.count; ++b)
              for (std::size_t i = 0; i < L::out_shape::size; ++i) pattern.push_back(ys[b][i] > 0.0f);
          } else if constexpr (requires { L::geometry.window; }) {
            if (L::label().rfind("MaxPool", 0) == 0) {
              const auto& xs = ws.template activations<I>();
              constexpr auto g = L::geometry;
              using Out = typename L::out_shape;
              for (std::size_t b = 0; b < ws.count; ++b)
                for (std::size_t c = 0; c < Out::channels; ++c)
                  for (std::size_t oh = 0; oh < Out::height; ++oh)
                    for (std::size_t ow = 0; ow < Out::width; ++ow) {
                      std::uint32_t winner = 0;
                      float best = -std::numeric_limits<float>::infinity();
                      for (std::size_t i = 0; i < g.window; ++i)
                        for (std::size_t j = 0; j < g.window; ++j) {
                          const float v = xs[b](c, oh * g.stride + i, ow * g.stride + j);
                          if (v > best) best = v, winner = static_cast<std::uint32_t>(i * g.window + j);
                        }
                      pattern.push_back(winner);
                    }
            }
          }
        }(),
        ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
  return pattern;
}

}  // namespace detail

// Requires: ws holds ws.count images and their labels. Leaves the parameters as they were.
template <class NetType, std::size_t Batch>
NetGradientReport check_net_gradients(NetType& net, Workspace<NetType, Batch>& ws, Mode mode, Rng& rng,
                                      const NetGradientOptions& options = {}) {
  using layers = typename NetType::layers;
  using In = typename NetType::in_shape;
  NetGradientReport result;
  const std::size_t count = ws.count;
  const double smoothing = ws.loss.label_smoothing;
  constexpr std::size_t classes = NetType::classes;
  // Mean cross-entropy in double from the logits, and the kink pattern of the pass.
  const auto evaluate = [&](std::vector<std::uint32_t>* pattern) {
    net.forward(ws, mode);
    double total = 0;
    for (std::size_t b = 0; b < count; ++b) {
      const auto& z = ws.output(b);
      double top = z[0], sum = 0, target_dot = 0;
      for (std::size_t k = 0; k < classes; ++k) top = std::max(top, static_cast<double>(z[k]));
      for (std::size_t k = 0; k < classes; ++k) {
        sum += std::exp(z[k] - top);
        target_dot += (smoothing / classes + (k == ws.labels[b] ? 1 - smoothing : 0.0)) * z[k];
      }
      total += top + std::log(sum) - target_dot;
    }
    if (pattern) *pattern = detail::kink_pattern(ws);
    return total / static_cast<double>(count);
  };

  std::vector<std::uint32_t> base_pattern;
  const float float_loss = net.forward(ws, mode);
  const double base_loss = evaluate(&base_pattern);
  CHECK(float_loss == doctest::Approx(base_loss).epsilon(1e-5));

  // Analytic gradients; input_gradient must leave them alone, and a second backward adds.
  ws.zero_grad();
  net.backward(ws);
  auto analytic = std::make_unique<layers>(ws.grad());
  net.input_gradient(ws);
  bool untouched = true;
  for_each_parameter([&](const auto& now, const auto& before) { untouched = untouched && now == before; }, ws.grad(),
                     *analytic);
  CHECK_MESSAGE(untouched, "Net::input_gradient changed ws.grad()");
  std::vector<tensor_of<In>> input_gradients(count);
  for (std::size_t b = 0; b < count; ++b) {
    input_gradients[b] = ws.input_gradient(b);
    CHECK(detail::all_finite(input_gradients[b]));
  }
  // The largest gradient entry anywhere: the scale of the absolute tolerance. A parameter whose
  // true gradient is zero (the bias of a layer that BatchNorm follows) has a gradient of pure
  // rounding noise, which only makes sense next to the rest of the network.
  double global_scale = 0;
  for_each_parameter(
      [&](const auto& once) { global_scale = std::max(global_scale, static_cast<double>(detail::max_abs(once))); },
      *analytic);
  for (const auto& dx : input_gradients)
    global_scale = std::max(global_scale, static_cast<double>(detail::max_abs(dx)));
  net.backward(ws);
  double worst_doubling = 0;
  for_each_parameter(
      [&](const auto& twice, const auto& once) {
        for (std::size_t i = 0; i < once.size; ++i)
          worst_doubling = std::max(worst_doubling, std::abs(twice[i] - 2.0 * once[i]) / global_scale);
      },
      ws.grad(), *analytic);
  CHECK_MESSAGE(worst_doubling <= 1e-5,
                "a second Net::backward does not add to ws.grad() (off by " << worst_doubling << ")");

  // One central difference with kink validation; returns false when every step crossed a kink.
  const auto difference = [&](float& v, double& numerical) {
    const float original = v;
    double h = options.tolerance.step * std::max(1.0, std::abs(static_cast<double>(original)));
    for (int attempt = 0; attempt < 3; ++attempt, h /= 4) {
      std::vector<std::uint32_t> pattern_plus, pattern_minus;
      const float plus = static_cast<float>(original + h), minus = static_cast<float>(original - h);
      v = plus;
      const double loss_plus = evaluate(&pattern_plus);
      v = minus;
      const double loss_minus = evaluate(&pattern_minus);
      v = original;
      if (pattern_plus == base_pattern && pattern_minus == base_pattern) {
        numerical = (loss_plus - loss_minus) / (static_cast<double>(plus) - static_cast<double>(minus));
        return true;
      }
    }
    return false;
  };
  const auto check_tensor = [&](std::string name, std::vector<std::size_t> dims, std::size_t size, auto&& entry,
                                auto&& analytic_entry, std::size_t samples) {
    std::vector<std::size_t> kept;
    std::vector<double> analytic_values, numerical_values;
    for (std::size_t i : detail::sample_indices(size, samples, rng)) {
      double numerical = 0;
      if (difference(entry(i), numerical)) {
        kept.push_back(i);
        analytic_values.push_back(analytic_entry(i));
        numerical_values.push_back(numerical);
        ++result.checked;
      } else {
        ++result.skipped;
      }
    }
    auto report = compare_gradients(std::move(name), std::move(dims), kept, analytic_values, numerical_values,
                                    options.tolerance, global_scale);
    CHECK_MESSAGE(report.passed(), report.describe());
    result.gradients.tensors.push_back(std::move(report));
  };

  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (detail::for_each_indexed(
         std::get<I>(net.parameters()).parameters(),
         [&](auto& tensor, auto index) {
           const auto& gradient = std::get<decltype(index)::value>(std::get<I>(*analytic).parameters());
           const auto& dims = std::remove_cvref_t<decltype(tensor)>::dims;
           check_tensor(
               "layer " + std::to_string(I) + " (" + NetType::template layer_type<I>::label() + ") parameter " +
                   std::to_string(decltype(index)::value),
               std::vector<std::size_t>(dims.begin(), dims.end()), tensor.size,
               [&](std::size_t i) -> float& { return tensor[i]; },
               [&](std::size_t i) { return static_cast<double>(gradient[i]); }, options.samples_per_tensor);
         }),
     ...);
  }
  (std::make_index_sequence<NetType::layer_count>{});
  check_tensor(
      "input", {count, In::channels, In::height, In::width}, count * In::size,
      [&](std::size_t i) -> float& { return ws.input(i / In::size)[i % In::size]; },
      [&](std::size_t i) { return static_cast<double>(input_gradients[i / In::size][i % In::size]); },
      options.input_samples);

  CHECK(evaluate(nullptr) == base_loss);  // everything restored bit for bit
  CHECK_MESSAGE(
      result.skipped * 5 <= result.checked + result.skipped,
      result.skipped << " of " << result.checked + result.skipped << " coordinates crossed a kink at every step");
  return result;
}

}  // namespace ctnn::testing
