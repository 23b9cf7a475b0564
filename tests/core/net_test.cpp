// Net's compile-time side: the two spellings of LeNet-5 resolve to the same layers, the
// activation rule case by case, counts and shapes worked out by hand, summary(), signature()
// and architecture_hash().
#include <doctest/doctest.h>

#include <cstddef>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

// The design card's network, short form and explicit form.
using Short = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>;
using Explicit = Net<Input<1, 28, 28>, Conv<6, 5>, ReLU, MaxPool<2>, Conv<16, 5>, ReLU, Dense<120>, ReLU, Dense<10>>;
using ExpectedLayers =
    std::tuple<Conv<6, 5, 1, valid, ReLU>::bind<Shape<1, 28, 28>>, MaxPool<2>::bind<Shape<6, 24, 24>>,
               Conv<16, 5, 1, valid, ReLU>::bind<Shape<6, 12, 12>>, Dense<120, ReLU>::bind<Shape<16, 8, 8>>,
               Dense<10, Identity>::bind<Shape<120, 1, 1>>>;

template <class NetType, class... Bound>
constexpr bool has_layers = std::is_same_v<typename NetType::layers, std::tuple<Bound...>>;

using In6 = Shape<1, 6, 6>;
}  // namespace

static_assert(std::is_same_v<Short::layers, Explicit::layers>);
static_assert(std::is_same_v<Short::layers, ExpectedLayers>);

TEST_CASE("Net: the short and explicit spellings of LeNet-5 bind the same layers") {
  CHECK(std::is_same_v<Short::layers, Explicit::layers>);
  CHECK(std::is_same_v<Short::layers, ExpectedLayers>);
  CHECK(Short::layer_count == 5);
  CHECK(Explicit::layer_count == 5);  // the four ReLU specs were fused into their layers
}

TEST_CASE("Net: the activation rule, case by case") {
  // The last layer is linear: the net outputs logits.
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<3>>, Dense<3, Identity>::bind<In6>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Conv<2, 3>>, Conv<2, 3, 1, valid, Identity>::bind<In6>>);
  // An activation spec right after an Auto layer is fused into it.
  CHECK(has_layers<Net<Input<1, 6, 6>, Conv<2, 3>, Tanh, Dense<3>>, Conv<2, 3, 1, valid, Tanh>::bind<In6>,
                   Dense<3, Identity>::bind<Shape<2, 4, 4>>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4>, Sigmoid>, Dense<4, Sigmoid>::bind<In6>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4>, LeakyReLU<>, Dense<2>>, Dense<4, LeakyReLU<>>::bind<In6>,
                   Dense<2, Identity>::bind<Shape<4, 1, 1>>>);
  // BatchNorm after an Auto layer makes it linear; the normalization decides, and what follows
  // it stays a layer of its own.
  CHECK(has_layers<Net<Input<1, 6, 6>, Conv<2, 3>, BatchNorm<>, ReLU, Dense<3>>,
                   Conv<2, 3, 1, valid, Identity>::bind<In6>, BatchNorm<>::bind<Shape<2, 4, 4>>,
                   ReLU::bind<Shape<2, 4, 4>>, Dense<3, Identity>::bind<Shape<2, 4, 4>>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<8>, BatchNorm<>, Dense<2>>, Dense<8, Identity>::bind<In6>,
                   BatchNorm<>::bind<Shape<8, 1, 1>>, Dense<2, Identity>::bind<Shape<8, 1, 1>>>);
  // An explicit activation parameter is kept, wherever the layer stands.
  CHECK(has_layers<Net<Input<1, 6, 6>, Conv<2, 3, 1, valid, Tanh>, Dense<3>>, Conv<2, 3, 1, valid, Tanh>::bind<In6>,
                   Dense<3, Identity>::bind<Shape<2, 4, 4>>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4, Sigmoid>>, Dense<4, Sigmoid>::bind<In6>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4, Identity>, Dense<2>>, Dense<4, Identity>::bind<In6>,
                   Dense<2, Identity>::bind<Shape<4, 1, 1>>>);
  // ... and an activation spec after an explicit one is not fused: it stays a layer.
  CHECK(
      has_layers<Net<Input<1, 6, 6>, Conv<2, 3, 1, valid, Tanh>, ReLU, Dense<3>>, Conv<2, 3, 1, valid, Tanh>::bind<In6>,
                 ReLU::bind<Shape<2, 4, 4>>, Dense<3, Identity>::bind<Shape<2, 4, 4>>>);
  // Otherwise a hidden Auto layer takes ReLU: before pooling, dropout, another Conv or Dense.
  CHECK(has_layers<Net<Input<1, 6, 6>, Conv<2, 3>, MaxPool<2>, Dense<3>>, Conv<2, 3, 1, valid, ReLU>::bind<In6>,
                   MaxPool<2>::bind<Shape<2, 4, 4>>, Dense<3, Identity>::bind<Shape<2, 2, 2>>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4>, Dropout<>, Dense<2>>, Dense<4, ReLU>::bind<In6>,
                   Dropout<>::bind<Shape<4, 1, 1>>, Dense<2, Identity>::bind<Shape<4, 1, 1>>>);
  CHECK(has_layers<Net<Input<1, 6, 6>, Dense<4>, Dense<3>, Dense<2>>, Dense<4, ReLU>::bind<In6>,
                   Dense<3, ReLU>::bind<Shape<4, 1, 1>>, Dense<2, Identity>::bind<Shape<3, 1, 1>>>);
}

