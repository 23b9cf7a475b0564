// Knowledge distillation: the soft-target loss against its definition and its gradient against
// central differences; alpha = 0 is the plain cross-entropy bit for bit; a teacher equal to the
// student at T = 1, alpha = 1 gives a zero gradient. Through a Net: the teacher's logits reach the
// loss of the right images, with the teacher's own input normalization, are consumed by backward
// (an evaluation afterwards measures the plain loss), and with alpha = 0 a distilled Trainer run
// ends with the same weights as a plain one.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include <ctnn/ctnn.hpp>
#include <ctnn/train/distillation.hpp>
#include <ctnn/train/trainer.hpp>

#include "support/bar_dataset.hpp"

namespace {
using namespace ctnn;

constexpr std::size_t classes = 10;

std::array<double, classes> softmax(std::span<const double> z, double temperature) {
  double top = z[0];
  for (double v : z) top = std::max(top, v);
  std::array<double, classes> p{};
  double total = 0;
  for (std::size_t k = 0; k < classes; ++k) total += p[k] = std::exp((z[k] - top) / temperature);
  for (double& v : p) v /= total;
  return p;
}

// Hinton et al.'s loss from its definition, in double: alpha T^2 sum_k q_k log(q_k / p_k) +
// (1 - alpha) (-sum_k target_k log softmax(z)_k).
double distillation_in_double(std::span<const double> z, std::span<const double> teacher, std::size_t label,
                              double temperature, double alpha, double smoothing) {
  const auto p = softmax(z, temperature), q = softmax(teacher, temperature), plain = softmax(z, 1);
  double soft = 0, hard = 0;
  for (std::size_t k = 0; k < classes; ++k) {
    soft += q[k] * std::log(q[k] / p[k]);
    hard -= (smoothing / classes + (k == label ? 1 - smoothing : 0)) * std::log(plain[k]);
  }
  return alpha * temperature * temperature * soft + (1 - alpha) * hard;
}

std::array<float, classes> random_logits(Rng& rng, float spread) {
  std::array<float, classes> z{};
  for (float& v : z) v = rng.normal(0.0f, spread);
  return z;
}

template <class Tensor>
bool same_bits(const Tensor& a, const Tensor& b) {
  return std::memcmp(a.data(), b.data(), sizeof(float) * Tensor::size) == 0;
}

using Student = Net<Input<1, 8, 8>, Conv<3, 3>, MaxPool<2>, Dense<8>, Dense<4>>;
using Teacher = Net<Input<1, 8, 8>, Conv<6, 3>, BatchNorm<>, ReLU, MaxPool<2>, Dense<16>, Dense<4>>;

using ctnn::test::bars;  // tests/support/bar_dataset.hpp

template <class WorkspaceType>
void load_images(WorkspaceType& ws, const Dataset& data, std::size_t count, Normalization normalization) {
  load_batch(ws, std::span(data.images).first(count * data.image_size()), std::span(data.labels).first(count),
             normalization);
}

}  // namespace

TEST_CASE("the distillation loss matches its definition and its gradient matches central differences") {
  Rng rng(1);
  for (const float temperature : {1.0f, 2.0f, 5.0f}) {
    for (const float alpha : {0.0f, 0.3f, 0.9f, 1.0f}) {
      for (const float smoothing : {0.0f, 0.1f}) {
        const SoftmaxCrossEntropy loss{smoothing};
        const auto z = random_logits(rng, 3.0f), teacher = random_logits(rng, 4.0f);
        const std::size_t label = rng.below(classes);
        std::array<double, classes> zd{}, td{};
        for (std::size_t k = 0; k < classes; ++k) zd[k] = z[k], td[k] = teacher[k];
        CAPTURE(temperature);
        CAPTURE(alpha);
        CAPTURE(smoothing);
        CHECK(loss.distillation_loss(z, teacher, label, temperature, alpha) ==
              doctest::Approx(distillation_in_double(zd, td, label, temperature, alpha, smoothing)).epsilon(1e-6));

        const float scale = 0.25f;  // the 1 / batch factor of a mean loss
        std::array<float, classes> gradient{};
        loss.distillation_gradient(z, teacher, label, temperature, alpha, scale, gradient);
        for (std::size_t k = 0; k < classes; ++k) {
          auto plus = zd, minus = zd;
          const double h = 1e-4;
          plus[k] += h, minus[k] -= h;
          const double numerical = scale *
                                   (distillation_in_double(plus, td, label, temperature, alpha, smoothing) -
                                    distillation_in_double(minus, td, label, temperature, alpha, smoothing)) /
                                   (2 * h);
          CAPTURE(k);
          CHECK(gradient[k] == doctest::Approx(numerical).epsilon(1e-4).scale(1e-4));
        }
      }
    }
  }
}

