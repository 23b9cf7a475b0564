// kernels/dense.hpp: forward, backward_data and backward_weights over a batch of images against
// their references, with input and output counts around the SIMD width, LeNet's layer sizes,
// batches of one and several images, and row strides wider than a row (as when images sit in
// padded tensors). dy has dead units (a whole output at zero, as behind a ReLU) and scattered
// zeros.
#include <doctest/doctest.h>

#include <array>

#include <ctnn/kernels/dense.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;
using kernels::DenseBatch;

// Count images; x rows are Inputs floats every Inputs + XPadding, y rows Outputs every
// Outputs + YPadding; w is (Outputs,Inputs).
template <std::size_t Inputs, std::size_t Outputs, std::size_t Count = 1, std::size_t XPadding = 0,
          std::size_t YPadding = 0, std::size_t Misalign = 0>
struct DenseCase {
  static constexpr DenseBatch batch{Inputs, Outputs, Count, Inputs + XPadding, Outputs + YPadding};
  static constexpr std::size_t inputs = Inputs, outputs = Outputs, count = Count, misalign = Misalign;
  static constexpr std::size_t x_size = Count * batch.x_stride, y_size = Count * batch.y_stride;
};

using OneToOne = DenseCase<1, 1>;
using SevenToThree = DenseCase<7, 3>;
using SeventeenToFive = DenseCase<17, 5, 1, 0, 0, 1>;
using Wide = DenseCase<1024, 120>;
using LeNetFc1 = DenseCase<400, 120, 4>;
using LeNetOutput = DenseCase<120, 10, 3, 8, 6>;
using Widening = DenseCase<31, 97, 2, 1, 3, 1>;
using AroundWidth = DenseCase<test::width + 1, test::width - 1, 1, 0, 0, 1>;
using TwoWidths = DenseCase<2 * test::width, 2 * test::width, 5>;
using Batch = DenseCase<test::width - 1, 7, 6, 2, 1>;

TYPE_TO_STRING_AS("1 to 1", OneToOne);
TYPE_TO_STRING_AS("7 to 3", SevenToThree);
TYPE_TO_STRING_AS("17 to 5 unaligned", SeventeenToFive);
TYPE_TO_STRING_AS("1024 to 120", Wide);
TYPE_TO_STRING_AS("400 to 120 LeNet fc1 4 images", LeNetFc1);
TYPE_TO_STRING_AS("120 to 10 3 images padded rows", LeNetOutput);
TYPE_TO_STRING_AS("31 to 97 2 images padded rows unaligned", Widening);
TYPE_TO_STRING_AS("W+1 to W-1 unaligned", AroundWidth);
TYPE_TO_STRING_AS("2W to 2W 5 images", TwoWidths);
TYPE_TO_STRING_AS("W-1 to 7 6 images padded rows", Batch);

using DenseCases = std::tuple<OneToOne, SevenToThree, SeventeenToFive, Wide, LeNetFc1, LeNetOutput, Widening,
                              AroundWidth, TwoWidths, Batch>;

