// Matrix multiply-accumulate C += A B for row-major B and C; A is read through (row, column)
// strides so the same kernel multiplies by A or by its transpose. C is (M,N), A is (M,K), B is (K,N).
// gemm_nt is the other form, C += A B^T with A (M,K) and B (N,K) both row-major: every entry a
// dot product along K, for products where K is the long dimension and M, N are short (a dense
// layer on a few images, the weight gradient of a convolution with few taps).
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>

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

// The last columns of C, fewer than one SIMD width: the same register block on a copy of B's
// and C's tail padded with zeros to a whole width, in slabs of k so the copy stays small.
template <class Arch, std::size_t Rows>
void gemm_tail(std::size_t columns, std::size_t k_size, MatrixView a, std::size_t m0, const float* b, std::size_t ldb,
               float* c, std::size_t ldc) noexcept {
  constexpr std::size_t width = xsimd::batch<float, Arch>::size;
  constexpr std::size_t slab = 64;
  alignas(64) float b_tail[slab * width];
  alignas(64) float c_tail[Rows * width] = {};
  for (std::size_t r = 0; r < Rows; ++r) std::copy_n(c + r * ldc, columns, c_tail + r * width);
  for (std::size_t k0 = 0; k0 < k_size; k0 += slab) {
    const std::size_t depth = std::min(slab, k_size - k0);
    for (std::size_t k = 0; k < depth; ++k) {
      std::copy_n(b + (k0 + k) * ldb, columns, b_tail + k * width);
      std::fill_n(b_tail + k * width + columns, width - columns, 0.0f);
    }
    const MatrixView shifted{a.data + k0 * a.column_stride, a.row_stride, a.column_stride};
    gemm_block<Arch, Rows, 1>(depth, shifted, m0, b_tail, width, c_tail, width);
  }
  for (std::size_t r = 0; r < Rows; ++r) std::copy_n(c_tail + r * width, columns, c + r * ldc);
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
  if (n < n_size) gemm_tail<Arch, Rows>(n_size - n, k_size, a, m0, b + n, ldb, c + n, ldc);
}
}  // namespace detail

// Register-blocked: 8 rows of C (4 below AVX-512) by two SIMD widths at a time, then narrower
// blocks; the last rows get one block of their own height, so that B is read once for them too
// (LeNet's first convolution has 6 filters), and the last columns (under one width) a padded
// block. Each element's sum runs over k in order, as in the reference.
template <class Arch = xsimd::default_arch>
void gemm(std::size_t m_size, std::size_t n_size, std::size_t k_size, MatrixView a, const float* b, std::size_t ldb,
          float* c, std::size_t ldc) noexcept {
  // 16 accumulators need 32 vector registers (AVX-512); narrower targets have 16 and use 8.
  constexpr std::size_t rows = xsimd::batch<float, Arch>::size >= 16 ? 8 : 4;
  std::size_t m = 0;
  for (const std::size_t whole = m_size - m_size % rows; m < whole; m += rows)
    detail::gemm_rows<Arch, rows>(n_size, k_size, a, m, b, ldb, c + m * ldc, ldc);
  const auto last_rows = [&]<std::size_t... Height>(std::index_sequence<Height...>) {
    ((m_size - m == Height + 1 ? detail::gemm_rows<Arch, Height + 1>(n_size, k_size, a, m, b, ldb, c + m * ldc, ldc)
                               : void()),
     ...);
  };
  last_rows(std::make_index_sequence<rows - 1>{});
}

// C[m,n] += sum_k A[m,k] B[n,k]
inline void gemm_nt_reference(std::size_t m_size, std::size_t n_size, std::size_t k_size, const float* a,
                              std::size_t lda, const float* b, std::size_t ldb, float* c, std::size_t ldc) noexcept {
  for (std::size_t m = 0; m < m_size; ++m)
    for (std::size_t n = 0; n < n_size; ++n) {
      float total = 0;
      for (std::size_t k = 0; k < k_size; ++k) total += a[m * lda + k] * b[n * ldb + k];
      c[m * ldc + n] += total;
    }
}

namespace detail {
// Rows x Columns dot products at once: each SIMD step along k loads Rows vectors of A and
// Columns of B for Rows * Columns multiply-adds, and each sum is reduced across lanes once.
template <class Arch, std::size_t Rows, std::size_t Columns>
void gemm_nt_block(std::size_t k_size, const float* a, std::size_t lda, const float* b, std::size_t ldb, float* c,
                   std::size_t ldc) noexcept {
  using batch = xsimd::batch<float, Arch>;
  batch acc[Rows][Columns];
  for (std::size_t r = 0; r < Rows; ++r)
    for (std::size_t col = 0; col < Columns; ++col) acc[r][col] = batch(0.0f);
  std::size_t k = 0;
  for (const std::size_t whole = k_size - k_size % batch::size; k < whole; k += batch::size) {
    batch b_rows[Columns];
    for (std::size_t col = 0; col < Columns; ++col) b_rows[col] = batch::load_unaligned(b + col * ldb + k);
    for (std::size_t r = 0; r < Rows; ++r) {
      const batch a_row = batch::load_unaligned(a + r * lda + k);
      for (std::size_t col = 0; col < Columns; ++col) acc[r][col] = xsimd::fma(a_row, b_rows[col], acc[r][col]);
    }
  }
  for (std::size_t r = 0; r < Rows; ++r)
    for (std::size_t col = 0; col < Columns; ++col) {
      float total = xsimd::hadd(acc[r][col]);
      for (std::size_t tail = k; tail < k_size; ++tail) total += a[r * lda + tail] * b[col * ldb + tail];
      c[r * ldc + col] += total;
    }
}

template <class Arch, std::size_t Rows, std::size_t Columns>
void gemm_nt_rows(std::size_t n_size, std::size_t k_size, const float* a, std::size_t lda, const float* b,
                  std::size_t ldb, float* c, std::size_t ldc) noexcept {
  std::size_t n = 0;
  for (const std::size_t whole = n_size - n_size % Columns; n < whole; n += Columns)
    gemm_nt_block<Arch, Rows, Columns>(k_size, a, lda, b + n * ldb, ldb, c + n, ldc);
  for (; n < n_size; ++n) gemm_nt_block<Arch, Rows, 1>(k_size, a, lda, b + n * ldb, ldb, c + n, ldc);
}
}  // namespace detail

// Blocks of 4 rows of A by 4 rows of B (8 loads for 16 multiply-adds); a single row of A, as in
// inference on one image, takes 8 rows of B at a time so that B is streamed once.
template <class Arch = xsimd::default_arch>
void gemm_nt(std::size_t m_size, std::size_t n_size, std::size_t k_size, const float* a, std::size_t lda,
             const float* b, std::size_t ldb, float* c, std::size_t ldc) noexcept {
  std::size_t m = 0;
  for (const std::size_t whole = m_size - m_size % 4; m < whole; m += 4)
    detail::gemm_nt_rows<Arch, 4, 4>(n_size, k_size, a + m * lda, lda, b, ldb, c + m * ldc, ldc);
  for (; m < m_size; ++m) detail::gemm_nt_rows<Arch, 1, 8>(n_size, k_size, a + m * lda, lda, b, ldb, c + m * ldc, ldc);
}

}  // namespace ctnn::kernels
