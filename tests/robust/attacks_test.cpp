// FGSM and PGD (robust/attacks.hpp) on a small conv net trained on bar images (bar_images.hpp):
// attacks never help the net, stay inside their ball and [0, 1], grow stronger with budget,
// steps and restarts, reach their targets, are bit-for-bit reproducible whatever the threads,
// and refuse meaningless options.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <robust/bar_images.hpp>
#include <span>
#include <stdexcept>
#include <vector>

#include <ctnn/robust/attacks.hpp>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {
using namespace ctnn;
using testing::bar_normalization;
using testing::BarNet;

constexpr std::size_t image_size = BarNet::in_shape::size;

const Dataset& test_images() {
  static const Dataset data = testing::bar_images(64, 23);
  return data;
}

// attack_dataset on the first `limit` test images (0: all) with a fresh copy of the trained net
// and a batch of 16 (the 64 images make four batches, so the per-batch seeds are exercised).
AttackResult attack(const AttackOptions& options, bool keep_images = false, std::size_t limit = 0) {
  BarNet net = testing::trained_bar_net();
  Workspace<BarNet, 16> ws;
  return attack_dataset(net, ws, test_images(), bar_normalization, options, limit, keep_images);
}

AttackOptions pgd_with_seed(Norm norm, float epsilon, std::size_t steps, std::size_t restarts, std::uint64_t seed) {
  AttackOptions options = pgd(norm, epsilon, steps, restarts);
  options.seed = seed;
  return options;
}

// Each image of `result` against the clean image: the largest |x' - x| and ||x' - x||_2, in
// double, and the range of its pixels.
struct Distances {
  double linf = 0, l2 = 0;
  float low = 1, high = 0;
};
std::vector<Distances> distances(const AttackResult& result) {
  std::vector<Distances> all(result.images);
  for (std::size_t n = 0; n < result.images; ++n) {
    double squares = 0;
    for (std::size_t i = 0; i < image_size; ++i) {
      const float adversarial = result.adversarial[n * image_size + i];
      const double difference = static_cast<double>(adversarial) - test_images().images[n * image_size + i];
      all[n].linf = std::max(all[n].linf, std::abs(difference));
      squares += difference * difference;
      all[n].low = std::min(all[n].low, adversarial);
      all[n].high = std::max(all[n].high, adversarial);
    }
    all[n].l2 = std::sqrt(squares);
  }
  return all;
}
}  // namespace

TEST_CASE("Attacks: the trained bar net is a fair target") {
  const AttackResult clean = attack(fgsm(0.0f));
  CHECK(clean.images == 64);
  CHECK(clean.clean_accuracy() >= 0.9f);
  // A large budget breaks it, so the comparisons below are not all between zeros or all between ones.
  CHECK(attack(pgd(Norm::linf, 0.5f, 20)).robust_accuracy() <= 0.25f);
}

TEST_CASE("Attacks: accuracy under attack never exceeds clean accuracy; a budget of 0 changes nothing") {
  for (const AttackOptions& options : {fgsm(0.05f), fgsm(0.2f), pgd(Norm::linf, 0.1f, 10), pgd(Norm::l2, 1.0f, 10, 2),
                                       fgsm(0.0f), pgd(Norm::linf, 0.0f, 5), pgd(Norm::l2, 0.0f, 5)}) {
    CAPTURE(options.epsilon);
    CAPTURE(norm_name(options.norm));
    const AttackResult result = attack(options, true);
    CHECK(result.robust_correct <= result.clean_correct);
    // robust_correct counts the images right before and after.
    std::size_t right_after = 0;
    for (std::size_t n = 0; n < result.images; ++n) right_after += result.predictions[n] == test_images().labels[n];
    CHECK(result.robust_correct <= right_after);
    if (options.epsilon == 0) {
      CHECK(result.robust_correct == result.clean_correct);
      CHECK(right_after == result.clean_correct);
      CHECK(result.adversarial == test_images().images);
    }
  }
}

