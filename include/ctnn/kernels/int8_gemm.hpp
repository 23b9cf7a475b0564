// Integer matrix product for int8 inference: y = requantize(A W^T), A unsigned 8-bit
// activations (M,K) row-major with row stride lda, W signed 8-bit weights (N,K), int32
// accumulation, then one of two epilogues per output column n:
//   Requantize   code  = clamp(nearbyint((acc + offset[n]) * multiplier[n]), lowest, 255), in u8;
//   Dequantize   value = (acc + offset[n]) * multiplier[n], optionally max(value, 0), in float.
// That is the integer-arithmetic-only inference of Jacob et al. (2018), eq. 4-7, with the
// per-channel multiplier applied in float (as FBGEMM does) rather than as a fixed-point product.
// int8_gemm_max_pool takes the maximum of groups of rows before the epilogue (a convolution
// followed by max pooling), which is exact because both epilogues are non-decreasing.
//
// Layout: W is packed once, for dot products of 4 consecutive k: word [g][n] of the packed
// matrix holds the 4 bytes w[n][4g..4g+3] (little-endian), and n runs to N padded to 16 (one
// AVX-512 register of int32 lanes), so the 4-byte dot product of Intel's VNNI (vpdpbusd: 16
// lanes x 4 u8*s8 products added to int32) takes one load of W and one broadcast of A's 4 bytes.
// A row's K is read in whole groups of 4: its bytes past K must exist (the packed W is zero
// there). The register block is Rows x Vectors int32 batches: up to 4 vectors of outputs by up
// to 20 / Vectors rows (10 / Vectors below AVX-512, which has half the registers).
//
// The 4-way dot product: xsimd 8.1 has no u8*s8 dot product, so where the compiler targets
// AVX512-VNNI (-march=native here) it is the one intrinsic _mm512_dpbusd_epi32, and elsewhere
// (the CI's baseline x86-64, or with Vnni = false) it is spelled out in xsimd int32 arithmetic:
// each byte sign- or zero-extended by shifts, multiplied and added, which gives the same integer.
// Weights must lie in [-127, 127] and K < 65536, so the int32 sums cannot overflow.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <xsimd/xsimd.hpp>

#if defined(__AVX512VNNI__)
#include <immintrin.h>
#endif

namespace ctnn::kernels {

// Whether `Arch` gets the VNNI instruction: compiled for AVX512-VNNI and an AVX-512 batch.
template <class Arch>
inline constexpr bool has_vnni =
#if defined(__AVX512VNNI__) && XSIMD_WITH_AVX512BW
    std::is_base_of_v<xsimd::avx512bw, Arch>;
#else
    false;
#endif

// Output columns of the packed weights come in whole blocks of this many.
inline constexpr std::size_t int8_column_block = 16;

constexpr std::size_t int8_padded_outputs(std::size_t outputs) noexcept {
  return (outputs + int8_column_block - 1) / int8_column_block * int8_column_block;
}
// Groups of 4 along K, and the bytes an activation row must hold.
constexpr std::size_t int8_groups(std::size_t depth) noexcept { return (depth + 3) / 4; }
constexpr std::size_t int8_padded_depth(std::size_t depth) noexcept { return 4 * int8_groups(depth); }
// int32 words of the packed weights of an (outputs, depth) matrix.
constexpr std::size_t int8_packed_words(std::size_t outputs, std::size_t depth) noexcept {
  return int8_groups(depth) * int8_padded_outputs(outputs);
}

// Packed weights (see the header comment) with their logical shape (N,K); w(n, k) reads one.
struct Int8Weights {
  const std::int32_t* packed;
  std::size_t outputs, depth;

