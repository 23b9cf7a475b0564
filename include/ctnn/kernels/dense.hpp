// Fully connected layer over a batch of `count` images: x is (count,N) with row stride
// x_stride, w is (M,N) row-major, b is (M), y is (count,M) with row stride y_stride. Each weight
// row is read once for all the images; the backward passes are matrix products (gemm.hpp).
// Every sum over images runs in image order, as it would one image at a time.
#pragma once

#include <algorithm>
#include <cstddef>

#include <ctnn/kernels/gemm.hpp>
#include <ctnn/kernels/vector.hpp>

namespace ctnn::kernels {

struct DenseBatch {
  std::size_t inputs, outputs, count;
  std::size_t x_stride, y_stride;  // floats from one image's row to the next (input, output)
};

// y[i,m] = b[m] + sum_n w[m,n] * x[i,n]
inline void dense_forward_reference(const DenseBatch& d, const float* x, const float* w, const float* b,
                                    float* y) noexcept {
  for (std::size_t i = 0; i < d.count; ++i)
    for (std::size_t m = 0; m < d.outputs; ++m) {
      float total = b[m];
      for (std::size_t n = 0; n < d.inputs; ++n) total += w[m * d.inputs + n] * x[i * d.x_stride + n];
      y[i * d.y_stride + m] = total;
    }
}

// y = b + x W^T: dot products of images and weight rows, blocked so that each weight row is
// loaded once for several images (gemm_nt).
template <class Arch = xsimd::default_arch>
void dense_forward(const DenseBatch& d, const float* x, const float* w, const float* b, float* y) noexcept {
  for (std::size_t i = 0; i < d.count; ++i) std::copy_n(b, d.outputs, y + i * d.y_stride);
  gemm_nt<Arch>(d.count, d.outputs, d.inputs, x, d.x_stride, w, d.inputs, y, d.y_stride);
}

// Differentiates y[i,m] = b[m] + sum_n w[m,n] x[i,n] with respect to x:
// dx[i,n] = sum_m w[m,n] dy[i,m]. dx is overwritten (dx has x's stride, dy has y's).
inline void dense_backward_data_reference(const DenseBatch& d, const float* w, const float* dy, float* dx) noexcept {
  for (std::size_t i = 0; i < d.count; ++i)
    for (std::size_t n = 0; n < d.inputs; ++n) {
      float total = 0;
      for (std::size_t m = 0; m < d.outputs; ++m) total += w[m * d.inputs + n] * dy[i * d.y_stride + m];
      dx[i * d.x_stride + n] = total;
    }
}

// dx = dy W: a (count,M) x (M,N) matrix product.
template <class Arch = xsimd::default_arch>
void dense_backward_data(const DenseBatch& d, const float* w, const float* dy, float* dx) noexcept {
  for (std::size_t i = 0; i < d.count; ++i) std::fill_n(dx + i * d.x_stride, d.inputs, 0.0f);
  gemm<Arch>(d.count, d.inputs, d.outputs, MatrixView{dy, d.y_stride, 1}, w, d.inputs, dx, d.x_stride);
}

// Accumulates dw[m,n] += sum_i dy[i,m] x[i,n] and db[m] += sum_i dy[i,m].
inline void dense_backward_weights_reference(const DenseBatch& d, const float* x, const float* dy, float* dw,
                                             float* db) noexcept {
  for (std::size_t i = 0; i < d.count; ++i)
    for (std::size_t m = 0; m < d.outputs; ++m) {
      const float grad = dy[i * d.y_stride + m];
      db[m] += grad;
      for (std::size_t n = 0; n < d.inputs; ++n) dw[m * d.inputs + n] += grad * x[i * d.x_stride + n];
    }
}

// dw += dy^T x: a (M,count) x (count,N) matrix product, the images summed in order.
template <class Arch = xsimd::default_arch>
void dense_backward_weights(const DenseBatch& d, const float* x, const float* dy, float* dw, float* db) noexcept {
  for (std::size_t i = 0; i < d.count; ++i)
    for (std::size_t m = 0; m < d.outputs; ++m) db[m] += dy[i * d.y_stride + m];
  gemm<Arch>(d.outputs, d.inputs, d.count, MatrixView{dy, 1, d.y_stride}, x, d.x_stride, dw, d.inputs);
}

}  // namespace ctnn::kernels