TEST_CASE("alpha = 0 is the plain cross-entropy, loss and gradient, bit for bit") {
  Rng rng(2);
  for (const float smoothing : {0.0f, 0.1f}) {
    for (const float spread : {1.0f, 10.0f, 300.0f}) {
      const SoftmaxCrossEntropy loss{smoothing};
      const auto z = random_logits(rng, spread), teacher = random_logits(rng, spread);
      const std::size_t label = rng.below(classes);
      CHECK(loss.distillation_loss(z, teacher, label, 3.0f, 0.0f) == loss.loss(z, label));
      std::array<float, classes> distilled{}, plain{};
      loss.distillation_gradient(z, teacher, label, 3.0f, 0.0f, 0.125f, distilled);
      loss.gradient(z, label, 0.125f, plain);
      CHECK(std::memcmp(distilled.data(), plain.data(), sizeof plain) == 0);
    }
  }
}

TEST_CASE("a teacher equal to the student at T = 1 and alpha = 1 gives zero loss and zero gradient") {
  Rng rng(3);
  const SoftmaxCrossEntropy loss;
  const auto z = random_logits(rng, 5.0f);
  std::array<float, classes> gradient{};
  gradient.fill(1.0f);
  loss.distillation_gradient(z, z, 4, 1.0f, 1.0f, 1.0f, gradient);
  for (const float g : gradient) CHECK(g == 0.0f);
  CHECK(loss.distillation_loss(z, z, 4, 1.0f, 1.0f) == doctest::Approx(0.0).scale(1e-12));
}

TEST_CASE("through a Net: each image gets its own teacher's logits, and backward consumes them") {
  const Dataset data = bars(20, 4);
  const Normalization student_normalization{0.1f, 0.3f}, teacher_normalization{0.2f, 0.5f};
  auto student = std::make_unique<Student>(5);
  auto teacher = std::make_unique<Teacher>(6);
  auto ws = std::make_unique<Workspace<Student, 32>>();
  // A teacher batch of 8 splits the 20 images into 8 + 8 + 4.
  Distillation<Teacher, Workspace<Student, 32>, 8> distill(*teacher, *ws, {.temperature = 3.0f, .alpha = 0.7f},
                                                           student_normalization, teacher_normalization);
  load_images(*ws, data, 20, student_normalization);
  distill(*ws);

  // The teacher's logits of each image, one image at a time, normalized as the teacher was trained.
  std::vector<std::array<float, 4>> expected(20);
  tensor_of<Teacher::in_shape> x;
  for (std::size_t b = 0; b < 20; ++b) {
    for (std::size_t i = 0; i < 64; ++i) x[i] = (data.image(b)[i] - 0.2f) / 0.5f;
    const auto& logits = teacher->forward(x);
    for (std::size_t k = 0; k < 4; ++k) expected[b][k] = logits[k];
  }
  const float mean_loss = student->forward(*ws, Mode::eval);
  double total = 0;
  for (std::size_t b = 0; b < 20; ++b) {
    CAPTURE(b);
    const std::span<const float> logits = ws->output(b).span();
    const float* armed = distill.targets().teacher_logits.data() + b * 4;
    for (std::size_t k = 0; k < 4; ++k) CHECK(armed[k] == doctest::Approx(expected[b][k]).epsilon(1e-4));
    const float image_loss = ws->loss.distillation_loss(logits, std::span(armed, 4), ws->labels[b], 3.0f, 0.7f);
    CHECK(ws->losses[b] == image_loss);
    CHECK(image_loss != SoftmaxCrossEntropy{}.loss(logits, ws->labels[b]));
    total += image_loss;
  }
  CHECK(mean_loss == doctest::Approx(total / 20).epsilon(1e-6));

  // After backward, the same workspace measures the plain cross-entropy again.
  ws->zero_grad();
  student->backward(*ws);
  student->forward(*ws, Mode::eval);
  for (std::size_t b = 0; b < 20; ++b)
    CHECK(ws->losses[b] == SoftmaxCrossEntropy{}.loss(ws->output(b).span(), ws->labels[b]));
}

