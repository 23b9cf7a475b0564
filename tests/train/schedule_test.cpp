// Learning-rate schedules at known points.
#include <doctest/doctest.h>

#include <cmath>
#include <numbers>

#include <ctnn/train/schedule.hpp>

using ctnn::Schedule;

TEST_CASE("constant and step schedules") {
  CHECK(Schedule{.kind = Schedule::Kind::constant, .learning_rate = 0.1f}.rate_at(7.5, 10) == 0.1f);
  const Schedule step{.kind = Schedule::Kind::step, .learning_rate = 0.1f, .step_epochs = 3, .step_gamma = 0.5f};
  CHECK(step.rate_at(2.99, 10) == doctest::Approx(0.1));
  CHECK(step.rate_at(3.0, 10) == doctest::Approx(0.05));
  CHECK(step.rate_at(6.5, 10) == doctest::Approx(0.025));
}

TEST_CASE("cosine annealing goes from the base rate to the minimum along half a cosine") {
  const Schedule cosine{.kind = Schedule::Kind::cosine, .learning_rate = 0.2f, .minimum_rate = 0.02f};
  CHECK(cosine.rate_at(0, 10) == doctest::Approx(0.2));
  CHECK(cosine.rate_at(5, 10) == doctest::Approx(0.11));
  CHECK(cosine.rate_at(2.5, 10) == doctest::Approx(0.02 + 0.18 * (1 + std::cos(std::numbers::pi / 4)) / 2));
  CHECK(cosine.rate_at(10, 10) == doctest::Approx(0.02));
}

TEST_CASE("one-cycle rises linearly to the peak, then anneals to peak / 1e4") {
  const Schedule cycle{.kind = Schedule::Kind::one_cycle, .learning_rate = 0.1f};
  CHECK(cycle.rate_at(0, 10) == doctest::Approx(0.1 / 25));
  CHECK(cycle.rate_at(1.5, 10) == doctest::Approx(0.1 / 25 + (0.1 - 0.1 / 25) * 0.5));
  CHECK(cycle.rate_at(3, 10) == doctest::Approx(0.1));
  CHECK(cycle.rate_at(10, 10) == doctest::Approx(0.1 / 1e4));
  CHECK(cycle.rate_at(6.5, 10) < cycle.rate_at(5, 10));
}

TEST_CASE("schedule names parse, and an unknown one is refused") {
  CHECK(Schedule::parse_kind("one-cycle") == Schedule::Kind::one_cycle);
  CHECK(Schedule::parse_kind("cosine") == Schedule::Kind::cosine);
  CHECK_THROWS_WITH_AS(Schedule::parse_kind("linear"),
                       "unknown learning-rate schedule 'linear' (expected constant, step, cosine or one-cycle)",
                       std::invalid_argument);
}
