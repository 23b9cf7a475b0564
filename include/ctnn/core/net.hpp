// Net<Specs...>: a network as a type. The specs are threaded through their input shapes at
// compile time, so every layer's shape, parameter count and buffer size is a constant, and a
// shape mismatch is a static_assert in the offending layer.
//
// Two spellings mean the same network:
//   Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>          (short form)
//   Net<Input<1, 28, 28>, Conv<6, 5>, ReLU, MaxPool<2>, Conv<16, 5>, ReLU,
//       Dense<120>, ReLU, Dense<10>>                                          (explicit form)
// The activation rule: a Conv or Dense whose activation is left out (Auto)
//   - takes the activation layer that directly follows it, fused in place (ReLU, Tanh, ...);
//   - is linear when a normalization layer (BatchNorm) follows it, which then decides;
//   - is linear when it is the last layer: the net outputs logits for the loss;
//   - applies ReLU otherwise.
// A net without Input is unbound: Net<...>::bind<Shape<1, 28, 28>> is the bound network, which
// is what a program instantiates. Both forms above resolve to the same `layers` type.
//
// A bound Net owns its parameters in one heap block and a single-image inference buffer, both
// allocated once at construction: forward(x) allocates nothing. Mini-batch training runs through
// a Workspace (workspace.hpp) that owns every batch activation and gradient buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <memory>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include <boost/hana/append.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/fold_left.hpp>
#include <boost/hana/pair.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <boost/hana/unpack.hpp>

#include <ctnn/core/layer.hpp>
#include <ctnn/core/random.hpp>
#include <ctnn/core/shape.hpp>
#include <ctnn/core/tensor.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>

namespace ctnn {

template <class... Specs>
class Net;

namespace detail {

template <class... Ts>
struct type_list {};

template <class T, class List>
struct prepend;
template <class T, class... Ts>
struct prepend<T, type_list<Ts...>> {
  using type = type_list<T, Ts...>;
};

template <class Spec>
concept AutoActivated = requires {
  typename Spec::activation;
}
&&std::is_same_v<typename Spec::activation, Auto>;
template <class Spec>
concept NormalizationSpec = requires {
  requires Spec::is_normalization;
};

// The activation rule of the header comment, one case per specialization.
template <class... Specs>
struct resolve {
  using type = type_list<>;
};
template <class Spec>
struct resolve<Spec> {
  using type = type_list<Spec>;
};
template <AutoActivated Spec>
struct resolve<Spec> {
  using type = type_list<typename Spec::template with_activation<Identity>>;
};
template <class Spec, class Next, class... Rest>
struct resolve<Spec, Next, Rest...> {
  using type = typename prepend<Spec, typename resolve<Next, Rest...>::type>::type;
};
template <AutoActivated Spec, ActivationSpec Next, class... Rest>
struct resolve<Spec, Next, Rest...> {
  using type = typename resolve<typename Spec::template with_activation<Next>, Rest...>::type;
};
template <AutoActivated Spec, NormalizationSpec Next, class... Rest>
struct resolve<Spec, Next, Rest...> {
  using type =
      typename prepend<typename Spec::template with_activation<Identity>, typename resolve<Next, Rest...>::type>::type;
};
template <AutoActivated Spec, class Next, class... Rest>
requires(!ActivationSpec<Next> && !NormalizationSpec<Next>) struct resolve<Spec, Next, Rest...> {
  using type =
      typename prepend<typename Spec::template with_activation<ReLU>, typename resolve<Next, Rest...>::type>::type;
};

// Threads the input shape through the resolved specs: the fold's state is the pair
// (current shape, tuple of bound layers so far).
template <class In, class List>
struct bind_layers;
template <class In, class... Specs>
struct bind_layers<In, type_list<Specs...>> {
  static constexpr auto folded = boost::hana::fold_left(
      boost::hana::tuple_t<Specs...>, boost::hana::make_pair(boost::hana::type_c<In>, boost::hana::tuple_t<>),
      [](auto state, auto spec) {
        using Current = typename std::decay_t<decltype(boost::hana::first(state))>::type;
        using Bound = typename std::decay_t<decltype(spec)>::type::template bind<Current>;
        return boost::hana::make_pair(boost::hana::type_c<typename Bound::out_shape>,
                                      boost::hana::append(boost::hana::second(state), boost::hana::type_c<Bound>));
      });
  static constexpr auto as_std_tuple = [](auto... bound) {
    return boost::hana::type_c<std::tuple<typename decltype(bound)::type...>>;
  };
  using layers = typename decltype(boost::hana::unpack(boost::hana::second(folded), as_std_tuple))::type;
};

template <class In, class Layers, std::size_t I>
struct shape_at {
  using type = typename std::tuple_element_t<I - 1, Layers>::out_shape;
};
template <class In, class Layers>
struct shape_at<In, Layers, 0> {
  using type = In;
};

template <class Layers>
struct inference_buffers;
template <class... Layers>
struct inference_buffers<std::tuple<Layers...>> {
  using type = std::tuple<tensor_of<typename Layers::out_shape>...>;
};

inline std::uint64_t fnv1a(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ull;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
  return hash;
}

}  // namespace detail

// The unbound net: a list of specs waiting for an input shape.
template <class... Specs>
class Net {
  static_assert(sizeof...(Specs) > 0, "Net: a network needs at least one layer");

