// Net::input_gradient(ws, output_gradient): the input gradient of any function of the logits, as
// DeepFool and margin attacks use it. Checked against central differences of the function,
// evaluated in double from the float logits, for a logit, a difference of logits (DeepFool's
// w_k), a random mix and a softmax probability (whose d/dlogits depends on the logits it is
// handed); and checked to leave the parameter gradients alone, to call the function once per
// image with that image's logits, and to agree bit for bit with input_gradient(ws) when handed the
// loss's own gradient.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <support/gradient_check.hpp>
#include <vector>

#include <ctnn/ctnn.hpp>

namespace {
using namespace ctnn;

// A convolution, a pooling and two dense layers, with ReLU between them: every backward the
// attacks go through.
using Small = Net<Conv<4, 3>, MaxPool<2>, Dense<12>, Dense<5>>::bind<Shape<2, 8, 8>>;
constexpr std::size_t classes = Small::classes;
constexpr std::size_t image_size = Small::in_shape::size;
constexpr std::size_t batch = 4, count = 3;  // a short batch: the fourth image is not in play

// A function of one image's logits, in double, and its gradient with respect to them; `b` is
// the image, so that each image may have its own class or mix.
struct LogitFunction {
  std::string name;
  std::function<double(std::size_t b, std::span<const double> logits)> value;
  std::function<void(std::size_t b, std::span<const double> logits, std::span<double> gradient)> gradient;
};

std::vector<LogitFunction> logit_functions(const std::vector<std::size_t>& labels, Rng& rng) {
  std::vector<double> mix(batch * classes);
  for (double& weight : mix) weight = rng.uniform(-1.0f, 1.0f);
  const auto linear = [](std::vector<double> coefficients) {
    return LogitFunction{"",
                         [coefficients](std::size_t b, std::span<const double> z) {
                           double sum = 0;
                           for (std::size_t k = 0; k < classes; ++k) sum += coefficients[b * classes + k] * z[k];
                           return sum;
                         },
                         [coefficients](std::size_t b, std::span<const double>, std::span<double> gradient) {
                           for (std::size_t k = 0; k < classes; ++k) gradient[k] = coefficients[b * classes + k];
                         }};
  };
  std::vector<double> one_logit(batch * classes, 0.0), difference(batch * classes, 0.0);
  for (std::size_t b = 0; b < batch; ++b) {
    const std::size_t k = (labels[b] + 1 + b) % classes;
    one_logit[b * classes + k] = 1;
    difference[b * classes + k] = 1;
    difference[b * classes + labels[b]] -= 1;
  }
  std::vector<LogitFunction> functions{linear(one_logit), linear(difference), linear(mix)};
  functions[0].name = "logit k";
  functions[1].name = "logit k - logit y";
  functions[2].name = "a random mix of the logits";
  // p_y = softmax(z)_y, whose gradient p_y (e_y - p) needs the logits.
  const auto softmax = [](std::span<const double> z) {
    std::vector<double> p(classes);
    const double top = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (std::size_t k = 0; k < classes; ++k) sum += p[k] = std::exp(z[k] - top);
    for (double& value : p) value /= sum;
    return p;
  };
  functions.push_back({"softmax probability of the label",
                       [labels, softmax](std::size_t b, std::span<const double> z) { return softmax(z)[labels[b]]; },
                       [labels, softmax](std::size_t b, std::span<const double> z, std::span<double> gradient) {
                         const std::vector<double> p = softmax(z);
                         for (std::size_t k = 0; k < classes; ++k)
                           gradient[k] = p[labels[b]] * ((k == labels[b] ? 1.0 : 0.0) - p[k]);
                       }});
  return functions;
}

struct Problem {
  Small net;
  std::unique_ptr<Workspace<Small, batch>> ws = std::make_unique<Workspace<Small, batch>>();
  std::vector<std::size_t> labels;
};

Problem make_problem(std::uint64_t seed) {
  Problem problem{Small(seed), std::make_unique<Workspace<Small, batch>>(), {}};
  Rng rng(100 + seed);
  // Biases away from zero, so that the bias gradients and the ReLU pattern are not those of a
  // fresh net.
  for (std::size_t i = 0; i < problem.net.layer<0>().bias.size; ++i)
    problem.net.layer<0>().bias[i] = rng.uniform(-0.2f, 0.2f);
  for (std::size_t i = 0; i < problem.net.layer<2>().bias.size; ++i)
    problem.net.layer<2>().bias[i] = rng.uniform(-0.2f, 0.2f);
  auto& ws = *problem.ws;
  ws.count = count;
  for (std::size_t b = 0; b < batch; ++b) {
    for (std::size_t i = 0; i < image_size; ++i) ws.input(b)[i] = rng.uniform(-1.0f, 1.0f);
    ws.labels[b] = rng.below(classes);
    problem.labels.push_back(ws.labels[b]);
  }
  return problem;
}

// Runs input_gradient(ws, f) and returns the input gradients of the ws.count images.
std::vector<double> analytic_gradient(Problem& problem, const LogitFunction& function) {
  auto& ws = *problem.ws;
  problem.net.forward(ws, Mode::eval);
  problem.net.input_gradient(ws, [&](std::size_t b, std::span<const float> logits, std::span<float> dlogits) {
    std::vector<double> z(logits.begin(), logits.end()), gradient(classes);
    function.gradient(b, z, gradient);
    for (std::size_t k = 0; k < classes; ++k) dlogits[k] = static_cast<float>(gradient[k]);
  });
  std::vector<double> result;
  for (std::size_t b = 0; b < ws.count; ++b)
    for (std::size_t i = 0; i < image_size; ++i) result.push_back(ws.input_gradient(b)[i]);
  return result;
}
}  // namespace

