// Dense<Units, Activation>: fully connected layer. Any input shape is read as a flat vector of
// In::size values (the implicit flatten), so Dense may follow a convolution directly. The output
// is Shape<Units, 1, 1>. Arithmetic: kernels/dense.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>

#include <ctnn/core/layer.hpp>
#include <ctnn/kernels/dense.hpp>
#include <ctnn/layers/activation.hpp>

namespace ctnn {

template <std::size_t Units, class Activation = Auto>
struct Dense {
  static constexpr std::string_view name = "Dense";
  using activation = Activation;
  template <class Other>
  using with_activation = Dense<Units, Other>;

  template <class In>
  struct bind {
    static_assert(Units > 0, "Dense: the number of units must be positive");

    using in_shape = In;
    using out_shape = Shape<(Units > 0 ? Units : 1), 1, 1>;
    using activation = resolved_activation<Activation>;
    static constexpr std::size_t inputs = In::size;
    static constexpr std::size_t param_count = Units * (inputs + 1);
    static constexpr std::size_t flops = 2 * Units * inputs;

    static std::string label() { return "Dense<" + std::to_string(Units) + ">" + activation_suffix<Activation>(); }

    Tensor<out_shape::size, inputs> weight;  // row m holds the weights of unit m
    Tensor<out_shape::size> bias;

    void init(Rng& rng) noexcept {
      const float stddev = initial_weight_stddev<Activation>(inputs, Units);
      for (std::size_t i = 0; i < weight.size; ++i) weight[i] = rng.normal(0.0f, stddev);
      bias.fill(0.0f);
    }
    auto parameters() noexcept { return std::tie(weight, bias); }
    auto parameters() const noexcept { return std::tie(weight, bias); }

    void forward(const tensor_of<in_shape>& x, tensor_of<out_shape>& y) const noexcept {
      kernels::dense_forward(inputs, out_shape::size, x.data(), weight.data(), bias.data(), y.data());
      activation::apply(out_shape::size, y.data(), y.data());
    }

    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind& grad) const noexcept {
      activation::derivative(out_shape::size, y.data(), dy.data(), dy.data());
      if (dx) kernels::dense_backward_data(inputs, out_shape::size, weight.data(), dy.data(), dx->data());
      kernels::dense_backward_weights(inputs, out_shape::size, x.data(), dy.data(), grad.weight.data(), grad.bias.data());
    }
  };
};

}  // namespace ctnn
