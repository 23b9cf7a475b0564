// Interval arithmetic for interval bound propagation (IBP, Gowal et al. 2018). A box of values is
// held as (lower, upper) between layers; an affine map y = W x + b sends it through its centre
// c = (u + l) / 2 and radius r = (u - l) / 2, since y's box is W c + b +- |W| r (eq. 6). The
// affine layers run their own forward kernels on (c, W, b) and (r, |W|, 0); what is left here
// is the change of form, |W| and its gradient, the per-channel affine map, and the
// specification folded into the last layer: lower bounds of z_y - z_k (section 3).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

// c[i] = scale (l[i] + u[i]), r[i] = scale (u[i] - l[i]). With scale 1/2 the box's centre and
// radius; with scale 1 the adjoint of interval_lower_upper (dc = dl + du, dr = du - dl).
// In place (c == l, r == u) is allowed.
inline void interval_centre_radius_reference(std::size_t n, float scale, const float* l, const float* u, float* c,
                                             float* r) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float lower = l[i], upper = u[i];
    c[i] = scale * (lower + upper);
    r[i] = scale * (upper - lower);
  }
}
template <class Arch = xsimd::default_arch>
void interval_centre_radius(std::size_t n, float scale, const float* l, const float* u, float* c, float* r) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch factor(scale);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size) {
    const batch lower = batch::load_unaligned(l + i), upper = batch::load_unaligned(u + i);
    (factor * (lower + upper)).store_unaligned(c + i);
    (factor * (upper - lower)).store_unaligned(r + i);
  }
  interval_centre_radius_reference(n - i, scale, l + i, u + i, c + i, r + i);
}

// l[i] = scale (c[i] - r[i]), u[i] = scale (c[i] + r[i]). With scale 1 the box of a centre and
// radius; with scale 1/2 the adjoint of interval_centre_radius at scale 1/2
// (dl = (dc - dr) / 2, du = (dc + dr) / 2). In place (l == c, u == r) is allowed.
inline void interval_lower_upper_reference(std::size_t n, float scale, const float* c, const float* r, float* l,
                                           float* u) noexcept {
  for (std::size_t i = 0; i < n; ++i) {
    const float centre = c[i], radius = r[i];
    l[i] = scale * (centre - radius);
    u[i] = scale * (centre + radius);
  }
}
template <class Arch = xsimd::default_arch>
void interval_lower_upper(std::size_t n, float scale, const float* c, const float* r, float* l, float* u) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch factor(scale);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size) {
    const batch centre = batch::load_unaligned(c + i), radius = batch::load_unaligned(r + i);
    (factor * (centre - radius)).store_unaligned(l + i);
    (factor * (centre + radius)).store_unaligned(u + i);
  }
  interval_lower_upper_reference(n - i, scale, c + i, r + i, l + i, u + i);
}

// y[i] = |x[i]|: the weights that carry a radius.
inline void abs_values_reference(std::size_t n, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]);
}
template <class Arch = xsimd::default_arch>
void abs_values(std::size_t n, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    xsimd::abs(batch::load_unaligned(x + i)).store_unaligned(y + i);
  abs_values_reference(n - i, x + i, y + i);
}

// Differentiates |w| given the gradient of |w|: grad[i] += sign(w[i]) d_abs[i], with sign(0) = 0
// (the subgradient that keeps a zero weight at zero).
inline void add_abs_gradient_reference(std::size_t n, const float* w, const float* d_abs, float* grad) noexcept {
  for (std::size_t i = 0; i < n; ++i) grad[i] += w[i] > 0.0f ? d_abs[i] : w[i] < 0.0f ? -d_abs[i] : 0.0f;
}
template <class Arch = xsimd::default_arch>
void add_abs_gradient(std::size_t n, const float* w, const float* d_abs, float* grad) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch zero(0.0f);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size) {
    const batch weight = batch::load_unaligned(w + i), d = batch::load_unaligned(d_abs + i);
    const batch signed_d = xsimd::select(weight > zero, d, xsimd::select(weight < zero, -d, zero));
    (batch::load_unaligned(grad + i) + signed_d).store_unaligned(grad + i);
  }
  add_abs_gradient_reference(n - i, w + i, d_abs + i, grad + i);
}