namespace {

template <class Case>
constexpr std::uint64_t case_seed(std::uint64_t base) {
  return ctnn::derive_seed(base, ((Case::inputs * 100'003 + Case::outputs) * 16 + Case::count) * 2 + Case::misalign);
}

// Random x, w, b and dy. A fifth of the outputs are dead (dy is 0 for every image) and a fifth of
// the other gradients are 0.
template <class Case>
struct DenseData {
  test::Guarded x = test::random_buffer(Case::x_size, case_seed<Case>(301), -1, 1, Case::misalign);
  test::Guarded w =
      test::random_buffer(Case::inputs * Case::outputs, case_seed<Case>(302), -0.5f, 0.5f, Case::misalign);
  test::Guarded b = test::random_buffer(Case::outputs, case_seed<Case>(303), -0.5f, 0.5f);
  test::Guarded dy = [] {
    auto dy = test::random_buffer(Case::y_size, case_seed<Case>(304), -1, 1, Case::misalign);
    test::zero_some(dy, 0.2, case_seed<Case>(305));
    ctnn::Rng rng(case_seed<Case>(306));
    for (std::size_t m = 0; m < Case::outputs; ++m)
      if (rng.uniform() < 0.2f)
        for (std::size_t i = 0; i < Case::count; ++i) dy[i * Case::batch.y_stride + m] = 0;
    return dy;
  }();
};

// Gathers the used part of each row (`used` floats every `stride`) into one contiguous buffer.
test::Guarded rows_of(const test::Guarded& buffer, std::size_t count, std::size_t used, std::size_t stride) {
  test::Guarded rows(count * used);
  for (std::size_t i = 0; i < count; ++i)
    for (std::size_t j = 0; j < used; ++j) rows[i * used + j] = buffer[i * stride + j];
  return rows;
}

// The floats between rows (from `used` to `stride` in each row) must keep their bits.
void check_row_padding(const test::Guarded& after, const test::Guarded& before, std::size_t count, std::size_t used,
                       std::size_t stride) {
  for (std::size_t i = 0; i < count; ++i) {
    const auto untouched = test::bit_difference({after.data() + i * stride + used, stride - used},
                                                {before.data() + i * stride + used, stride - used});
    CAPTURE(i);
    CHECK_MESSAGE(untouched.error == 0, untouched);
  }
}

}  // namespace

TEST_CASE("kernel dense: the references give hand-computed values") {
  // w = [1 2 3; 4 5 6], b = (0.5, -1); two images x0 = (1, -1, 2) and x1 = (0, 1, 0) in rows of 4
  // floats, outputs in rows of 3; the padding floats hold 1000 and must keep it.
  const std::array<float, 6> w{1, 2, 3, 4, 5, 6};
  const std::array<float, 2> b{0.5f, -1};
  const std::array<float, 8> x{1, -1, 2, 1000, 0, 1, 0, 1000};
  constexpr DenseBatch d{3, 2, 2, 4, 3};
  std::array<float, 6> y{0, 0, 1000, 0, 0, 1000}, fast_y = y;
  kernels::dense_forward_reference(d, x.data(), w.data(), b.data(), y.data());
  kernels::dense_forward(d, x.data(), w.data(), b.data(), fast_y.data());
  CHECK(y == std::array<float, 6>{5.5f, 10, 1000, 2.5f, 4, 1000});
  CHECK(fast_y == y);

  // dx[i] = w^T dy[i] with dy0 = (2, -1) and dy1 = (1, 0).
  const std::array<float, 6> dy{2, -1, 1000, 1, 0, 1000};
  std::array<float, 8> dx{7, 7, 7, 1000, 7, 7, 7, 1000}, fast_dx = dx;
  kernels::dense_backward_data_reference(d, w.data(), dy.data(), dx.data());
  kernels::dense_backward_data(d, w.data(), dy.data(), fast_dx.data());
  CHECK(dx == std::array<float, 8>{-2, -1, 0, 1000, 1, 2, 3, 1000});
  CHECK(fast_dx == dx);

  // dw += dy0 x0^T + dy1 x1^T and db += dy0 + dy1, onto ones.
  std::array<float, 6> dw{1, 1, 1, 1, 1, 1}, fast_dw = dw;
  std::array<float, 2> db{1, 1}, fast_db = db;
  kernels::dense_backward_weights_reference(d, x.data(), dy.data(), dw.data(), db.data());
  kernels::dense_backward_weights(d, x.data(), dy.data(), fast_dw.data(), fast_db.data());
  CHECK(dw == std::array<float, 6>{3, 0, 5, 0, 2, -1});
  CHECK(db == std::array<float, 2>{4, 0});
  CHECK(fast_dw == dw);
  CHECK(fast_db == db);
}

// y[i,m] = b[m] + a dot product of `inputs` terms. y starts as garbage; its row padding must
// keep its bits.
TEST_CASE_TEMPLATE_DEFINE("kernel dense: dense_forward matches dense_forward_reference", Case, dense_forward_test) {
  const DenseData<Case> data;
  const auto y_start = test::random_buffer(Case::y_size, 1, 100, 200);
  auto fast = test::copy_of(y_start, Case::misalign), reference = test::copy_of(y_start);
  kernels::dense_forward(Case::batch, data.x.data(), data.w.data(), data.b.data(), fast.data());
  kernels::dense_forward_reference(Case::batch, data.x.data(), data.w.data(), data.b.data(), reference.data());

  auto magnitude = test::copy_of(y_start);
  kernels::dense_forward_reference(Case::batch, test::absolute(data.x).data(), test::absolute(data.w).data(),
                                   test::absolute(data.b).data(), magnitude.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Case::inputs + 1), worst);
  check_row_padding(fast, y_start, Case::count, Case::outputs, Case::batch.y_stride);
  CHECK(fast.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(dense_forward_test, DenseCases);

// dx[i,n] sums `outputs` products. dx starts as garbage, which backward_data must overwrite, except
// in the row padding, which must keep its bits.
TEST_CASE_TEMPLATE_DEFINE("kernel dense: dense_backward_data matches dense_backward_data_reference", Case,
                          dense_backward_data_test) {
  const DenseData<Case> data;
  const auto dx_start = test::random_buffer(Case::x_size, 3, 100, 200);
  auto fast = test::copy_of(dx_start, Case::misalign), reference = test::copy_of(dx_start);
  kernels::dense_backward_data(Case::batch, data.w.data(), data.dy.data(), fast.data());
  kernels::dense_backward_data_reference(Case::batch, data.w.data(), data.dy.data(), reference.data());

  auto magnitude = test::copy_of(dx_start);
  kernels::dense_backward_data_reference(Case::batch, test::absolute(data.w).data(), test::absolute(data.dy).data(),
                                         magnitude.data());
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Case::outputs), worst);
  check_row_padding(fast, dx_start, Case::count, Case::inputs, Case::batch.x_stride);
  CHECK(fast.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(dense_backward_data_test, DenseCases);

// Accumulates onto non-zero dw and db. dw[m,n] gains `count` products; db[m] gains the same dy
// values in the same image order in both flavours, so it must match bit for bit. Dead outputs
// (dy = 0 for every image) add only zero products, so their dw row must keep its bits.
TEST_CASE_TEMPLATE_DEFINE("kernel dense: dense_backward_weights matches dense_backward_weights_reference", Case,
                          dense_backward_weights_test) {
  const DenseData<Case> data;
  const auto dw_start = test::random_buffer(Case::inputs * Case::outputs, 5, -2, 2);
  const auto db_start = test::random_buffer(Case::outputs, 6, -2, 2);
  auto fast_dw = test::copy_of(dw_start, Case::misalign), reference_dw = test::copy_of(dw_start);
  auto fast_db = test::copy_of(db_start, Case::misalign), reference_db = test::copy_of(db_start);
  kernels::dense_backward_weights(Case::batch, data.x.data(), data.dy.data(), fast_dw.data(), fast_db.data());
  kernels::dense_backward_weights_reference(Case::batch, data.x.data(), data.dy.data(), reference_dw.data(),
                                            reference_db.data());

  auto magnitude = test::absolute(dw_start), unused_db = test::absolute(db_start);
  kernels::dense_backward_weights_reference(Case::batch, test::absolute(data.x).data(), test::absolute(data.dy).data(),
                                            magnitude.data(), unused_db.data());
  const auto worst = test::max_relative_error(fast_dw.span(), reference_dw.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(Case::count + 1), worst);
  const auto db_difference = test::bit_difference(fast_db.span(), reference_db.span());
  CHECK_MESSAGE(db_difference.error == 0, db_difference);

  // The reference reads only the used part of each x row: the same result from packed rows.
  const auto packed_x = rows_of(data.x, Case::count, Case::inputs, Case::batch.x_stride);
  const auto packed_dy = rows_of(data.dy, Case::count, Case::outputs, Case::batch.y_stride);
  auto packed_dw = test::copy_of(dw_start), packed_db = test::copy_of(db_start);
  kernels::dense_backward_weights_reference({Case::inputs, Case::outputs, Case::count, Case::inputs, Case::outputs},
                                            packed_x.data(), packed_dy.data(), packed_dw.data(), packed_db.data());
  const auto packed = test::bit_difference(packed_dw.span(), reference_dw.span());
  CHECK_MESSAGE(packed.error == 0, packed);

  std::size_t dead = 0;
  for (std::size_t m = 0; m < Case::outputs; ++m) {
    bool all_zero = true;
    for (std::size_t i = 0; i < Case::count; ++i) all_zero = all_zero && data.dy[i * Case::batch.y_stride + m] == 0;
    if (!all_zero) continue;
    ++dead;
    const auto untouched = test::bit_difference({fast_dw.data() + m * Case::inputs, Case::inputs},
                                                {dw_start.data() + m * Case::inputs, Case::inputs});
    CAPTURE(m);
    CHECK_MESSAGE(untouched.error == 0, untouched);
  }
  if (Case::outputs >= 10) CHECK(dead > 0);
  CHECK(fast_dw.guards_intact());
  CHECK(fast_db.guards_intact());
}
TEST_CASE_TEMPLATE_APPLY(dense_backward_weights_test, DenseCases);
