// The search space: its grid against nested loops, random draws (seeded, in range, log-uniform
// spread, choices only), the ranking of trials, the refusal of spaces that cannot be searched, and
// the compile-time architecture axis.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <ctnn/data/preprocess.hpp>
#include <ctnn/train/search.hpp>

using ctnn::Configuration;
using ctnn::Parameter;
using ctnn::SearchSpace;
using ctnn::SearchSpaceError;
using ctnn::Trial;

namespace {

SearchSpace example_space() {
  return {Parameter::log_uniform("learning_rate", 0.001, 0.1),  // grid: 0.001, 0.01, 0.1
          Parameter::choice("batch_size", {32, 64, 128, 256}, {64, 256}),
          Parameter::uniform("momentum", 0.5, 0.9, {0.5, 0.7, 0.9}), Parameter::choice("dropout", {0, 0.25, 0.5})};
}

}  // namespace

TEST_CASE("a range's grid spreads its points evenly, geometrically when log-uniform, ends included") {
  Parameter linear = Parameter::uniform("x", -1, 3);
  linear.grid_points = 5;
  const std::vector<double> points = linear.grid_values();
  REQUIRE(points.size() == 5);
  for (std::size_t i = 0; i < 5; ++i) CHECK(points[i] == doctest::Approx(-1.0 + static_cast<double>(i)));

  Parameter geometric = Parameter::log_uniform("y", 1e-4, 1);
  geometric.grid_points = 5;
  const std::vector<double> powers = geometric.grid_values();
  REQUIRE(powers.size() == 5);
  CHECK(powers.front() == 1e-4);
  CHECK(powers.back() == 1.0);
  for (std::size_t i = 1; i + 1 < 5; ++i)
    CHECK(powers[i] == doctest::Approx(std::pow(10.0, -4.0 + static_cast<double>(i))));

  geometric.grid_points = 1;
  REQUIRE(geometric.grid_values().size() == 1);
  CHECK(geometric.grid_values()[0] == doctest::Approx(0.01));  // the geometric mean
}

TEST_CASE("the grid is the full cartesian product, first parameter slowest") {
  const SearchSpace space = example_space();
  const std::vector<double> rates{0.001, 0.01, 0.1}, batches{64, 256}, momenta{0.5, 0.7, 0.9}, dropouts{0, 0.25, 0.5};
  std::vector<std::vector<double>> expected;
  for (const double rate : rates)
    for (const double batch : batches)
      for (const double momentum : momenta)
        for (const double dropout : dropouts) expected.push_back({rate, batch, momentum, dropout});

  CHECK(space.grid_size() == expected.size());
  const std::vector<Configuration> grid = space.grid();
  REQUIRE(grid.size() == expected.size());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    CAPTURE(i);
    REQUIRE(grid[i].settings.size() == 4);
    CHECK(grid[i].settings[0].name == "learning_rate");
    CHECK(grid[i]["learning_rate"] == doctest::Approx(expected[i][0]));
    CHECK(grid[i]["batch_size"] == expected[i][1]);
    CHECK(grid[i]["momentum"] == expected[i][2]);
    CHECK(grid[i]["dropout"] == expected[i][3]);
  }
  CHECK_THROWS_WITH_AS(grid[0]["weight_decay"], "configuration: no parameter 'weight_decay'", std::out_of_range);
  CHECK_THROWS_WITH_AS(space.grid(50), "search space: the grid has more than 50 configurations", SearchSpaceError);
}