TEST_CASE("Output gradient: the input gradient of functions of the logits matches central differences") {
  for (const std::uint64_t seed : {1u, 2u}) {
    CAPTURE(seed);
    Problem problem = make_problem(seed);
    auto& ws = *problem.ws;
    Rng rng(seed);
    for (const LogitFunction& function : logit_functions(problem.labels, rng)) {
      CAPTURE(function.name);
      const std::vector<double> analytic = analytic_gradient(problem, function);
      // f of image b, from the float logits of a forward pass, and that pass's ReLU/MaxPool pattern.
      const auto evaluate = [&](std::size_t b, std::vector<std::uint32_t>& pattern) {
        problem.net.forward(ws, Mode::eval);
        pattern = testing::detail::kink_pattern(ws);
        const auto& logits = ws.output(b);
        const std::vector<double> z(logits.data(), logits.data() + classes);
        return function.value(b, z);
      };
      std::vector<std::uint32_t> base_pattern, plus_pattern, minus_pattern;
      evaluate(0, base_pattern);
      std::vector<std::size_t> checked;
      std::vector<double> kept_analytic, numerical;
      // A sample of the 3 x 128 input entries, the first and last included: each costs two passes.
      const std::vector<std::size_t> sample = testing::detail::sample_indices(count * image_size, 120, rng);
      for (const std::size_t index : sample) {
        const std::size_t b = index / image_size;
        float& x = ws.input(b)[index % image_size];
        const float original = x;
        // A difference across a kink measures neither side: retry with smaller steps, else skip.
        for (double h = 1e-2; h > 1e-4; h /= 4) {
          const float plus = static_cast<float>(original + h), minus = static_cast<float>(original - h);
          x = plus;
          const double f_plus = evaluate(b, plus_pattern);
          x = minus;
          const double f_minus = evaluate(b, minus_pattern);
          x = original;
          if (plus_pattern == base_pattern && minus_pattern == base_pattern) {
            checked.push_back(index);
            kept_analytic.push_back(analytic[index]);
            numerical.push_back((f_plus - f_minus) / (static_cast<double>(plus) - static_cast<double>(minus)));
            break;
          }
        }
      }
      CHECK(checked.size() * 10 >= sample.size() * 9);  // at most a tenth crossed a kink at every step
      const testing::TensorReport report = testing::compare_gradients(
          function.name, {count, 2, 8, 8}, checked, kept_analytic, numerical,
          testing::GradientCheckOptions{.relative_tolerance = 2e-3, .absolute_tolerance = 5e-4});
      CHECK_MESSAGE(report.passed(), report.describe());
      // The gradient is not trivially zero.
      CHECK(*std::max_element(kept_analytic.begin(), kept_analytic.end()) > 1e-3);
    }
  }
}