 public:
  // An empty net binds to a placeholder layer, so that the assertion above stays the only error.
  template <class In>
  using bind = std::conditional_t<sizeof...(Specs) == 0, Net<Input<In::channels, In::height, In::width>, Identity>,
                                  Net<Input<In::channels, In::height, In::width>, Specs...>>;
};

template <std::size_t Channels, std::size_t Height, std::size_t Width, class... Specs>
class Net<Input<Channels, Height, Width>, Specs...> {
  static_assert(sizeof...(Specs) > 0, "Net: a network needs at least one layer after its Input");

 public:
  // Naming Input's shape instantiates Input, whose assertion checks the dimensions.
  using in_shape = typename Input<Channels, Height, Width>::shape;

 private:
  using binding = detail::bind_layers<in_shape, typename detail::resolve<Specs...>::type>;

 public:
  using layers = typename binding::layers;  // the bound layers; also the type of gradients
  static constexpr std::size_t layer_count = std::tuple_size_v<layers>;
  template <std::size_t I>
  using layer_type = std::tuple_element_t<I, layers>;
  // shape_at<0> is the input, shape_at<I + 1> the output of layer I.
  template <std::size_t I>
  using shape_at = typename detail::shape_at<in_shape, layers, I>::type;
  using out_shape = shape_at<layer_count>;  // not layer_type<layer_count - 1>: safe for an empty net
  static constexpr std::size_t classes = out_shape::size;

  static constexpr std::size_t param_count = []<std::size_t... I>(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + layer_type<I>::param_count);
  }
  (std::make_index_sequence<layer_count>{});
  static constexpr std::size_t flops = []<std::size_t... I>(std::index_sequence<I...>) {
    return (std::size_t{0} + ... + layer_type<I>::flops);
  }
  (std::make_index_sequence<layer_count>{});

  Net() : parameters_(std::make_unique<layers>()), inference_(std::make_unique<Inference>()) {}
  explicit Net(std::uint64_t seed) : Net() { init(seed); }
  Net(const Net& other) : Net() { *parameters_ = *other.parameters_; }
  Net& operator=(const Net& other) {
    *parameters_ = *other.parameters_;
    return *this;
  }
  Net(Net&&) noexcept = default;
  Net& operator=(Net&&) noexcept = default;

  // Draws every layer's initial parameters; layer I uses its own stream of `seed`.
  void init(std::uint64_t seed) {
    for_each_layer([seed](auto& layer, auto index) {
      Rng rng(derive_seed(seed, index));
      layer.init(rng);
    });
  }

  layers& parameters() noexcept { return *parameters_; }
  const layers& parameters() const noexcept { return *parameters_; }
  template <std::size_t I>
  layer_type<I>& layer() noexcept {
    return std::get<I>(*parameters_);
  }
  template <std::size_t I>
  const layer_type<I>& layer() const noexcept {
    return std::get<I>(*parameters_);
  }

