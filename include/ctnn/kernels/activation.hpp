// Element-wise activations over n floats. Forward reads x and writes y, backward reads the
// forward output y and dy and writes dx; in-place use (y == x, dx == dy) is allowed, which is how
// Conv and Dense apply a fused activation. Every derivative is written in terms of y:
// relu' = [y > 0], leaky' = y > 0 ? 1 : slope, tanh' = 1 - y^2, sigmoid' = y (1 - y).
#pragma once

#include <cmath>
#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

namespace detail {
// Applies a batch operation over n elements, with the same operation on a scalar tail.
template <class Arch, class Operation>
void elementwise(std::size_t n, const float* a, const float* b, float* out, Operation operation) noexcept {
  using batch = xsimd::batch<float, Arch>;
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    operation(batch::load_unaligned(a + i), batch::load_unaligned(b + i)).store_unaligned(out + i);
  for (; i < n; ++i) out[i] = operation(xsimd::batch<float, Arch>(a[i]), xsimd::batch<float, Arch>(b[i])).get(0);
}
}  // namespace detail

// NaN passes through (as in PyTorch), so a diverging run shows in its loss instead of being
// silently zeroed.
inline void relu_forward_reference(std::size_t n, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}
template <class Arch = xsimd::default_arch>
void relu_forward(std::size_t n, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, x, x, y, [](batch v, batch) { return xsimd::select(v < batch(0.0f), batch(0.0f), v); });
}
inline void relu_backward_reference(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}
template <class Arch = xsimd::default_arch>
void relu_backward(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, y, dy, dx,
                            [](batch out, batch grad) { return xsimd::select(out > batch(0.0f), grad, batch(0.0f)); });
}

inline void leaky_relu_forward_reference(std::size_t n, float slope, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = x[i] < 0.0f ? slope * x[i] : x[i];
}
template <class Arch = xsimd::default_arch>
void leaky_relu_forward(std::size_t n, float slope, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, x, x, y,
                            [slope](batch v, batch) { return xsimd::select(v < batch(0.0f), v * batch(slope), v); });
}
inline void leaky_relu_backward_reference(std::size_t n, float slope, const float* y, const float* dy,
                                          float* dx) noexcept {
  for (std::size_t i = 0; i < n; ++i) dx[i] = y[i] > 0.0f ? dy[i] : slope * dy[i];
}
template <class Arch = xsimd::default_arch>
void leaky_relu_backward(std::size_t n, float slope, const float* y, const float* dy, float* dx) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, y, dy, dx, [slope](batch out, batch grad) {
    return xsimd::select(out > batch(0.0f), grad, grad * batch(slope));
  });
}

inline void tanh_forward_reference(std::size_t n, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]);
}
template <class Arch = xsimd::default_arch>
void tanh_forward(std::size_t n, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, x, x, y, [](batch v, batch) { return xsimd::tanh(v); });
}
inline void tanh_backward_reference(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}
template <class Arch = xsimd::default_arch>
void tanh_backward(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, y, dy, dx,
                            [](batch out, batch grad) { return grad * xsimd::fnma(out, out, batch(1.0f)); });
}

inline void sigmoid_forward_reference(std::size_t n, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}
template <class Arch = xsimd::default_arch>
void sigmoid_forward(std::size_t n, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, x, x, y, [](batch v, batch) { return batch(1.0f) / (batch(1.0f) + xsimd::exp(-v)); });
}
inline void sigmoid_backward_reference(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  for (std::size_t i = 0; i < n; ++i) dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}
template <class Arch = xsimd::default_arch>
void sigmoid_backward(std::size_t n, const float* y, const float* dy, float* dx) noexcept {
  using batch = xsimd::batch<float, Arch>;
  detail::elementwise<Arch>(n, y, dy, dx, [](batch out, batch grad) { return grad * out * (batch(1.0f) - out); });
}

}  // namespace ctnn::kernels