TEST_CASE("Attacks: every adversarial image stays in its epsilon-ball and in [0, 1]") {
  for (const float epsilon : {0.03f, 0.1f, 0.3f, 0.7f}) {
    CAPTURE(epsilon);
    for (const AttackOptions& options : {fgsm(epsilon), pgd(Norm::linf, epsilon, 8, 2)}) {
      for (const Distances& d : distances(attack(options, true))) {
        CHECK(d.linf <= static_cast<double>(epsilon));
        CHECK(d.low >= 0.0f);
        CHECK(d.high <= 1.0f);
      }
    }
  }
  for (const float epsilon : {0.5f, 1.5f, 4.0f, 20.0f}) {
    CAPTURE(epsilon);
    double largest = 0;
    for (const Distances& d : distances(attack(pgd(Norm::l2, epsilon, 8, 2), true))) {
      CHECK(d.l2 <= static_cast<double>(epsilon) * (1 + 1e-6));
      CHECK(d.low >= 0.0f);
      CHECK(d.high <= 1.0f);
      largest = std::max(largest, d.l2);
    }
    // The attack uses its room: the ball is not shrunk to nothing.
    if (epsilon <= 1.5f) CHECK(largest >= 0.5 * static_cast<double>(epsilon));
  }
}

TEST_CASE("Attacks: PGD is at least as strong as FGSM at the same L-infinity budget") {
  std::size_t pgd_total = 0, fgsm_total = 0;
  for (const float epsilon : {0.05f, 0.1f, 0.15f, 0.2f, 0.3f}) {
    CAPTURE(epsilon);
    const std::size_t by_pgd = attack(pgd(Norm::linf, epsilon, 20)).robust_correct;
    const std::size_t by_fgsm = attack(fgsm(epsilon)).robust_correct;
    CHECK(by_pgd <= by_fgsm);
    pgd_total += by_pgd;
    fgsm_total += by_fgsm;
  }
  CHECK(pgd_total < fgsm_total);  // and strictly stronger somewhere
}

TEST_CASE("Attacks: a larger budget never raises the accuracy under attack") {
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    CAPTURE(norm_name(norm));
    const float unit = norm == Norm::linf ? 0.02f : 0.15f;
    std::size_t previous = std::numeric_limits<std::size_t>::max(), first = 0, last = 0;
    for (int k = 0; k <= 8; ++k) {
      const float epsilon = unit * static_cast<float>(k);
      CAPTURE(epsilon);
      // The same seed and steps for every budget.
      const std::size_t robust = attack(pgd_with_seed(norm, epsilon, 10, 1, 5)).robust_correct;
      CHECK(robust <= previous);
      previous = robust;
      (k == 0 ? first : last) = robust;
    }
    CHECK(last < first);
  }
}

TEST_CASE("Attacks: more restarts never fool fewer images") {
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    CAPTURE(norm_name(norm));
    // A small budget and few steps leave images for the later restarts to find.
    const float epsilon = norm == Norm::linf ? 0.08f : 0.8f;
    const AttackResult once = attack(pgd_with_seed(norm, epsilon, 3, 1, 9));
    const AttackResult thrice = attack(pgd_with_seed(norm, epsilon, 3, 3, 9));
    CHECK(thrice.robust_correct <= once.robust_correct);
    for (std::size_t n = 0; n < once.images; ++n) {
      CAPTURE(n);
      // An image fooled by the first restart is fooled after three.
      if (once.predictions[n] != test_images().labels[n]) CHECK(thrice.predictions[n] != test_images().labels[n]);
    }
  }
}

TEST_CASE("Attacks: targeted attacks reach their targets, and report the hits they made") {
  constexpr std::size_t classes = BarNet::classes;
  for (const AttackOptions& base : {fgsm(0.2f), pgd(Norm::linf, 0.2f, 15), pgd(Norm::l2, 2.0f, 15)}) {
    CAPTURE(norm_name(base.norm));
    CAPTURE(base.steps);
    BarNet net = testing::trained_bar_net();
    Workspace<BarNet, 64> ws;
    const Dataset& data = test_images();
    std::vector<std::uint8_t> targets(data.size());
    for (std::size_t n = 0; n < data.size(); ++n)
      targets[n] = static_cast<std::uint8_t>((data.labels[n] + 1 + n % 3) % 4);
    // Before the attack: how many images the net already puts in their target class.
    load_batch(ws, std::span<const float>(data.images), std::span<const std::uint8_t>(targets), bar_normalization);
    net.forward(ws, Mode::eval);
    std::size_t by_chance = 0;
    for (std::size_t b = 0; b < ws.count; ++b) by_chance += detail::arg_max(ws.output(b), classes) == targets[b];

    AttackOptions options = base;
    options.targeted = true;
    std::vector<float> pixels(data.images);
    const std::size_t reached = perturb(net, ws, bar_normalization, options, 3, std::span(pixels));
    // The count is the hits of the images the attack left in ws.
    net.forward(ws, Mode::eval);
    std::size_t hits = 0;
    for (std::size_t b = 0; b < ws.count; ++b) {
      CHECK(ws.labels[b] == targets[b]);
      hits += detail::arg_max(ws.output(b), classes) == targets[b];
    }
    CHECK(reached == hits);
    CHECK(reached > by_chance);
    CHECK(reached * classes > 2 * data.size());  // twice what guessing would reach
  }
}

