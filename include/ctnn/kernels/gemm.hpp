// Matrix multiply-accumulate C += A B for row-major B and C; A is read through (row, column)
// strides so the same kernel multiplies by A or by its transpose. C is (M,N), A is (M,K), B is (K,N).
#pragma once

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace ctnn::kernels {

struct MatrixView {
  const float* data;
  std::size_t row_stride, column_stride;
  constexpr float operator()(std::size_t row, std::size_t column) const noexcept {
    return data[row * row_stride + column * column_stride];
  }
};

// C[m,n] += sum_k A(m,k) B[k,n]
inline void gemm_reference(std::size_t m_size, std::size_t n_size, std::size_t k_size, MatrixView a, const float* b,
                           std::size_t ldb, float* c, std::size_t ldc) noexcept {
  for (std::size_t m = 0; m < m_size; ++m)
    for (std::size_t n = 0; n < n_size; ++n) {
      float total = 0;
      for (std::size_t k = 0; k < k_size; ++k) total += a(m, k) * b[k * ldb + n];
      c[m * ldc + n] += total;
    }
}

namespace detail {
// A Rows x (Vectors * batch::size) block of C kept in registers over the whole k loop: each
// step loads Vectors batches of a B row and broadcasts Rows values of A.
template <class Arch, std::size_t Rows, std::size_t Vectors>
void gemm_block(std::size_t k_size, MatrixView a, std::size_t m0, const float* b, std::size_t ldb, float* c,
                std::size_t ldc) noexcept {
  using batch = xsimd::batch<float, Arch>;
  batch acc[Rows][Vectors];
  for (std::size_t r = 0; r < Rows; ++r)
    for (std::size_t v = 0; v < Vectors; ++v) acc[r][v] = batch::load_unaligned(c + r * ldc + v * batch::size);
  for (std::size_t k = 0; k < k_size; ++k) {
    batch row[Vectors];
    for (std::size_t v = 0; v < Vectors; ++v) row[v] = batch::load_unaligned(b + k * ldb + v * batch::size);
    for (std::size_t r = 0; r < Rows; ++r) {
      const batch scale(a(m0 + r, k));
      for (std::size_t v = 0; v < Vectors; ++v) acc[r][v] = xsimd::fma(scale, row[v], acc[r][v]);
    }
  }
  for (std::size_t r = 0; r < Rows; ++r)
    for (std::size_t v = 0; v < Vectors; ++v) acc[r][v].store_unaligned(c + r * ldc + v * batch::size);
}

template <class Arch, std::size_t Rows>
void gemm_rows(std::size_t n_size, std::size_t k_size, MatrixView a, std::size_t m0, const float* b, std::size_t ldb,
               float* c, std::size_t ldc) noexcept {
  constexpr std::size_t width = xsimd::batch<float, Arch>::size;
  std::size_t n = 0;
  for (const std::size_t whole = n_size - n_size % (2 * width); n < whole; n += 2 * width)
    gemm_block<Arch, Rows, 2>(k_size, a, m0, b + n, ldb, c + n, ldc);
  for (const std::size_t whole = n_size - n_size % width; n < whole; n += width)
    gemm_block<Arch, Rows, 1>(k_size, a, m0, b + n, ldb, c + n, ldc);
  for (; n < n_size; ++n)
    for (std::size_t r = 0; r < Rows; ++r) {
      float total = 0;
      for (std::size_t k = 0; k < k_size; ++k) total += a(m0 + r, k) * b[k * ldb + n];
      c[r * ldc + n] += total;
    }
}
}  // namespace detail

// Register-blocked: 4 rows of C by two SIMD widths at a time, then narrower blocks and a scalar
// column tail. Each element's sum runs over k in order, as in the reference.
template <class Arch = xsimd::default_arch>
void gemm(std::size_t m_size, std::size_t n_size, std::size_t k_size, MatrixView a, const float* b, std::size_t ldb,
          float* c, std::size_t ldc) noexcept {
  std::size_t m = 0;
  for (const std::size_t whole = m_size - m_size % 4; m < whole; m += 4) detail::gemm_rows<Arch, 4>(n_size, k_size, a, m, b, ldb, c + m * ldc, ldc);
  for (; m < m_size; ++m) detail::gemm_rows<Arch, 1>(n_size, k_size, a, m, b, ldb, c + m * ldc, ldc);
}

}  // namespace ctnn::kernels
