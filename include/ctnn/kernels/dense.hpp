// Fully connected layer of one image: x is (N), w is (M,N) row-major, b is (M), y is (M).
// Each output is one dot product over a weight row, so rows are read contiguously in both passes.
#pragma once

#include <algorithm>
#include <cstddef>

#include <ctnn/kernels/vector.hpp>

namespace ctnn::kernels {

// y[m] = b[m] + sum_n w[m,n] * x[n]
inline void dense_forward_reference(std::size_t inputs, std::size_t outputs, const float* x, const float* w,
                                    const float* b, float* y) noexcept {
  for (std::size_t m = 0; m < outputs; ++m) {
    float total = b[m];
    for (std::size_t n = 0; n < inputs; ++n) total += w[m * inputs + n] * x[n];
    y[m] = total;
  }
}

template <class Arch = xsimd::default_arch>
void dense_forward(std::size_t inputs, std::size_t outputs, const float* x, const float* w, const float* b,
                   float* y) noexcept {
  for (std::size_t m = 0; m < outputs; ++m) y[m] = b[m] + dot<Arch>(inputs, w + m * inputs, x);
}

// Differentiates y[m] = b[m] + sum_n w[m,n] x[n] with respect to x: dx[n] = sum_m w[m,n] dy[m].
// dx is overwritten.
inline void dense_backward_data_reference(std::size_t inputs, std::size_t outputs, const float* w, const float* dy,
                                          float* dx) noexcept {
  for (std::size_t n = 0; n < inputs; ++n) {
    float total = 0;
    for (std::size_t m = 0; m < outputs; ++m) total += w[m * inputs + n] * dy[m];
    dx[n] = total;
  }
}

// Sums weight rows scaled by dy[m]: contiguous axpys instead of strided column walks.
template <class Arch = xsimd::default_arch>
void dense_backward_data(std::size_t inputs, std::size_t outputs, const float* w, const float* dy, float* dx) noexcept {
  std::fill_n(dx, inputs, 0.0f);
  for (std::size_t m = 0; m < outputs; ++m) axpy<Arch>(inputs, dy[m], w + m * inputs, dx);
}

// Accumulates dw[m,n] += dy[m] * x[n] and db[m] += dy[m].
inline void dense_backward_weights_reference(std::size_t inputs, std::size_t outputs, const float* x, const float* dy,
                                             float* dw, float* db) noexcept {
  for (std::size_t m = 0; m < outputs; ++m) {
    db[m] += dy[m];
    for (std::size_t n = 0; n < inputs; ++n) dw[m * inputs + n] += dy[m] * x[n];
  }
}

template <class Arch = xsimd::default_arch>
void dense_backward_weights(std::size_t inputs, std::size_t outputs, const float* x, const float* dy, float* dw,
                            float* db) noexcept {
  for (std::size_t m = 0; m < outputs; ++m) {
    db[m] += dy[m];
    if (dy[m] != 0.0f) axpy<Arch>(inputs, dy[m], x, dw + m * inputs);
  }
}

}  // namespace ctnn::kernels