  constexpr std::size_t groups() const noexcept { return int8_groups(depth); }
  constexpr std::size_t padded_outputs() const noexcept { return int8_padded_outputs(outputs); }
  std::int8_t operator()(std::size_t n, std::size_t k) const noexcept {
    const auto word = static_cast<std::uint32_t>(packed[k / 4 * padded_outputs() + n]);
    return static_cast<std::int8_t>(static_cast<std::uint8_t>(word >> (8 * (k % 4))));
  }
};

// packed <- the (outputs, depth) matrix w with row stride ldw, in Int8Weights' layout, zero
// beyond its rows and columns. packed holds int8_packed_words(outputs, depth) words.
inline void pack_int8_weights(std::size_t outputs, std::size_t depth, const std::int8_t* w, std::size_t ldw,
                              std::int32_t* packed) noexcept {
  const std::size_t padded = int8_padded_outputs(outputs);
  for (std::size_t g = 0; g < int8_groups(depth); ++g)
    for (std::size_t n = 0; n < padded; ++n) {
      std::uint8_t bytes[4] = {0, 0, 0, 0};
      for (std::size_t j = 0; j < 4 && n < outputs && 4 * g + j < depth; ++j)
        bytes[j] = static_cast<std::uint8_t>(w[n * ldw + 4 * g + j]);
      std::memcpy(packed + g * padded + n, bytes, 4);
    }
}

// The u8 epilogue. offset and multiplier are read up to the padded output count.
struct Requantize {
  const std::int32_t* offset;  // added to the int32 sum: bias minus input zero point x row sum
  const float* multiplier;     // input scale x weight scale / output scale
  std::int32_t zero_point;     // the output's
  std::int32_t lowest;         // smallest code: the zero point under ReLU, 0 otherwise
};

// The float epilogue (logits), same reading rules.
struct Dequantize {
  const std::int32_t* offset;
  const float* multiplier;  // input scale x weight scale
  bool relu;
};

namespace detail {

// The requantized code of one sum. Clamping before rounding keeps nearbyint's argument in the
// int32 range; with integer bounds it is the same as clamping after.
inline std::uint8_t requantize_value(std::int32_t sum, std::size_t n, const Requantize& out) noexcept {
  float value = static_cast<float>(sum + out.offset[n]) * out.multiplier[n];
  value = std::min(std::max(value, static_cast<float>(out.lowest - out.zero_point)),
                   static_cast<float>(255 - out.zero_point));
  return static_cast<std::uint8_t>(static_cast<std::int32_t>(std::nearbyint(value)) + out.zero_point);
}
inline float dequantize_value(std::int32_t sum, std::size_t n, const Dequantize& out) noexcept {
  const float value = static_cast<float>(sum + out.offset[n]) * out.multiplier[n];
  return out.relu ? std::max(value, 0.0f) : value;
}

}  // namespace detail

// y[m,n] = epilogue(sum_k a[m,k] w[n,k]) for m < rows, n < w.outputs.
template <class Output, class Value>
void int8_gemm_reference(std::size_t rows, const std::uint8_t* a, std::size_t lda, Int8Weights w, const Output& out,
                         Value* y, std::size_t ldy) noexcept {
  for (std::size_t m = 0; m < rows; ++m)
    for (std::size_t n = 0; n < w.outputs; ++n) {
      std::int32_t sum = 0;
      for (std::size_t k = 0; k < w.depth; ++k) sum += std::int32_t{a[m * lda + k]} * std::int32_t{w(n, k)};
      if constexpr (std::is_same_v<Output, Requantize>)
        y[m * ldy + n] = detail::requantize_value(sum, n, out);
      else
        y[m * ldy + n] = detail::dequantize_value(sum, n, out);
    }
}

namespace detail {

// acc + the dot products of the 4 unsigned bytes of each lane of `a` with the 4 signed bytes of
// the same lane of `w` (vpdpbusd, without saturation).
template <class Arch, bool Vnni>
xsimd::batch<std::int32_t, Arch> dot4_accumulate(const xsimd::batch<std::int32_t, Arch>& acc,
                                                 const xsimd::batch<std::int32_t, Arch>& a,
                                                 const xsimd::batch<std::int32_t, Arch>& w) noexcept {
#if defined(__AVX512VNNI__) && XSIMD_WITH_AVX512BW
  // The only intrinsic in the int8 kernels: xsimd 8.1 has no dot product of bytes.
  if constexpr (Vnni) {
    return _mm512_dpbusd_epi32(acc, a, w);
  } else
#endif
  {
    using ints = xsimd::batch<std::int32_t, Arch>;
    const ints byte_mask(0xff);
    ints sum = acc;
    sum += (a & byte_mask) * ((w << 24) >> 24);
    sum += ((a >> 8) & byte_mask) * ((w << 16) >> 24);
    sum += ((a >> 16) & byte_mask) * ((w << 8) >> 24);
    sum += ((a >> 24) & byte_mask) * (w >> 24);
    return sum;
  }
}

// Writes the `count` first lanes of one output vector (columns n0 .. n0 + count) of one row.
template <class Arch>
void store_outputs(xsimd::batch<std::int32_t, Arch> sum, std::size_t n0, std::size_t count, const Requantize& out,
                   std::uint8_t* y) noexcept {
  using ints = xsimd::batch<std::int32_t, Arch>;
  using floats = xsimd::batch<float, Arch>;
  floats value =
      xsimd::to_float(sum + ints::load_unaligned(out.offset + n0)) * floats::load_unaligned(out.multiplier + n0);
  value = xsimd::min(xsimd::max(value, floats(static_cast<float>(out.lowest - out.zero_point))),
                     floats(static_cast<float>(255 - out.zero_point)));
  alignas(64) std::int32_t codes[ints::size];
  (xsimd::nearbyint_as_int(value) + ints(out.zero_point)).store_aligned(codes);
  for (std::size_t i = 0; i < count; ++i) y[n0 + i] = static_cast<std::uint8_t>(codes[i]);
}
template <class Arch>
void store_outputs(xsimd::batch<std::int32_t, Arch> sum, std::size_t n0, std::size_t count, const Dequantize& out,
                   float* y) noexcept {
  using ints = xsimd::batch<std::int32_t, Arch>;
  using floats = xsimd::batch<float, Arch>;
  floats value =
      xsimd::to_float(sum + ints::load_unaligned(out.offset + n0)) * floats::load_unaligned(out.multiplier + n0);
  if (out.relu) value = xsimd::max(value, floats(0.0f));
  if (count == floats::size) {
    value.store_unaligned(y + n0);
    return;
  }
  alignas(64) float values[floats::size];
  value.store_aligned(values);
  std::copy_n(values, count, y + n0);
}

// Rows x Vectors output vectors in registers over the whole K; w points at the block's first
// column, `columns` is how many of the block's columns are real. Each step of k is one fold over
// the block's Rows * Vectors entries (index i: row i / Vectors, vector i % Vectors), so that
// every accumulator is its own register to the compiler: g++ leaves a loop of 24 rolled, with
// its accumulators in memory. The weight loads are a fold over the first Vectors indices; the
// other indices name an element in range that the false branch never reads. With Pool > 1 the
// rows come in groups of Pool, and each group's int32 maximum is what is requantized (one row of
// y per group).
template <class Arch, bool Vnni, std::size_t Rows, std::size_t Vectors, std::size_t Pool, class Output, class Value>
void int8_gemm_block(std::size_t groups, const std::uint8_t* a, std::size_t lda, const std::int32_t* w,
                     std::size_t w_stride, std::size_t n0, std::size_t columns, const Output& out, Value* y,
                     std::size_t ldy) noexcept {
  static_assert(Rows % Pool == 0, "int8_gemm: a register block holds whole pooling groups");
  using ints = xsimd::batch<std::int32_t, Arch>;
  using block = std::make_index_sequence<Rows * Vectors>;
  ints acc[Rows][Vectors];
  [&]<std::size_t... I>(std::index_sequence<I...>) { ((acc[I / Vectors][I % Vectors] = ints(0)), ...); }
  (block{});
  const auto step = [&]<std::size_t... I>(const std::int32_t* w_group, const std::uint8_t* a_group,
                                          std::index_sequence<I...>) {
    ints weights[Vectors];
    ((I < Vectors ? void(weights[I % Vectors] = ints::load_unaligned(w_group + (I % Vectors) * ints::size)) : void()),
     ...);
    // A row's 4 bytes are broadcast where the row starts, so that one is live at a time.
    ints activations;
    const auto broadcast = [](const std::uint8_t* four) {
      std::int32_t bytes;
      std::memcpy(&bytes, four, 4);
      return ints(bytes);
    };
    ((I % Vectors == 0 ? void(activations = broadcast(a_group + (I / Vectors) * lda)) : void(),
      acc[I / Vectors][I % Vectors] =
          dot4_accumulate<Arch, Vnni>(acc[I / Vectors][I % Vectors], activations, weights[I % Vectors])),
     ...);
  };
  for (std::size_t g = 0; g < groups; ++g) step(w + g * w_stride, a + 4 * g, block{});
  ints pooled[Rows / Pool][Vectors];
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((pooled[I / Vectors / Pool][I % Vectors] =
          (I / Vectors) % Pool == 0
              ? acc[I / Vectors][I % Vectors]
              : xsimd::max(pooled[I / Vectors / Pool][I % Vectors], acc[I / Vectors][I % Vectors])),
     ...);
  }
  (block{});
  const auto store = [&](ints sum, std::size_t row, std::size_t first) {
    if (first < columns)
      store_outputs<Arch>(sum, n0 + first, std::min(ints::size, columns - first), out, y + row * ldy);
  };
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (store(pooled[I / Vectors][I % Vectors], I / Vectors, (I % Vectors) * ints::size), ...);
  }
  (std::make_index_sequence<Rows / Pool * Vectors>{});
}