// y = scale x + shift on the box [l, u]: a negative scale swaps the bounds.
inline void interval_scale_shift_reference(std::size_t n, float scale, float shift, const float* l, const float* u,
                                           float* out_l, float* out_u) noexcept {
  const bool swap = scale < 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    const float at_lower = scale * l[i] + shift, at_upper = scale * u[i] + shift;
    out_l[i] = swap ? at_upper : at_lower;
    out_u[i] = swap ? at_lower : at_upper;
  }
}
template <class Arch = xsimd::default_arch>
void interval_scale_shift(std::size_t n, float scale, float shift, const float* l, const float* u, float* out_l,
                          float* out_u) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const bool swap = scale < 0.0f;
  const float* from_l = swap ? u : l;
  const float* from_u = swap ? l : u;
  const batch scale_batch(scale), shift_batch(shift);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size) {
    const batch at_lower = xsimd::fma(scale_batch, batch::load_unaligned(from_l + i), shift_batch);
    const batch at_upper = xsimd::fma(scale_batch, batch::load_unaligned(from_u + i), shift_batch);
    at_lower.store_unaligned(out_l + i);
    at_upper.store_unaligned(out_u + i);
  }
  for (; i < n; ++i) {
    out_l[i] = scale * from_l[i] + shift;
    out_u[i] = scale * from_u[i] + shift;
  }
}

// The specification folded into the last layer z = W x + b (W is (M,N) row-major), on the box
// [l, u] of x: for each class k, margin[k] is a lower bound of z_label - z_k, the affine map of
// the row difference d = W_label - W_k (Gowal et al. 2018, section 3):
//   margin[k] = b_label - b_k + sum_n d[n] c[n] - |d[n]| r[n],  margin[label] = 0.
// Tighter than (lower of z_label) - (upper of z_k), which pays |W_label| r + |W_k| r.
inline void margin_bounds_reference(std::size_t inputs, std::size_t outputs, const float* w, const float* b,
                                    const float* l, const float* u, std::size_t label, float* margin) noexcept {
  const float* w_label = w + label * inputs;
  for (std::size_t k = 0; k < outputs; ++k) {
    if (k == label) {
      margin[k] = 0.0f;
      continue;
    }
    const float* w_k = w + k * inputs;
    float total = b[label] - b[k];
    for (std::size_t n = 0; n < inputs; ++n) {
      const float d = w_label[n] - w_k[n];
      total += d * 0.5f * (l[n] + u[n]) - std::fabs(d) * 0.5f * (u[n] - l[n]);
    }
    margin[k] = total;
  }
}
template <class Arch = xsimd::default_arch>
void margin_bounds(std::size_t inputs, std::size_t outputs, const float* w, const float* b, const float* l,
                   const float* u, std::size_t label, float* margin) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch half(0.5f);
  const float* w_label = w + label * inputs;
  for (std::size_t k = 0; k < outputs; ++k) {
    if (k == label) {
      margin[k] = 0.0f;
      continue;
    }
    const float* w_k = w + k * inputs;
    batch acc(0.0f);
    std::size_t n = 0;
    for (const std::size_t whole = inputs - inputs % batch::size; n < whole; n += batch::size) {
      const batch lower = batch::load_unaligned(l + n), upper = batch::load_unaligned(u + n);
      const batch d = batch::load_unaligned(w_label + n) - batch::load_unaligned(w_k + n);
      acc = xsimd::fma(d, half * (lower + upper), acc);
      acc = xsimd::fnma(xsimd::abs(d), half * (upper - lower), acc);
    }
    float total = b[label] - b[k] + xsimd::hadd(acc);
    for (; n < inputs; ++n) {
      const float d = w_label[n] - w_k[n];
      total += d * 0.5f * (l[n] + u[n]) - std::fabs(d) * 0.5f * (u[n] - l[n]);
    }
    margin[k] = total;
  }
}