TEST_CASE("random configurations are a function of the seed, in range, and a longer search begins with a shorter") {
  const SearchSpace space = example_space();
  const std::vector<Configuration> first = space.random(200, 7);
  CHECK(first == space.random(200, 7));
  CHECK(first != space.random(200, 8));
  const std::vector<Configuration> shorter = space.random(20, 7);
  CHECK(std::equal(shorter.begin(), shorter.end(), first.begin()));

  std::map<double, std::size_t> batch_counts;
  for (const Configuration& configuration : first) {
    CHECK(configuration["learning_rate"] >= 0.001);
    CHECK(configuration["learning_rate"] <= 0.1);
    CHECK(configuration["momentum"] >= 0.5);
    CHECK(configuration["momentum"] <= 0.9);
    ++batch_counts[configuration["batch_size"]];
    const double dropout = configuration["dropout"];
    CHECK((dropout == 0 || dropout == 0.25 || dropout == 0.5));
  }
  // Only the four listed batch sizes, each drawn (200 draws at 1/4: a count of 0 has odds 1e-25).
  CHECK(batch_counts.size() == 4);
  for (const double batch : {32.0, 64.0, 128.0, 256.0}) CHECK(batch_counts[batch] > 0);
}

TEST_CASE("log-uniform draws spread evenly over the decades; uniform draws over the range") {
  const SearchSpace space{Parameter::log_uniform("rate", 1e-5, 1e-1), Parameter::uniform("strength", 2, 4)};
  const std::size_t draws = 10'001;
  std::vector<double> rates, strengths;
  for (const Configuration& configuration : space.random(draws, 3)) {
    rates.push_back(configuration["rate"]);
    strengths.push_back(configuration["strength"]);
  }
  std::sort(rates.begin(), rates.end());
  std::sort(strengths.begin(), strengths.end());
  // log10 of a draw is uniform in [-5, -1]: the median is the geometric mean 1e-3, and each decade
  // holds a quarter of the draws (standard error of a share: sqrt(0.25 * 0.75 / 10001) = 0.004).
  CHECK(std::log10(rates[draws / 2]) == doctest::Approx(-3.0).epsilon(0.02));
  const auto share_below = [&](double value) {
    return static_cast<double>(std::lower_bound(rates.begin(), rates.end(), value) - rates.begin()) /
           static_cast<double>(draws);
  };
  CHECK(share_below(1e-4) == doctest::Approx(0.25).epsilon(0.08));
  CHECK(share_below(1e-2) == doctest::Approx(0.75).epsilon(0.03));
  // A uniform draw's quartiles are at 2.5, 3 and 3.5.
  CHECK(strengths[draws / 4] == doctest::Approx(2.5).epsilon(0.01));
  CHECK(strengths[draws / 2] == doctest::Approx(3.0).epsilon(0.01));
  CHECK(strengths[3 * draws / 4] == doctest::Approx(3.5).epsilon(0.01));
  CHECK(strengths.front() >= 2.0);
  CHECK(strengths.back() <= 4.0);
}

TEST_CASE("a range of one value always gives it") {
  const SearchSpace space{Parameter::log_uniform("rate", 0.05, 0.05), Parameter::uniform("x", 1, 1)};
  for (const Configuration& configuration : space.random(10, 1)) {
    CHECK(configuration["rate"] == 0.05);
    CHECK(configuration["x"] == 1.0);
  }
  CHECK(space.grid_size() == 1);
}

TEST_CASE("trials rank by score, then by loss, then by id; failed trials last, whatever the input order") {
  const double nan = std::nan("");
  // Built in the order they must rank.
  const std::vector<std::pair<double, double>> score_loss{{0.99, 0.03}, {0.99, 0.05}, {0.99, 0.05}, {0.99, nan},
                                                          {0.98, 0.01}, {0.5, 0.9},   {nan, 0.01},  {nan, nan}};
  std::vector<Trial> expected;
  for (std::size_t i = 0; i < score_loss.size(); ++i) {
    Trial trial;
    trial.score = score_loss[i].first;
    trial.loss = score_loss[i].second;
    trial.id = i == 1 ? 4 : i == 2 ? 9 : 20 + i;  // the tied pair keeps id order
    expected.push_back(trial);
  }
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    CAPTURE(seed);
    std::vector<Trial> shuffled;
    for (const std::size_t i : ctnn::shuffled_indices(expected.size(), seed)) shuffled.push_back(expected[i]);
    const std::vector<Trial> ranked = ctnn::rank_trials(shuffled);
    REQUIRE(ranked.size() == expected.size());
    for (std::size_t i = 0; i < ranked.size(); ++i) CHECK(ranked[i].id == expected[i].id);
  }
}

