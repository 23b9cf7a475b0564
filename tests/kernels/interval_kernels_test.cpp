// kernels/interval.hpp: the changes of form, |w| and its gradient and the interval affine map
// against their references on lengths around the SIMD width; the specification margins are
// the exact minimum over the box's corners, and their SIMD flavour and gradient match the
// references; the worst-case cross-entropy on hand-computed cases.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <vector>

#include <ctnn/kernels/interval.hpp>

#include "kernels/kernel_check.hpp"

namespace kernels = ctnn::kernels;
namespace test = ctnn::test;

namespace {
template <class Size>
constexpr std::uint64_t size_seed(std::uint64_t base) {
  return ctnn::derive_seed(base, Size::n * 2 + Size::misalign);
}
}  // namespace

TEST_CASE("kernel interval: the references give hand-computed values") {
  const std::array<float, 2> l{-1, 2}, u{3, 2};
  std::array<float, 2> c{}, r{}, back_l{}, back_u{};
  kernels::interval_centre_radius_reference(2, 0.5f, l.data(), u.data(), c.data(), r.data());
  CHECK(c == std::array<float, 2>{1, 2});
  CHECK(r == std::array<float, 2>{2, 0});
  kernels::interval_lower_upper_reference(2, 1.0f, c.data(), r.data(), back_l.data(), back_u.data());
  CHECK(back_l == l);
  CHECK(back_u == u);

  std::array<float, 2> out_l{}, out_u{};
  kernels::interval_scale_shift_reference(2, -2.0f, 1.0f, l.data(), u.data(), out_l.data(), out_u.data());
  CHECK(out_l == std::array<float, 2>{-5, -3});
  CHECK(out_u == std::array<float, 2>{3, -3});

  const std::array<float, 3> w{-2, 0, 3}, d_abs{1, 1, 1};
  std::array<float, 3> grad{10, 10, 10};
  kernels::add_abs_gradient_reference(3, w.data(), d_abs.data(), grad.data());
  CHECK(grad == std::array<float, 3>{9, 10, 11});
}

// Each output is one product of a sum or difference of two values: 2 rounding errors at most.
TEST_CASE_TEMPLATE_DEFINE("kernel interval: the element-wise kernels match their references", Size, elementwise_test) {
  const auto a = test::random_buffer(Size::n, size_seed<Size>(701), -3, 3, Size::misalign);
  const auto b = test::random_buffer(Size::n, size_seed<Size>(702), -3, 3, 2 * Size::misalign);
  auto fast_1 = test::random_buffer(Size::n, 1, 100, 200), fast_2 = test::random_buffer(Size::n, 2, 100, 200);
  auto ref_1 = test::random_buffer(Size::n, 3, 100, 200), ref_2 = test::random_buffer(Size::n, 4, 100, 200);
  const auto same = [&] {
    CHECK_MESSAGE(test::bit_difference(fast_1.span(), ref_1.span()).error == 0,
                  test::bit_difference(fast_1.span(), ref_1.span()));
    CHECK_MESSAGE(test::bit_difference(fast_2.span(), ref_2.span()).error == 0,
                  test::bit_difference(fast_2.span(), ref_2.span()));
    CHECK(fast_1.guards_intact());
    CHECK(fast_2.guards_intact());
  };
  kernels::interval_centre_radius(Size::n, 0.5f, a.data(), b.data(), fast_1.data(), fast_2.data());
  kernels::interval_centre_radius_reference(Size::n, 0.5f, a.data(), b.data(), ref_1.data(), ref_2.data());
  same();
  kernels::interval_lower_upper(Size::n, 1.0f, a.data(), b.data(), fast_1.data(), fast_2.data());
  kernels::interval_lower_upper_reference(Size::n, 1.0f, a.data(), b.data(), ref_1.data(), ref_2.data());
  same();
  // In place, as the layers use them.
  auto in_place_1 = test::copy_of(a), in_place_2 = test::copy_of(b);
  kernels::interval_centre_radius(Size::n, 1.0f, in_place_1.data(), in_place_2.data(), in_place_1.data(),
                                  in_place_2.data());
  kernels::interval_centre_radius_reference(Size::n, 1.0f, a.data(), b.data(), ref_1.data(), ref_2.data());
  CHECK(test::bit_difference(in_place_1.span(), ref_1.span()).error == 0);
  CHECK(test::bit_difference(in_place_2.span(), ref_2.span()).error == 0);
  fast_2 = test::copy_of(ref_2);
  kernels::abs_values(Size::n, a.data(), fast_1.data());
  kernels::abs_values_reference(Size::n, a.data(), ref_1.data());
  kernels::add_abs_gradient(Size::n, a.data(), b.data(), fast_2.data());
  kernels::add_abs_gradient_reference(Size::n, a.data(), b.data(), ref_2.data());
  same();
}
TEST_CASE_TEMPLATE_APPLY(elementwise_test, test::AwkwardLengths);

