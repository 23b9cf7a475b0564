// kernels::fixed<geometry>: a kernel geometry as a type whose members are compile-time
// constants. The SIMD kernels take a run-time geometry struct or its fixed form; with the fixed
// form every loop bound is a constant and the stride and padding branches fold away, which
// matters where the rows are shorter than a SIMD width and the loop overhead would dominate.
// Layers pass kernels::fixed<geometry>; each geometry header specializes Fixed for its struct.
#pragma once

#include <type_traits>

namespace ctnn::kernels {

template <auto Geometry, class = std::remove_cv_t<decltype(Geometry)>>
struct Fixed;

template <auto Geometry>
inline constexpr Fixed<Geometry> fixed{};

}  // namespace ctnn::kernels