TEST_CASE("Output gradient: the parameter gradients are left untouched") {
  Problem problem = make_problem(3);
  auto& ws = *problem.ws;
  Rng rng(3);
  const LogitFunction difference = logit_functions(problem.labels, rng)[1];
  problem.net.forward(ws, Mode::eval);
  ws.zero_grad();
  problem.net.backward(ws);
  const auto before = std::make_unique<Small::layers>(ws.grad());
  analytic_gradient(problem, difference);
  bool untouched = true;
  for_each_parameter([&](const auto& now, const auto& then) { untouched = untouched && now == then; }, ws.grad(),
                     *before);
  CHECK(untouched);
  // Nor is anything left behind for the next backward: it gives what it gave before.
  ws.zero_grad();
  problem.net.backward(ws);
  bool same = true;
  for_each_parameter([&](const auto& now, const auto& then) { same = same && now == then; }, ws.grad(), *before);
  CHECK(same);
  // The control: a backward of another loss changes them.
  ws.labels[0] = (ws.labels[0] + 1) % classes;
  problem.net.forward(ws, Mode::eval);
  ws.zero_grad();
  problem.net.backward(ws);
  bool changed = false;
  for_each_parameter([&](const auto& now, const auto& then) { changed = changed || !(now == then); }, ws.grad(),
                     *before);
  CHECK(changed);
}

TEST_CASE("Output gradient: called once per image in play, with that image's logits") {
  Problem problem = make_problem(4);
  auto& ws = *problem.ws;
  problem.net.forward(ws, Mode::eval);
  std::vector<int> calls(batch, 0);
  std::vector<std::vector<float>> seen(batch);
  problem.net.input_gradient(ws, [&](std::size_t b, std::span<const float> logits, std::span<float> dlogits) {
    REQUIRE(b < batch);
    ++calls[b];  // each b from one thread only
    seen[b].assign(logits.begin(), logits.end());
    std::fill(dlogits.begin(), dlogits.end(), 0.0f);
  });
  for (std::size_t b = 0; b < count; ++b) {
    CAPTURE(b);
    CHECK(calls[b] == 1);
    CHECK(seen[b] == std::vector<float>(ws.output(b).data(), ws.output(b).data() + classes));
    // A zero function of the logits has a zero input gradient.
    const auto& gradient = ws.input_gradient(b);
    CHECK(std::all_of(gradient.data(), gradient.data() + image_size, [](float g) { return g == 0.0f; }));
  }
  CHECK(calls[count] == 0);
}

TEST_CASE("Output gradient: handed the loss's own gradient, it is input_gradient(ws) bit for bit") {
  Problem problem = make_problem(5);
  auto& ws = *problem.ws;
  problem.net.forward(ws, Mode::eval);
  problem.net.input_gradient(ws);
  std::vector<float> from_loss;
  for (std::size_t b = 0; b < count; ++b)
    from_loss.insert(from_loss.end(), ws.input_gradient(b).data(), ws.input_gradient(b).data() + image_size);
  const float scale = 1.0f / static_cast<float>(count);
  problem.net.input_gradient(ws, [&](std::size_t b, std::span<const float> logits, std::span<float> dlogits) {
    ws.loss.gradient(logits, ws.labels[b], scale, dlogits);
  });
  std::vector<float> from_function;
  for (std::size_t b = 0; b < count; ++b)
    from_function.insert(from_function.end(), ws.input_gradient(b).data(), ws.input_gradient(b).data() + image_size);
  CHECK(from_function == from_loss);
  CHECK(std::any_of(from_loss.begin(), from_loss.end(), [](float g) { return g != 0.0f; }));
}