// LeNet-5 of the design card by hand: Conv<6,5> 6 (25 + 1) = 156; Conv<16,5> 16 (150 + 1) = 2,416;
// Dense<120> on 16 x 8 x 8 = 1,024 inputs: 120 x 1,025 = 123,000; Dense<10>: 10 x 121 = 1,210.
static_assert(Short::param_count == 126'782);
// FLOPs: 2 x 6x24x24 x 25 = 172,800; 2 x 16x8x8 x 150 = 307,200; 2 x 120 x 1,024 = 245,760;
// 2 x 10 x 120 = 2,400; pooling and activations count nothing.
static_assert(Short::flops == 728'160);
static_assert(std::is_same_v<Short::in_shape, Shape<1, 28, 28>>);
static_assert(std::is_same_v<Short::out_shape, Shape<10, 1, 1>>);
static_assert(Short::classes == 10);
static_assert(std::is_same_v<Short::shape_at<0>, Shape<1, 28, 28>>);
static_assert(std::is_same_v<Short::shape_at<1>, Shape<6, 24, 24>>);
static_assert(std::is_same_v<Short::shape_at<2>, Shape<6, 12, 12>>);
static_assert(std::is_same_v<Short::shape_at<3>, Shape<16, 8, 8>>);
static_assert(std::is_same_v<Short::shape_at<4>, Shape<120, 1, 1>>);
// The style guide's LeNet-5 with two poolings has 44,426 parameters on 28 x 28.
static_assert(Net<Input<1, 28, 28>, Conv<6, 5>, ReLU, MaxPool<2>, Conv<16, 5>, ReLU, MaxPool<2>, Dense<120>, ReLU,
                  Dense<84>, ReLU, Dense<10>>::param_count == 44'426);

TEST_CASE("Net: parameter count, FLOPs and shapes of the design card's LeNet-5") {
  CHECK(Short::param_count == 126782);
  CHECK(Short::flops == 728160);
  CHECK(std::is_same_v<Short::out_shape, Shape<10, 1, 1>>);
  // The count is the number of trained scalars the net actually holds.
  Short net;
  std::size_t held = 0;
  for_each_parameter([&](const auto& tensor) { held += tensor.size; }, net.parameters());
  CHECK(held == 126782);
}

TEST_CASE("Net: summary prints a row per layer and the totals") {
  std::ostringstream out;
  Short::summary(out);
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  INFO(out.str());
  struct Row {
    std::string label, shape;
    std::size_t params, flops;
  };
  const std::vector<Row> rows{{"Input", "(1, 28, 28)", 0, 0},
                              {"Conv<6, 5> + ReLU", "(6, 24, 24)", 156, 172800},
                              {"MaxPool<2>", "(6, 12, 12)", 0, 0},
                              {"Conv<16, 5> + ReLU", "(16, 8, 8)", 2416, 307200},
                              {"Dense<120> + ReLU", "(120, 1, 1)", 123000, 245760},
                              {"Dense<10>", "(10, 1, 1)", 1210, 2400}};
  // Each row: starts with the label, then the output shape, and ends with the parameters and FLOPs.
  std::size_t found = 0;
  for (const auto& row : rows)
    for (const auto& line : lines) {
      if (line.rfind(row.label + " ", 0) != 0 || line.find(row.shape) == std::string::npos) continue;
      std::istringstream numbers(line.substr(line.find(row.shape) + row.shape.size()));
      std::size_t params = 0, flops = 0;
      numbers >> params >> flops;
      CAPTURE(line);
      CHECK(params == row.params);
      CHECK(flops == row.flops);
      ++found;
    }
  CHECK(found == rows.size());
  // The totals, on their own lines, end with the numbers.
  const auto last_number = [](const std::string& line) {
    const auto digits = line.find_last_not_of("0123456789");
    return line.substr(digits + 1);
  };
  bool total_params = false, total_flops = false;
  for (const auto& line : lines) {
    if (line.find("arameters") != std::string::npos && last_number(line) == "126782") total_params = true;
    if (line.find("FLOPs") != std::string::npos && last_number(line) == "728160") total_flops = true;
  }
  CHECK(total_params);
  CHECK(total_flops);
}

TEST_CASE("Net: signature and architecture hash tell nets apart and ignore the spelling") {
  CHECK(Short::signature() == Explicit::signature());
  CHECK(Short::architecture_hash() == Explicit::architecture_hash());
  // The format of the header comment.
  CHECK(Short::signature().rfind("Input<1, 28, 28> | Conv<6, 5> + ReLU | MaxPool<2> | ", 0) == 0);
  const std::vector<std::pair<std::string, std::uint64_t>> others{
      {Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 32, 32>>::signature(),
       Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 32, 32>>::architecture_hash()},
      {Net<Conv<6, 3>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>::signature(),
       Net<Conv<6, 3>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>::architecture_hash()},
      {Net<Conv<6, 5>, Tanh, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>::signature(),
       Net<Conv<6, 5>, Tanh, MaxPool<2>, Conv<16, 5>, Dense<120>,
           Dense<10>>::bind<Shape<1, 28, 28>>::architecture_hash()},
      {Net<Conv<6, 5>, AvgPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>::signature(),
       Net<Conv<6, 5>, AvgPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>::architecture_hash()},
      {Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dropout<>, Dense<10>>::bind<Shape<1, 28, 28>>::signature(),
       Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dropout<>,
           Dense<10>>::bind<Shape<1, 28, 28>>::architecture_hash()},
      {Net<Conv<6, 5>, BatchNorm<>, ReLU, MaxPool<2>, Conv<16, 5>, Dense<120>,
           Dense<10>>::bind<Shape<1, 28, 28>>::signature(),
       Net<Conv<6, 5>, BatchNorm<>, ReLU, MaxPool<2>, Conv<16, 5>, Dense<120>,
           Dense<10>>::bind<Shape<1, 28, 28>>::architecture_hash()},
      {Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<3, 28, 28>>::signature(),
       Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<3, 28, 28>>::architecture_hash()}};
  for (std::size_t i = 0; i < others.size(); ++i) {
    CAPTURE(others[i].first);
    CHECK(others[i].first != Short::signature());
    CHECK(others[i].second != Short::architecture_hash());
    for (std::size_t j = 0; j < i; ++j) CHECK(others[i].second != others[j].second);
  }
}

TEST_CASE("Net: init draws the same weights for the same seed, others for another, and copies are deep") {
  Short a(1), b(1), c(2);
  bool same = true, different = false;
  for_each_parameter(
      [&](const auto& x, const auto& y, const auto& z) {
        same = same && x == y;
        different = different || !(x == z);
      },
      a.parameters(), b.parameters(), c.parameters());
  CHECK(same);
  CHECK(different);
  Short copy = a;
  copy.layer<0>().weight[0] += 1.0f;
  CHECK(copy.layer<0>().weight[0] != a.layer<0>().weight[0]);
  CHECK(copy.layer<1>().label() == "MaxPool<2>");
  // Biases start at zero; weights have the He scale sqrt(2 / fan_in) for the ReLU layers.
  double squares = 0;
  const auto& w = a.layer<3>().weight;
  for (std::size_t i = 0; i < w.size; ++i) squares += static_cast<double>(w[i]) * w[i];
  CHECK(std::sqrt(squares / w.size) == doctest::Approx(std::sqrt(2.0 / 1024)).epsilon(0.02));
  CHECK(a.layer<3>().bias == decltype(a.layer<3>().bias){});
}

TEST_CASE("Net: forward(x) and predict(x) agree with the workspace pass") {
  Short net(3);
  Workspace<Short, 2> ws;
  Rng rng(4);
  for (std::size_t b = 0; b < 2; ++b)
    for (std::size_t i = 0; i < Short::in_shape::size; ++i) ws.input(b)[i] = rng.uniform();
  ws.labels = {1, 7};
  const float mean_loss = net.forward(ws);
  double expected = 0;
  for (std::size_t b = 0; b < 2; ++b) {
    const auto& logits = net.forward(ws.input(b));
    for (std::size_t k = 0; k < 10; ++k) CHECK(logits[k] == doctest::Approx(ws.output(b)[k]).epsilon(1e-6).scale(1e-6));
    std::size_t best = 0;
    for (std::size_t k = 1; k < 10; ++k)
      if (logits[k] > logits[best]) best = k;
    CHECK(net.predict(ws.input(b)) == best);
    expected += SoftmaxCrossEntropy{}.loss(logits.span(), ws.labels[b]) / 2;
  }
  CHECK(mean_loss == doctest::Approx(expected).epsilon(1e-6));
}