// scale x + shift on each bound, fused or not: 2 gamma(2) relative to |scale x| + |shift|; a
// negative scale swaps the bounds in both.
TEST_CASE_TEMPLATE_DEFINE("kernel interval: interval_scale_shift matches its reference", Size, scale_shift_test) {
  const auto l = test::random_buffer(Size::n, size_seed<Size>(703), -3, 0, Size::misalign);
  const auto u = test::random_buffer(Size::n, size_seed<Size>(704), 0, 3, 3 * Size::misalign);
  for (const float scale : {1.7f, -0.6f}) {
    CAPTURE(scale);
    auto fast_l = test::random_buffer(Size::n, 1, 100, 200), fast_u = test::random_buffer(Size::n, 2, 100, 200);
    auto ref_l = test::random_buffer(Size::n, 3, 100, 200), ref_u = test::random_buffer(Size::n, 4, 100, 200);
    kernels::interval_scale_shift(Size::n, scale, 0.3f, l.data(), u.data(), fast_l.data(), fast_u.data());
    kernels::interval_scale_shift_reference(Size::n, scale, 0.3f, l.data(), u.data(), ref_l.data(), ref_u.data());
    test::Guarded magnitude_l(Size::n), magnitude_u(Size::n);
    const auto& from_l = scale < 0 ? u : l;
    const auto& from_u = scale < 0 ? l : u;
    for (std::size_t i = 0; i < Size::n; ++i) {
      magnitude_l[i] = std::fabs(scale * from_l[i]) + 0.3f;
      magnitude_u[i] = std::fabs(scale * from_u[i]) + 0.3f;
      CHECK(ref_l[i] <= ref_u[i]);
    }
    const auto worst_l = test::max_relative_error(fast_l.span(), ref_l.span(), magnitude_l.span());
    const auto worst_u = test::max_relative_error(fast_u.span(), ref_u.span(), magnitude_u.span());
    CHECK_MESSAGE(worst_l.error <= test::sum_tolerance(2), worst_l);
    CHECK_MESSAGE(worst_u.error <= test::sum_tolerance(2), worst_u);
    CHECK(fast_l.guards_intact());
    CHECK(fast_u.guards_intact());
  }
}
TEST_CASE_TEMPLATE_APPLY(scale_shift_test, test::AwkwardLengths);

TEST_CASE("kernel interval: a margin is the exact minimum of z_label - z_k over the box's corners") {
  constexpr std::size_t inputs = 3, outputs = 4;
  const auto w = test::random_buffer(inputs * outputs, 705);
  const auto b = test::random_buffer(outputs, 706);
  const auto centre = test::random_buffer(inputs, 707);
  const auto radius = test::random_buffer(inputs, 708, 0, 0.5f);
  std::vector<float> l(inputs), u(inputs);
  for (std::size_t n = 0; n < inputs; ++n) {
    l[n] = centre[n] - radius[n];
    u[n] = centre[n] + radius[n];
  }
  for (std::size_t label = 0; label < outputs; ++label) {
    std::array<float, outputs> margin{};
    kernels::margin_bounds_reference(inputs, outputs, w.data(), b.data(), l.data(), u.data(), label, margin.data());
    for (std::size_t k = 0; k < outputs; ++k) {
      double lowest = INFINITY;
      for (unsigned corner = 0; corner < (1u << inputs); ++corner) {
        double difference = double{b[label]} - b[k];
        for (std::size_t n = 0; n < inputs; ++n)
          difference += (double{w[label * inputs + n]} - w[k * inputs + n]) * ((corner >> n) & 1u ? u[n] : l[n]);
        lowest = std::min(lowest, difference);
      }
      CHECK(margin[k] == doctest::Approx(lowest).epsilon(1e-5).scale(1));
    }
  }
}

