// UpdateMask: a frozen layer and a single fixed weight stay bit-identical through every optimizer,
// weight decay and momentum included, while the trainable parameters move; bad layer ranges are
// refused.
#include <doctest/doctest.h>

#include <cstddef>
#include <cstring>
#include <memory>
#include <stdexcept>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

using Small = Net<Input<1, 6, 6>, Conv<3, 3>, Dense<5>, Dense<2, Identity>>;

std::unique_ptr<Small::layers> random_gradient(std::uint64_t seed) {
  auto grad = std::make_unique<Small::layers>();
  Rng rng(seed);
  for_each_parameter(
      [&rng](auto& tensor) {
        for (float& value : tensor.span()) value = rng.uniform(-1.0f, 1.0f);
      },
      *grad);
  return grad;
}

template <class Tensor>
bool same_bits(const Tensor& a, const Tensor& b) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * Tensor::size) == 0;
}

// Every optimizer with everything that could touch a fixed weight switched on.
Sgd<Small> make(std::type_identity<Sgd<Small>>, const Small& net) {
  return Sgd<Small>(net, {.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f});
}
Adam<Small> make(std::type_identity<Adam<Small>>, const Small& net) {
  return Adam<Small>(net, {.learning_rate = 0.01f, .weight_decay = 0.01f});
}
AdamW<Small> make(std::type_identity<AdamW<Small>>, const Small& net) {
  return AdamW<Small>(net, {.learning_rate = 0.01f, .weight_decay = 0.1f});
}
RmsProp<Small> make(std::type_identity<RmsProp<Small>>, const Small& net) {
  return RmsProp<Small>(net, {.learning_rate = 0.01f, .momentum = 0.9f, .weight_decay = 0.01f});
}

}  // namespace

TEST_CASE_TEMPLATE("a frozen layer and a fixed weight never change; the rest trains", Optimizer, Sgd<Small>,
                   Adam<Small>, AdamW<Small>, RmsProp<Small>) {
  auto net = std::make_unique<Small>();
  net->init(3);
  const auto before = std::make_unique<Small>(*net);
  auto optimizer = make(std::type_identity<Optimizer>{}, *net);
  optimizer.mask.freeze_layers(0, 1);
  std::get<2>(optimizer.mask.flags()).weight[4] = 0.0f;
  CHECK(optimizer.mask.fixed_count() == Small::layer_type<0>::param_count + 1);

  for (std::uint64_t step = 0; step < 5; ++step) optimizer.update(*net, *random_gradient(step + 10));

  CHECK(same_bits(net->layer<0>().weight, before->layer<0>().weight));
  CHECK(same_bits(net->layer<0>().bias, before->layer<0>().bias));
  CHECK(net->layer<2>().weight[4] == before->layer<2>().weight[4]);
  CHECK(net->layer<2>().weight[3] != before->layer<2>().weight[3]);
  CHECK_FALSE(same_bits(net->layer<1>().weight, before->layer<1>().weight));

  // Unfrozen again, the layer learns from the next step on.
  optimizer.mask.unfreeze_all();
  CHECK(optimizer.mask.fixed_count() == 0);
  optimizer.update(*net, *random_gradient(99));
  CHECK_FALSE(same_bits(net->layer<0>().weight, before->layer<0>().weight));
}

TEST_CASE("UpdateMask refuses layer ranges outside the net") {
  UpdateMask<Small> mask;
  CHECK_THROWS_AS(mask.set_layers(2, 4, false), std::out_of_range);
  CHECK_THROWS_AS(mask.set_layers(2, 1, false), std::out_of_range);
  CHECK(mask.fixed_count() == 0);
  mask.freeze_layers(1, 3);
  CHECK(mask.fixed_count() == Small::layer_type<1>::param_count + Small::layer_type<2>::param_count);
}