// Every row of A against one block of columns: blocks of Rows rows, then the rest in blocks of
// half as many pooling groups, down to one group.
template <class Arch, bool Vnni, std::size_t Rows, std::size_t Vectors, std::size_t Pool, class Output, class Value>
void int8_gemm_rows(std::size_t rows, std::size_t groups, const std::uint8_t* a, std::size_t lda, const std::int32_t* w,
                    std::size_t w_stride, std::size_t n0, std::size_t columns, const Output& out, Value* y,
                    std::size_t ldy) noexcept {
  std::size_t m = 0;
  for (; m + Rows <= rows; m += Rows)
    int8_gemm_block<Arch, Vnni, Rows, Vectors, Pool>(groups, a + m * lda, lda, w, w_stride, n0, columns, out,
                                                     y + m / Pool * ldy, ldy);
  if constexpr (Rows > Pool)
    if (m < rows)
      int8_gemm_rows<Arch, Vnni, Rows / Pool / 2 * Pool, Vectors, Pool>(rows - m, groups, a + m * lda, lda, w, w_stride,
                                                                        n0, columns, out, y + m / Pool * ldy, ldy);
}

}  // namespace detail

// int8_gemm with max pooling of the sums: rows come in groups of Pool (rows a multiple of it) and
// y[m / Pool, n] = epilogue(max over the group's rows of sum_k a[m,k] w[n,k]). Both epilogues
// are non-decreasing in the sum (the multipliers are positive), so this equals max pooling of
// int8_gemm's outputs, with a Pool-th of the epilogues.
template <std::size_t Pool, class Arch = xsimd::default_arch, bool Vnni = has_vnni<Arch>, class Output, class Value>
void int8_gemm_max_pool(std::size_t rows, const std::uint8_t* a, std::size_t lda, Int8Weights w, const Output& out,
                        Value* y, std::size_t ldy) noexcept {
  static_assert(Pool > 0, "int8_gemm: pooling groups hold at least one row");
  static_assert(!Vnni || has_vnni<Arch>, "int8_gemm: the VNNI path needs an AVX512-VNNI build and an AVX-512 Arch");
  constexpr std::size_t lanes = xsimd::batch<std::int32_t, Arch>::size;
  constexpr std::size_t accumulators = lanes >= 16 ? 20 : 10;
  const std::size_t vectors = (w.outputs + lanes - 1) / lanes;
  const std::size_t w_stride = w.padded_outputs();
  for (std::size_t v0 = 0; v0 < vectors; v0 += 4) {
    const std::size_t n0 = v0 * lanes, columns = std::min(4 * lanes, w.outputs - n0);
    const auto run = [&]<std::size_t Vectors>(std::integral_constant<std::size_t, Vectors>) {
      constexpr std::size_t rows_per_block = std::max<std::size_t>(1, accumulators / Vectors / Pool) * Pool;
      detail::int8_gemm_rows<Arch, Vnni, rows_per_block, Vectors, Pool>(rows, w.groups(), a, lda, w.packed + n0,
                                                                        w_stride, n0, columns, out, y, ldy);
    };
    switch (std::min<std::size_t>(4, vectors - v0)) {
      case 1:
        run(std::integral_constant<std::size_t, 1>{});
        break;
      case 2:
        run(std::integral_constant<std::size_t, 2>{});
        break;
      case 3:
        run(std::integral_constant<std::size_t, 3>{});
        break;
      default:
        run(std::integral_constant<std::size_t, 4>{});
        break;
    }
  }
}

// The blocked version of int8_gemm_reference: the same integers, and the same float operations
// in the epilogue, so the outputs are equal bit for bit.
template <class Arch = xsimd::default_arch, bool Vnni = has_vnni<Arch>, class Output, class Value>
void int8_gemm(std::size_t rows, const std::uint8_t* a, std::size_t lda, Int8Weights w, const Output& out, Value* y,
               std::size_t ldy) noexcept {
  int8_gemm_max_pool<1, Arch, Vnni>(rows, a, lda, w, out, y, ldy);
}

}  // namespace ctnn::kernels