// The margins are sums of 2 N + 2 terms; their gradient entries sums of up to 2 (M - 1) terms.
TEST_CASE_TEMPLATE_DEFINE("kernel interval: margin_bounds and its backward match their references", Size, margin_test) {
  constexpr std::size_t outputs = 5, label = 2;
  const std::size_t inputs = Size::n;
  const auto w = test::random_buffer(inputs * outputs, size_seed<Size>(709));
  const auto b = test::random_buffer(outputs, size_seed<Size>(710));
  const auto l = test::random_buffer(inputs, size_seed<Size>(711), -2, 0, Size::misalign);
  const auto u = test::random_buffer(inputs, size_seed<Size>(712), 0, 2, 2 * Size::misalign);
  auto fast = test::random_buffer(outputs, 1, 100, 200), reference = test::random_buffer(outputs, 2, 100, 200);
  kernels::margin_bounds(inputs, outputs, w.data(), b.data(), l.data(), u.data(), label, fast.data());
  kernels::margin_bounds_reference(inputs, outputs, w.data(), b.data(), l.data(), u.data(), label, reference.data());
  test::Guarded magnitude(outputs);
  for (std::size_t k = 0; k < outputs; ++k) {
    double total = std::fabs(b[label]) + std::fabs(b[k]);
    for (std::size_t n = 0; n < inputs; ++n)
      total += (std::fabs(w[label * inputs + n]) + std::fabs(w[k * inputs + n])) * (std::fabs(l[n]) + std::fabs(u[n]));
    magnitude[k] = static_cast<float>(total);
  }
  CHECK(fast[label] == 0.0f);
  const auto worst = test::max_relative_error(fast.span(), reference.span(), magnitude.span());
  CHECK_MESSAGE(worst.error <= test::sum_tolerance(4 * inputs + 2), worst);
  CHECK(fast.guards_intact());

  const auto d_margin = test::random_buffer(outputs, size_seed<Size>(713));
  auto dw_fast = test::random_buffer(inputs * outputs, 3), db_fast = test::random_buffer(outputs, 4);
  auto dw_ref = test::copy_of(dw_fast), db_ref = test::copy_of(db_fast);
  auto dl_fast = test::random_buffer(inputs, 5, 100, 200), du_fast = test::random_buffer(inputs, 6, 100, 200);
  auto dl_ref = test::random_buffer(inputs, 7, 100, 200), du_ref = test::random_buffer(inputs, 8, 100, 200);
  kernels::margin_bounds_backward(inputs, outputs, w.data(), l.data(), u.data(), label, d_margin.data(), dw_fast.data(),
                                  db_fast.data(), dl_fast.data(), du_fast.data());
  kernels::margin_bounds_backward_reference(inputs, outputs, w.data(), l.data(), u.data(), label, d_margin.data(),
                                            dw_ref.data(), db_ref.data(), dl_ref.data(), du_ref.data());
  // Every entry is a sum of terms bounded by |start| + sum_k |g_k| (|w_label| + |w_k| + |l| + |u|)
  // times the largest factor; a common bound per tensor is enough to catch a wrong term.
  double scale = 0;
  for (std::size_t k = 0; k < outputs; ++k) scale += std::fabs(d_margin[k]);
  const auto close = [scale](const test::Guarded& fast_values, const test::Guarded& reference_values) {
    test::Guarded bound(fast_values.size());
    for (std::size_t i = 0; i < bound.size(); ++i)
      bound[i] = static_cast<float>(std::fabs(reference_values[i]) + 8 * scale);
    const auto worst_entry = test::max_relative_error(fast_values.span(), reference_values.span(), bound.span());
    CHECK_MESSAGE(worst_entry.error <= test::sum_tolerance(4 * outputs), worst_entry);
    CHECK(fast_values.guards_intact());
  };
  close(dw_fast, dw_ref);
  close(db_fast, db_ref);
  close(dl_fast, dl_ref);
  close(du_fast, du_ref);
}
TEST_CASE_TEMPLATE_APPLY(margin_test, test::AwkwardLengths);

TEST_CASE("kernel interval: the worst-case cross-entropy on hand-computed cases") {
  std::array<float, 3> d_margin{};
  // Every margin 0: zhat = 0 everywhere, CE = log 3, dCE/dmargin_k = -1/3.
  const std::array<float, 3> zero{0, 0, 0};
  CHECK(kernels::worst_case_cross_entropy(3, zero.data(), 1, 1.0f, d_margin.data()) == doctest::Approx(std::log(3.0)));
  CHECK(d_margin[0] == doctest::Approx(-1.0 / 3));
  CHECK(d_margin[1] == 0.0f);
  CHECK(d_margin[2] == doctest::Approx(-1.0 / 3));
  // Large margins: certified with room, the loss vanishes; the weight scales the gradient.
  const std::array<float, 3> wide{30, 0, 40};
  CHECK(kernels::worst_case_cross_entropy(3, wide.data(), 1, 2.0f, d_margin.data()) == doctest::Approx(0).scale(1));
  CHECK(d_margin[0] == doctest::Approx(-2 * std::exp(-30.0)).scale(1e-20));
  // A very negative margin: the loss is -margin, without overflow.
  const std::array<float, 2> broken{0, -200};
  CHECK(kernels::worst_case_cross_entropy(2, broken.data(), 0, 1.0f, d_margin.data()) == doctest::Approx(200));
  CHECK(d_margin[1] == doctest::Approx(-1));
}