TEST_CASE("Attacks: the untargeted count is the images misclassified after the attack") {
  BarNet net = testing::trained_bar_net();
  Workspace<BarNet, 64> ws;
  const Dataset& data = test_images();
  load_batch(ws, std::span<const float>(data.images), std::span<const std::uint8_t>(data.labels), bar_normalization);
  const std::size_t fooled = perturb(net, ws, bar_normalization, pgd(Norm::linf, 0.1f, 10), 4);
  net.forward(ws, Mode::eval);
  std::size_t wrong = 0;
  for (std::size_t b = 0; b < ws.count; ++b) wrong += detail::arg_max(ws.output(b), BarNet::classes) != data.labels[b];
  CHECK(fooled == wrong);
  CHECK(fooled > 0);
  CHECK(fooled < data.size());
}

TEST_CASE("Attacks: the same seed gives bit-identical images, with one thread or two") {
  const auto images = [](const AttackOptions& options, int threads) {
#ifdef _OPENMP
    const int previous = omp_get_max_threads();
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
    const AttackResult result = attack(options, true, 20);  // a batch of 16 and a short one of 4
#ifdef _OPENMP
    omp_set_num_threads(previous);
#endif
    return result.adversarial;
  };
  for (const Norm norm : {Norm::linf, Norm::l2}) {
    CAPTURE(norm_name(norm));
    const float epsilon = norm == Norm::linf ? 0.1f : 1.0f;
    const std::vector<float> reference = images(pgd_with_seed(norm, epsilon, 4, 2, 21), 2);
    CHECK(images(pgd_with_seed(norm, epsilon, 4, 2, 21), 2) == reference);
    CHECK(images(pgd_with_seed(norm, epsilon, 4, 2, 21), 1) == reference);
    // The control: another seed starts elsewhere.
    CHECK_FALSE(images(pgd_with_seed(norm, epsilon, 4, 2, 22), 2) == reference);
  }
}

TEST_CASE("Attacks: meaningless options are refused") {
  BarNet net = testing::trained_bar_net();
  Workspace<BarNet, 4> ws;
  const Dataset& data = test_images();
  load_batch(ws, std::span(data.images).subspan(0, 4 * image_size), std::span(data.labels).subspan(0, 4),
             bar_normalization);
  const float nan = std::numeric_limits<float>::quiet_NaN(), infinity = std::numeric_limits<float>::infinity();
  std::vector<AttackOptions> bad(6, pgd(Norm::linf, 0.1f, 5));
  bad[0].epsilon = -0.1f;
  bad[1].epsilon = nan;
  bad[2].epsilon = infinity;
  bad[3].step_size = nan;
  bad[4].step_size = -0.01f;
  bad[5].restarts = 0;
  for (const AttackOptions& options : bad) {
    CAPTURE(options.epsilon);
    CAPTURE(options.step_size);
    CAPTURE(options.restarts);
    CHECK_THROWS_AS(perturb(net, ws, bar_normalization, options, 1), std::invalid_argument);
    CHECK_THROWS_AS(attack_dataset(net, ws, data, bar_normalization, options), std::invalid_argument);
  }
  CHECK_THROWS_AS(perturb(net, ws, Normalization{0.1f, 0.0f}, fgsm(0.1f), 1), std::invalid_argument);
  std::vector<float> too_few(3 * image_size);
  CHECK_THROWS_AS(perturb(net, ws, bar_normalization, fgsm(0.1f), 1, std::span(too_few)), std::invalid_argument);
  // The control: the same call with sound options runs.
  CHECK_NOTHROW(perturb(net, ws, bar_normalization, fgsm(0.1f), 1));
}
