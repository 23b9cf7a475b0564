// The element-wise passes of batch normalization over one channel plane of n values. The
// statistics are sums and dot products (kernels/vector.hpp); what is left is two affine maps:
// forward y = scale * x + shift, and backward dx = a * dy + b * x + c, which is the batch-norm
// input gradient (Ioffe & Szegedy 2015, eq. in section 3) rewritten as one fused pass.
#pragma once

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

// y[i] = scale * x[i] + shift
inline void scale_shift_reference(std::size_t n, float scale, float shift, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] = scale * x[i] + shift;
}
template <class Arch = xsimd::default_arch>
void scale_shift(std::size_t n, float scale, float shift, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch scale_batch(scale), shift_batch(shift);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    xsimd::fma(scale_batch, batch::load_unaligned(x + i), shift_batch).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = scale * x[i] + shift;
}

// out[i] = a * u[i] + b * v[i] + c
inline void linear_combination_reference(std::size_t n, float a, const float* u, float b, const float* v, float c,
                                         float* out) noexcept {
  for (std::size_t i = 0; i < n; ++i) out[i] = a * u[i] + b * v[i] + c;
}
template <class Arch = xsimd::default_arch>
void linear_combination(std::size_t n, float a, const float* u, float b, const float* v, float c, float* out) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch a_batch(a), b_batch(b), c_batch(c);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    xsimd::fma(a_batch, batch::load_unaligned(u + i), xsimd::fma(b_batch, batch::load_unaligned(v + i), c_batch))
        .store_unaligned(out + i);
  for (; i < n; ++i) out[i] = a * u[i] + b * v[i] + c;
}

}  // namespace ctnn::kernels