TEST_CASE("spaces that cannot be searched are refused, naming the parameter and the rule") {
  CHECK_THROWS_WITH_AS(SearchSpace{Parameter::choice("batch_size", {})},
                       "search space: parameter 'batch_size': a choice needs at least one value", SearchSpaceError);
  CHECK_THROWS_WITH_AS(
      SearchSpace{Parameter::uniform("momentum", 0.9, 0.5)},
      "search space: parameter 'momentum': the range [0.9, 0.5] has its low bound above its high bound",
      SearchSpaceError);
  CHECK_THROWS_WITH_AS(
      SearchSpace{Parameter::log_uniform("weight_decay", 0, 0.01)},
      "search space: parameter 'weight_decay': a log-uniform range needs positive bounds, got [0, 0.01]",
      SearchSpaceError);
  CHECK_THROWS_WITH_AS(
      SearchSpace{Parameter::log_uniform("learning_rate", -1, 0.1)},
      "search space: parameter 'learning_rate': a log-uniform range needs positive bounds, got [-1, 0.1]",
      SearchSpaceError);
  CHECK_THROWS_WITH_AS(SearchSpace{Parameter::uniform("x", 0, INFINITY)},
                       "search space: parameter 'x': the range [0, inf] must be finite", SearchSpaceError);
  CHECK_THROWS_WITH_AS(SearchSpace{Parameter::uniform("momentum", 0.5, 0.9, {0.95})},
                       "search space: parameter 'momentum': grid value 0.95 is outside the range", SearchSpaceError);
  CHECK_THROWS_WITH_AS(SearchSpace{Parameter::choice("batch_size", {32, 64}, {128})},
                       "search space: parameter 'batch_size': grid value 128 is not one of the choices",
                       SearchSpaceError);
  Parameter no_points = Parameter::uniform("strength", 0, 1);
  no_points.grid_points = 0;
  CHECK_THROWS_WITH_AS(SearchSpace{no_points}, "search space: parameter 'strength': a grid needs at least one point",
                       SearchSpaceError);
  CHECK_THROWS_WITH_AS((SearchSpace{Parameter::uniform("x", 0, 1), Parameter::choice("x", {1})}),
                       "search space: parameter 'x' is listed twice", SearchSpaceError);
  CHECK_THROWS_WITH_AS(SearchSpace{}.grid(), "search space: there are no parameters to search", SearchSpaceError);
  CHECK_THROWS_WITH_AS(SearchSpace{}.random(1, 1), "search space: there are no parameters to search", SearchSpaceError);
}

TEST_CASE("the architecture axis visits each type in order and picks one by index") {
  using Axis = ctnn::Architectures<char, int, double>;
  static_assert(Axis::size == 3);
  std::vector<std::size_t> sizes;
  Axis::for_each([&](std::size_t index, auto type) {
    CHECK(index == sizes.size());
    sizes.push_back(sizeof(typename decltype(type)::type));
  });
  CHECK(sizes == std::vector<std::size_t>{sizeof(char), sizeof(int), sizeof(double)});
  for (std::size_t index = 0; index < 3; ++index)
    CHECK(Axis::visit(index, [](auto type) { return sizeof(typename decltype(type)::type); }) == sizes[index]);
  CHECK(Axis::visit(1, [](auto type) { return std::is_same_v<typename decltype(type)::type, int>; }));
  CHECK_THROWS_WITH_AS(Axis::visit(3, [](auto) { return 0; }), "Architectures: index 3 is past the 3 types",
                       std::out_of_range);
}
