// Dense<Units, Activation>: fully connected layer. Any input shape is read as a flat vector of
// In::size values (the implicit flatten), so Dense may follow a convolution directly. The output
// is Shape<Units, 1, 1>. Arithmetic: kernels/dense.hpp.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>
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
      forward_chunk(std::span(&x, 1), std::span(&y, 1));
    }
    void backward(const tensor_of<in_shape>& x, const tensor_of<out_shape>& y, tensor_of<out_shape>& dy,
                  tensor_of<in_shape>* dx, bind& grad) const noexcept {
      backward_chunk(std::span(&x, 1), std::span(&y, 1), std::span(&dy, 1),
                     dx ? std::span(dx, 1) : std::span<tensor_of<in_shape>>(), grad);
    }

    // Several images at once, so each weight row is read from memory once for all of them.
    void forward_chunk(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const noexcept {
      kernels::dense_forward(batch(xs.size()), xs.front().data(), weight.data(), bias.data(), ys.front().data());
      for (auto& y : ys) activation::apply(out_shape::size, y.data(), y.data());
    }
    void backward_chunk(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs,
                        bind& grad) const noexcept {
      for (std::size_t i = 0; i < xs.size(); ++i)
        activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
      if (!dxs.empty())
        kernels::dense_backward_data(batch(xs.size()), weight.data(), dys.front().data(), dxs.front().data());
      kernels::dense_backward_weights(batch(xs.size()), xs.front().data(), dys.front().data(), grad.weight.data(),
                                      grad.bias.data());
    }
    void backward_input(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs) const noexcept {
      for (std::size_t i = 0; i < xs.size(); ++i)
        activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
      kernels::dense_backward_data(batch(xs.size()), weight.data(), dys.front().data(), dxs.front().data());
    }

    // Training takes the whole mini-batch, so that the weight gradient is one product over all
    // its images rather than one per chunk of images summed afterwards (a weight matrix per
    // chunk is more memory traffic than the product itself). Threads split the images for the
    // forward pass and the input gradient, and the units for the weight gradient: each gradient
    // element is summed over the images in order by one thread, whatever the thread count.
    void forward_batch(std::span<const tensor_of<in_shape>> xs, std::span<tensor_of<out_shape>> ys) const noexcept {
      const std::size_t count = xs.size();
#pragma omp parallel for schedule(static)
      for (std::size_t part = 0; part < parts; ++part) {
        const std::size_t first = part * count / parts, last = (part + 1) * count / parts;
        if (first < last) forward_chunk(xs.subspan(first, last - first), ys.subspan(first, last - first));
      }
    }
    void backward_batch(std::span<const tensor_of<in_shape>> xs, std::span<const tensor_of<out_shape>> ys,
                        std::span<tensor_of<out_shape>> dys, std::span<tensor_of<in_shape>> dxs,
                        bind& grad) const noexcept {
      const std::size_t count = xs.size();
#pragma omp parallel for schedule(static)
      for (std::size_t part = 0; part < parts; ++part) {
        const std::size_t first = part * count / parts, last = (part + 1) * count / parts;
        for (std::size_t i = first; i < last; ++i)
          activation::derivative(out_shape::size, ys[i].data(), dys[i].data(), dys[i].data());
        if (!dxs.empty() && first < last)
          kernels::dense_backward_data(batch(last - first), weight.data(), dys[first].data(), dxs[first].data());
      }
      constexpr std::size_t unit_blocks = (out_shape::size + units_per_block - 1) / units_per_block;
#pragma omp parallel for schedule(static)
      for (std::size_t block = 0; block < unit_blocks; ++block) {
        const std::size_t first = block * units_per_block;
        const std::size_t units = std::min(units_per_block, out_shape::size - first);
        kernels::DenseBatch slice = batch(count);
        slice.outputs = units;
        kernels::dense_backward_weights(slice, xs.front().data(), dys.front().data() + first,
                                        grad.weight.data() + first * inputs, grad.bias.data() + first);
      }
    }

   private:
    static constexpr std::size_t parts = 8;             // image ranges of forward_batch / backward_batch
    static constexpr std::size_t units_per_block = 16;  // rows of the weight gradient per task
    // Consecutive tensors of an array are whole cache lines apart: their stride in floats.
    static constexpr kernels::DenseBatch batch(std::size_t count) noexcept {
      return {inputs, out_shape::size, count, sizeof(tensor_of<in_shape>) / sizeof(float),
              sizeof(tensor_of<out_shape>) / sizeof(float)};
    }
  };
};

}  // namespace ctnn
