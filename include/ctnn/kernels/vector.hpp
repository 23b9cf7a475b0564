// Vector primitives the other kernels are built from: y += a*x, dot products and sums over
// contiguous spans of any length. The xsimd versions run whole batches, then a scalar tail;
// pointers need no alignment (unaligned loads cost nothing extra on aligned data).
#pragma once

#include <cstddef>
#include <cstdint>

#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

// y[i] += a * x[i] for i < n.
inline void axpy_reference(std::size_t n, float a, const float* x, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i];
}

template <class Arch = xsimd::default_arch>
void axpy(std::size_t n, float a, const float* x, float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  const batch scale(a);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    xsimd::fma(scale, batch::load_unaligned(x + i), batch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i];
}

// y[i] += a * x[i * stride] for i < n: a strided read, for convolutions and pooling with stride > 1.
inline void axpy_strided_reference(std::size_t n, float a, const float* x, std::size_t stride, float* y) noexcept {
  for (std::size_t i = 0; i < n; ++i) y[i] += a * x[i * stride];
}

// Gathers the strided operand lane by lane; contiguous when stride is 1.
template <class Arch = xsimd::default_arch>
void axpy_strided(std::size_t n, float a, const float* x, std::size_t stride, float* y) noexcept {
  if (stride == 1) return axpy<Arch>(n, a, x, y);
  using batch = xsimd::batch<float, Arch>;
  using index_batch = xsimd::batch<std::int32_t, Arch>;
  alignas(64) std::int32_t lanes[batch::size];
  for (std::size_t lane = 0; lane < batch::size; ++lane) lanes[lane] = static_cast<std::int32_t>(lane * stride);
  const index_batch index = index_batch::load_aligned(lanes);
  const batch scale(a);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    xsimd::fma(scale, batch::gather(x + i * stride, index), batch::load_unaligned(y + i)).store_unaligned(y + i);
  for (; i < n; ++i) y[i] += a * x[i * stride];
}

// sum of x[i] * y[i] for i < n.
inline float dot_reference(std::size_t n, const float* x, const float* y) noexcept {
  float total = 0;
  for (std::size_t i = 0; i < n; ++i) total += x[i] * y[i];
  return total;
}

// Two accumulators hide the FMA latency; the lane order of the final sum is fixed, so the
// result is deterministic for a given Arch.
template <class Arch = xsimd::default_arch>
float dot(std::size_t n, const float* x, const float* y) noexcept {
  using batch = xsimd::batch<float, Arch>;
  batch total0(0.0f), total1(0.0f);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % (2 * batch::size); i < whole; i += 2 * batch::size) {
    total0 = xsimd::fma(batch::load_unaligned(x + i), batch::load_unaligned(y + i), total0);
    total1 = xsimd::fma(batch::load_unaligned(x + i + batch::size), batch::load_unaligned(y + i + batch::size), total1);
  }
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    total0 = xsimd::fma(batch::load_unaligned(x + i), batch::load_unaligned(y + i), total0);
  float total = xsimd::hadd(total0 + total1);
  for (; i < n; ++i) total += x[i] * y[i];
  return total;
}

// sum of x[i] for i < n.
inline float sum_reference(std::size_t n, const float* x) noexcept {
  float total = 0;
  for (std::size_t i = 0; i < n; ++i) total += x[i];
  return total;
}

template <class Arch = xsimd::default_arch>
float sum(std::size_t n, const float* x) noexcept {
  using batch = xsimd::batch<float, Arch>;
  batch total_batch(0.0f);
  std::size_t i = 0;
  for (const std::size_t whole = n - n % batch::size; i < whole; i += batch::size)
    total_batch += batch::load_unaligned(x + i);
  float total = xsimd::hadd(total_batch);
  for (; i < n; ++i) total += x[i];
  return total;
}

}  // namespace ctnn::kernels