  // Inference on one image, into the net's own buffer: no allocation. Not for concurrent use;
  // threads that share a net each call the overload with their own Inference buffer.
  using Inference = typename detail::inference_buffers<layers>::type;
  const tensor_of<out_shape>& forward(const tensor_of<in_shape>& x) noexcept { return forward(x, *inference_); }
  const tensor_of<out_shape>& forward(const tensor_of<in_shape>& x, Inference& buffers) const noexcept {
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((std::get<I>(*parameters_).forward(input_of<I>(x, buffers), std::get<I>(buffers))), ...);
    }
    (std::make_index_sequence<layer_count>{});
    return input_of<layer_count>(x, buffers);
  }

  // The most likely class of one image.
  std::size_t predict(const tensor_of<in_shape>& x) noexcept {
    const auto& logits = forward(x);
    return static_cast<std::size_t>(std::max_element(logits.data(), logits.data() + classes) - logits.data());
  }

  // Mini-batch forward over ws.count images from ws.input(b), in training or inference mode;
  // returns the mean loss against ws.label(b) and keeps every activation for backward.
  // Throws std::out_of_range if ws.count exceeds the batch or a label is not a class of the net.
  template <std::size_t Batch>
  float forward(Workspace<Net, Batch>& ws, Mode mode = Mode::eval) {
    if (ws.count > Batch)
      throw std::out_of_range("Workspace: count " + std::to_string(ws.count) + " exceeds the batch size " +
                              std::to_string(Batch));
    for (std::size_t b = 0; b < ws.count; ++b)
      if (ws.labels[b] >= classes)
        throw std::out_of_range("Workspace: label " + std::to_string(ws.labels[b]) + " of image " + std::to_string(b) +
                                " is not a class of this network (0.." + std::to_string(classes - 1) + ")");
    ws.mode_ = mode;
    [&]<std::size_t... I>(std::index_sequence<I...>) { (forward_layer<I>(ws, mode), ...); }
    (std::make_index_sequence<layer_count>{});
    const std::size_t count = ws.count;
    const auto& logits = ws.template activations<layer_count>();
#pragma omp parallel for schedule(static)
    for (std::size_t b = 0; b < count; ++b) ws.losses[b] = ws.loss.loss(logits[b].span(), ws.labels[b]);
    double total = 0;
    for (std::size_t b = 0; b < count; ++b) total += ws.losses[b];
    return count ? static_cast<float>(total / static_cast<double>(count)) : 0.0f;
  }

  // Backpropagates the mean loss of the last forward(ws): accumulates (+=) the parameter
  // gradients into ws.grad(). Images are split into Workspace::chunk_count fixed chunks, each
  // with its own gradient, summed in chunk order: the result does not depend on the threads.
  template <std::size_t Batch>
  void backward(Workspace<Net, Batch>& ws) {
    backward_pass(ws, false);
  }

  // d(loss)/d(input) of the last forward(ws) for every image, into ws.input_gradient(b); the
  // parameter gradients in ws.grad() are left untouched.
  template <std::size_t Batch>
  void input_gradient(Workspace<Net, Batch>& ws) {
    backward_pass(ws, true);
  }

  // The same for any function of the outputs instead of the loss: output_gradient(b, logits,
  // dlogits) writes d(function)/d(logits) of image b into dlogits (DeepFool's logit differences,
  // a margin loss). The labels are not read.
  template <std::size_t Batch, class OutputGradient>
  void input_gradient(Workspace<Net, Batch>& ws, OutputGradient&& output_gradient) {
    backward_pass(ws, true, output_gradient);
  }

  // "Input<1, 28, 28> | Conv<6, 5> + ReLU | ...": the resolved architecture, as saved with a
  // model; architecture_hash() is its 64-bit FNV-1a.
  static std::string signature() {
    std::string text =
        "Input<" + std::to_string(Channels) + ", " + std::to_string(Height) + ", " + std::to_string(Width) + ">";
    [&]<std::size_t... I>(std::index_sequence<I...>) { ((text += " | " + layer_type<I>::label()), ...); }
    (std::make_index_sequence<layer_count>{});
    return text;
  }
  static std::uint64_t architecture_hash() { return detail::fnv1a(signature()); }

  // A per-layer table like Keras' model.summary(): layer, output shape, parameters, FLOPs.
  static void summary(std::ostream& out = std::cout) {
    const auto row = [&out](const std::string& name, const std::string& shape, std::size_t params,
                            std::size_t layer_flops) {
      out << std::left << std::setw(28) << name << std::setw(16) << shape << std::right << std::setw(12) << params
          << std::setw(14) << layer_flops << '\n';
    };
    out << std::left << std::setw(28) << "Layer" << std::setw(16) << "Output shape" << std::right << std::setw(12)
        << "Params" << std::setw(14) << "FLOPs" << '\n'
        << std::string(70, '-') << '\n';
    row("Input", in_shape::label(), 0, 0);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      (row(layer_type<I>::label(), layer_type<I>::out_shape::label(), layer_type<I>::param_count, layer_type<I>::flops),
       ...);
    }
    (std::make_index_sequence<layer_count>{});
    out << std::string(70, '-') << '\n'
        << "Total parameters: " << param_count << '\n'
        << "Forward FLOPs per image (multiply-add = 2): " << flops << '\n';
  }

 private:
  template <class Layers, std::size_t Batch>
  friend class Workspace;

  template <class F>
  void for_each_layer(F&& f) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (f(std::get<I>(*parameters_), I), ...); }
    (std::make_index_sequence<layer_count>{});
  }

  template <std::size_t I>
  static const auto& input_of(const tensor_of<in_shape>& x, const Inference& buffers) noexcept {
    if constexpr (I == 0)
      return x;
    else
      return std::get<I - 1>(buffers);
  }

  static std::uint64_t image_seed(std::uint64_t seed, std::size_t layer, std::size_t image) noexcept {
    return derive_seed(derive_seed(seed, layer), image);
  }

  template <std::size_t I, std::size_t Batch>
  void forward_layer(Workspace<Net, Batch>& ws, Mode mode) {
    using L = layer_type<I>;
    auto& layer = std::get<I>(*parameters_);
    auto& xs = ws.template activations<I>();
    auto& ys = ws.template activations<I + 1>();
    const std::size_t count = ws.count;
    if constexpr (BatchLayer<L>) {
      if (mode == Mode::train) {
        layer.forward_batch(std::span<const tensor_of<typename L::in_shape>>(xs.data(), count),
                            std::span(ys.data(), count));
        return;
      }
    }
    constexpr std::size_t chunks = Workspace<Net, Batch>::chunk_count;
    const std::uint64_t seed = ws.seed;
#pragma omp parallel for schedule(static)
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
      const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
      if (first == last) continue;
      if constexpr (ChunkLayer<L>) {
        layer.forward_chunk(std::span<const tensor_of<typename L::in_shape>>(xs.data() + first, last - first),
                            std::span(ys.data() + first, last - first));
        continue;
      }
      for (std::size_t b = first; b < last; ++b) {
        if constexpr (StochasticLayer<L>) {
          if (mode == Mode::train) {
            layer.forward_train(xs[b], ys[b], image_seed(seed, I, b));
            continue;
          }
        }
        layer.forward(xs[b], ys[b]);
      }
    }
  }

  template <std::size_t Batch>
  void backward_pass(Workspace<Net, Batch>& ws, bool input_only) {
    const std::size_t count = ws.count;
    const float scale = count ? 1.0f / static_cast<float>(count) : 0.0f;
    auto loss_gradient = [&ws, scale](std::size_t b, std::span<const float> logits, std::span<float> dlogits) {
      ws.loss.gradient(logits, ws.labels[b], scale, dlogits);
    };
    backward_pass(ws, input_only, loss_gradient);
  }

  template <std::size_t Batch, class OutputGradient>
  void backward_pass(Workspace<Net, Batch>& ws, bool input_only, OutputGradient& output_gradient) {
    const std::size_t count = ws.count;
    auto& logits = ws.template activations<layer_count>();
    auto& dlogits = ws.template gradients<layer_count>();
#pragma omp parallel for schedule(static)
    for (std::size_t b = 0; b < count; ++b)
      output_gradient(b, std::span<const float>(logits[b].span()), std::span<float>(dlogits[b].span()));

    [&]<std::size_t... I>(std::index_sequence<I...>) { (backward_layer<layer_count - 1 - I>(ws, input_only), ...); }
    (std::make_index_sequence<layer_count>{});

    [&]<std::size_t... I>(std::index_sequence<I...>) { (reduce_chunk_gradients<I>(ws, input_only), ...); }
    (std::make_index_sequence<layer_count>{});
  }

  // grad += chunk 0 + chunk 1 + ..., in chunk order for every element; the chunks are zeroed in
  // the same pass, ready for the next backward. A batch layer in training wrote the total itself
  // and left the chunks at zero, but for chunk 0 when only the input gradient was wanted.
  template <std::size_t I, std::size_t Batch>
  void reduce_chunk_gradients(Workspace<Net, Batch>& ws, bool input_only) {
    if (InputGradientLayer<layer_type<I>> && input_only) return;  // wrote no parameter gradient
    auto& storage = *ws.storage_;
    if (BatchLayer<layer_type<I>> && ws.mode_ == Mode::train) {
      auto zero = [](auto& tensor) { tensor.fill(0.0f); };
      if (input_only) detail::for_each_in_layer(zero, std::get<I>(storage.chunk_grads[0]).parameters());
      return;
    }
    auto add_and_clear = [input_only](auto& total, auto&... parts) {
#pragma omp parallel for schedule(static)
      for (std::size_t i = 0; i < total.size; ++i) {
        float sum = total[i];
        ((sum += parts[i], parts[i] = 0.0f), ...);
        if (!input_only) total[i] = sum;
      }
    };
    [&]<std::size_t... Chunk>(std::index_sequence<Chunk...>) {
      detail::for_each_in_layer(add_and_clear, std::get<I>(storage.grad).parameters(),
                                std::get<I>(storage.chunk_grads[Chunk]).parameters()...);
    }
    (std::make_index_sequence<Workspace<Net, Batch>::chunk_count>{});
  }

  template <std::size_t I, std::size_t Batch>
  void backward_layer(Workspace<Net, Batch>& ws, bool input_only) {
    using L = layer_type<I>;
    const auto& layer = std::get<I>(*parameters_);
    auto& xs = ws.template activations<I>();
    auto& ys = ws.template activations<I + 1>();
    auto& dys = ws.template gradients<I + 1>();
    auto& dxs = ws.template gradients<I>();
    auto& storage = *ws.storage_;
    const std::size_t count = ws.count;
    const bool want_dx = I > 0 || input_only;
    const bool train = ws.mode_ == Mode::train;
    constexpr std::size_t chunks = Workspace<Net, Batch>::chunk_count;
    if constexpr (InputGradientLayer<L>) {
      if (input_only) {
#pragma omp parallel for schedule(static)
        for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
          const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
          if (first < last)
            layer.backward_input(std::span<const tensor_of<typename L::in_shape>>(xs.data() + first, last - first),
                                 std::span<const tensor_of<typename L::out_shape>>(ys.data() + first, last - first),
                                 std::span(dys.data() + first, last - first),
                                 std::span(dxs.data() + first, last - first));
        }
        return;
      }
    }
    if constexpr (BatchLayer<L>) {
      if (train) {
        // Batch layers accumulate straight into the total (their own sums are ordered); for an
        // input gradient alone, chunk 0 takes the parameter gradient and is discarded.
        auto& grad = input_only ? std::get<I>(storage.chunk_grads[0]) : std::get<I>(storage.grad);
        layer.backward_batch(
            std::span<const tensor_of<typename L::in_shape>>(xs.data(), count),
            std::span<const tensor_of<typename L::out_shape>>(ys.data(), count), std::span(dys.data(), count),
            want_dx ? std::span(dxs.data(), count) : std::span<tensor_of<typename L::in_shape>>(), grad);
        return;
      }
    }
    const std::uint64_t seed = ws.seed;