TEST_CASE("through a Net: a teacher that is the student, at T = 1 and alpha = 1, teaches nothing") {
  const Dataset data = bars(16, 7);
  const Normalization normalization{0.1f, 0.3f};
  auto student = std::make_unique<Student>(8);
  auto teacher = std::make_unique<Student>(*student);
  auto ws = std::make_unique<Workspace<Student, 16>>();
  Distillation<Student, Workspace<Student, 16>, 16> distill(*teacher, *ws, {.temperature = 1.0f, .alpha = 1.0f},
                                                            normalization, normalization);
  load_images(*ws, data, 16, normalization);
  distill(*ws);
  student->forward(*ws, Mode::eval);
  ws->zero_grad();
  student->backward(*ws);
  std::size_t nonzero = 0;
  for_each_parameter(
      [&nonzero](const auto& tensor) {
        for (const float g : tensor.span()) nonzero += g != 0.0f;
      },
      ws->grad());
  CHECK(nonzero == 0);
}

TEST_CASE("a Trainer run distilled with alpha = 0 ends with the plain run's weights, bit for bit") {
  const Dataset train = bars(80, 9), validation = bars(24, 10);
  const Normalization normalization = compute_normalization(train.images);
  auto teacher = std::make_unique<Teacher>(11);
  TrainerOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.schedule.learning_rate = 0.05f;
  options.augmentation.affine = {.max_rotation_degrees = 5, .max_translation_pixels = 1};
  options.progress = false;

  auto plain = std::make_unique<Student>(12);
  auto plain_ws = std::make_unique<Workspace<Student, 16>>();
  Sgd plain_optimizer(*plain, {.learning_rate = 0.05f, .momentum = 0.9f});
  const TrainReport plain_report =
      Trainer(*plain, plain_optimizer, *plain_ws, options).run(train, validation, normalization);

  auto distilled = std::make_unique<Student>(12);
  auto ws = std::make_unique<Workspace<Student, 16>>();
  Sgd optimizer(*distilled, {.learning_rate = 0.05f, .momentum = 0.9f});
  Distillation distill(*teacher, *ws, {.temperature = 4.0f, .alpha = 0.0f}, normalization, normalization);
  const TrainReport report =
      Trainer(*distilled, optimizer, *ws, options).run(train, validation, normalization, distill);

  CHECK(same_bits(distilled->layer<0>().weight, plain->layer<0>().weight));
  CHECK(same_bits(distilled->layer<2>().weight, plain->layer<2>().weight));
  CHECK(same_bits(distilled->layer<3>().bias, plain->layer<3>().bias));
  CHECK(report.history.back().train_loss == plain_report.history.back().train_loss);
  CHECK(report.history.back().validation_loss == plain_report.history.back().validation_loss);
}

TEST_CASE("distillation refuses a temperature or alpha out of range, and another workspace") {
  auto teacher = std::make_unique<Student>(1);
  auto ws = std::make_unique<Workspace<Student, 4>>(), other = std::make_unique<Workspace<Student, 4>>();
  using Distill = Distillation<Student, Workspace<Student, 4>, 4>;
  CHECK_THROWS_AS(Distill(*teacher, *ws, {.temperature = 0.0f, .alpha = 0.5f}, {}, {}), std::invalid_argument);
  CHECK_THROWS_AS(Distill(*teacher, *ws, {.temperature = 2.0f, .alpha = 1.5f}, {}, {}), std::invalid_argument);
  {
    Distill distill(*teacher, *ws, {}, {}, {});
    CHECK(ws->loss.soft_targets == &distill.targets());
    CHECK_THROWS_AS(distill(*other), std::invalid_argument);
  }
  CHECK(ws->loss.soft_targets == nullptr);  // detached with the Distillation
}