// Differentiates margin_bounds given d_margin[k] = dLoss/dmargin[k] (d_margin[label] is
// ignored): with d = W_label - W_k and s = sign(d),
//   dW_label[n] += g (c[n] - s r[n]),  dW_k[n] -= g (c[n] - s r[n]),  db_label += g,  db_k -= g,
//   dc[n] = sum_k g d[n],  dr[n] = -sum_k g |d[n]|,
// then dl = (dc - dr) / 2, du = (dc + dr) / 2, written to dl and du (overwritten) unless null.
// Accumulates into dw and db.
inline void margin_bounds_backward_reference(std::size_t inputs, std::size_t outputs, const float* w, const float* l,
                                             const float* u, std::size_t label, const float* d_margin, float* dw,
                                             float* db, float* dl, float* du) noexcept {
  const float* w_label = w + label * inputs;
  if (dl) std::fill_n(dl, inputs, 0.0f);
  if (du) std::fill_n(du, inputs, 0.0f);
  for (std::size_t k = 0; k < outputs; ++k) {
    if (k == label) continue;
    const float g = d_margin[k];
    const float* w_k = w + k * inputs;
    db[label] += g;
    db[k] -= g;
    for (std::size_t n = 0; n < inputs; ++n) {
      const float d = w_label[n] - w_k[n];
      const float c = 0.5f * (l[n] + u[n]), r = 0.5f * (u[n] - l[n]);
      const float s = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
      const float dd = g * (c - s * r);
      dw[label * inputs + n] += dd;
      dw[k * inputs + n] -= dd;
      // dc = g d, dr = -g |d|: dl = (dc - dr) / 2, du = (dc + dr) / 2.
      if (dl) dl[n] += 0.5f * g * (d + std::fabs(d));
      if (du) du[n] += 0.5f * g * (d - std::fabs(d));
    }
  }
}
template <class Arch = xsimd::default_arch>
void margin_bounds_backward(std::size_t inputs, std::size_t outputs, const float* w, const float* l, const float* u,
                            std::size_t label, const float* d_margin, float* dw, float* db, float* dl,
                            float* du) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const float* w_label = w + label * inputs;
  if (dl) std::fill_n(dl, inputs, 0.0f);
  if (du) std::fill_n(du, inputs, 0.0f);
  const batch half(0.5f), zero(0.0f);
  for (std::size_t k = 0; k < outputs; ++k) {
    if (k == label) continue;
    const float g = d_margin[k];
    const float* w_k = w + k * inputs;
    float* dw_label = dw + label * inputs;
    float* dw_k = dw + k * inputs;
    db[label] += g;
    db[k] -= g;
    const batch grad(g), half_grad(0.5f * g);
    std::size_t n = 0;
    for (const std::size_t whole = inputs - inputs % batch::size; n < whole; n += batch::size) {
      const batch lower = batch::load_unaligned(l + n), upper = batch::load_unaligned(u + n);
      const batch d = batch::load_unaligned(w_label + n) - batch::load_unaligned(w_k + n);
      const batch c = half * (lower + upper), r = half * (upper - lower);
      const batch signed_r = xsimd::select(d > zero, r, xsimd::select(d < zero, -r, zero));
      const batch dd = grad * (c - signed_r);
      (batch::load_unaligned(dw_label + n) + dd).store_unaligned(dw_label + n);
      (batch::load_unaligned(dw_k + n) - dd).store_unaligned(dw_k + n);
      const batch magnitude = xsimd::abs(d);
      if (dl) xsimd::fma(half_grad, d + magnitude, batch::load_unaligned(dl + n)).store_unaligned(dl + n);
      if (du) xsimd::fma(half_grad, d - magnitude, batch::load_unaligned(du + n)).store_unaligned(du + n);
    }
    for (; n < inputs; ++n) {
      const float d = w_label[n] - w_k[n];
      const float c = 0.5f * (l[n] + u[n]), r = 0.5f * (u[n] - l[n]);
      const float s = d > 0.0f ? 1.0f : d < 0.0f ? -1.0f : 0.0f;
      const float dd = g * (c - s * r);
      dw_label[n] += dd;
      dw_k[n] -= dd;
      if (dl) dl[n] += 0.5f * g * (d + std::fabs(d));
      if (du) du[n] += 0.5f * g * (d - std::fabs(d));
    }
  }
}

// The loss of the worst-case logits zhat[k] = -margin[k] (zhat[label] = 0), Gowal et al. eq. 8:
// CE(zhat, label) = log sum_k exp(zhat[k]). Writes d_margin[k] = weight dCE/dmargin[k]
// = -weight softmax(zhat)[k] (0 at the label) and returns the loss.
inline float worst_case_cross_entropy(std::size_t classes, const float* margin, std::size_t label, float weight,
                                      float* d_margin) noexcept {
  float largest = 0.0f;
  for (std::size_t k = 0; k < classes; ++k)
    if (k != label) largest = std::max(largest, -margin[k]);
  double total = 0;
  for (std::size_t k = 0; k < classes; ++k)
    total += std::exp(static_cast<double>((k == label ? 0.0f : -margin[k]) - largest));
  for (std::size_t k = 0; k < classes; ++k)
    d_margin[k] =
        k == label ? 0.0f : static_cast<float>(-weight * std::exp(static_cast<double>(-margin[k] - largest)) / total);
  return largest + static_cast<float>(std::log(total));
}

}  // namespace ctnn::kernels