#pragma omp parallel for schedule(static)
    for (std::size_t chunk = 0; chunk < chunks; ++chunk) {
      auto& grad = std::get<I>(storage.chunk_grads[chunk]);
      const std::size_t first = chunk * count / chunks, last = (chunk + 1) * count / chunks;
      if (first == last) continue;
      if constexpr (ChunkLayer<L>) {
        layer.backward_chunk(
            std::span<const tensor_of<typename L::in_shape>>(xs.data() + first, last - first),
            std::span<const tensor_of<typename L::out_shape>>(ys.data() + first, last - first),
            std::span(dys.data() + first, last - first),
            want_dx ? std::span(dxs.data() + first, last - first) : std::span<tensor_of<typename L::in_shape>>(), grad);
        continue;
      }
      for (std::size_t b = first; b < last; ++b) {
        auto* dx = want_dx ? &dxs[b] : nullptr;
        if constexpr (StochasticLayer<L>) {
          if (train) {
            layer.backward_train(xs[b], ys[b], dys[b], dx, grad, image_seed(seed, I, b));
            continue;
          }
        }
        layer.backward(xs[b], ys[b], dys[b], dx, grad);
      }
    }
  }

  std::unique_ptr<layers> parameters_;
  std::unique_ptr<Inference> inference_;
};

}  // namespace ctnn
