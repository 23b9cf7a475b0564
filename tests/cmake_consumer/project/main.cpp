// A small network built from ctnn's public headers: its parameter count, then one forward pass.
#include <cmath>
#include <cstdio>
#include <type_traits>

#include <ctnn/ctnn.hpp>

// (1,8,8) -> Conv 4x3x3 + ReLU (4,6,6) -> MaxPool 2 (4,3,3) -> Dense 10 logits.
using Model = ctnn::Net<ctnn::Input<1, 8, 8>, ctnn::Conv<4, 3>, ctnn::MaxPool<2>, ctnn::Dense<10>>;
static_assert(std::is_same_v<Model::out_shape, ctnn::Shape<10, 1, 1>>);
static_assert(Model::param_count == 4 * (1 * 3 * 3 + 1) + 10 * (4 * 3 * 3 + 1));

int main() {
  Model net(42);
  ctnn::tensor_of<Model::in_shape> x;
  for (std::size_t i = 0; i < x.size; ++i) x[i] = static_cast<float>(i % 7) / 7.0f;
  const auto& logits = net.forward(x);
  bool finite = true;
  for (std::size_t k = 0; k < logits.size; ++k) finite = finite && std::isfinite(logits[k]);
  std::printf("param_count %zu\n", Model::param_count);
  std::printf("forward %zu logits %s, class %zu\n", logits.size, finite ? "finite" : "NOT FINITE", net.predict(x));
  return finite ? 0 : 1;
}
