// Hyper-parameter search: a space of named parameters, its grid (the cartesian product of each
// parameter's grid values) and seeded random draws from it, the record of a trial, and the
// ranking of trials by validation score. Bergstra & Bengio, "Random search for hyper-parameter
// optimization" (JMLR 2012), explain why random draws beat a grid of the same size when few
// parameters matter: a grid spends its trials repeating the same few values of each one.
//
// A parameter is drawn from a range (uniform, or log-uniform for scale parameters such as the
// learning rate, section 2.1 of the paper) or from a list of choices; its grid values are listed
// or spread evenly (geometrically for log-uniform) over the range. Configuration i of a random
// search is drawn from its own stream of the seed, so a longer search begins with a shorter one.
// Compile-time choices, such as the network type, form an Architectures<Nets...> axis that a
// program instantiates in full and picks from at run time by index.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <ctnn/core/random.hpp>

namespace ctnn {

// Thrown for a search space that cannot be searched; the message names the parameter and the rule.
class SearchSpaceError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

namespace detail {
// The text of streaming each argument in turn: "[" + a number + "]" without temporaries, which
// g++ 12 at -O3 mistakes for overlapping copies (-Wrestrict).
template <class... Parts>
std::string text_of(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

struct Parameter {
  enum class Kind { choice, uniform, log_uniform };

  std::string name;
  Kind kind = Kind::choice;
  std::vector<double> choices{};  // choice: the values a draw picks from, each equally likely
  double low = 0, high = 0;       // uniform, log_uniform: the closed range of a draw
  // What a grid search enumerates, in this order. Empty: a choice's values, or grid_points
  // values spread evenly over a range, both ends included (geometrically for log_uniform).
  std::vector<double> grid{};
  std::size_t grid_points = 3;

  static Parameter choice(std::string name, std::vector<double> choices, std::vector<double> grid = {}) {
    return {.name = std::move(name), .kind = Kind::choice, .choices = std::move(choices), .grid = std::move(grid)};
  }
  static Parameter uniform(std::string name, double low, double high, std::vector<double> grid = {}) {
    return {.name = std::move(name), .kind = Kind::uniform, .low = low, .high = high, .grid = std::move(grid)};
  }
  static Parameter log_uniform(std::string name, double low, double high, std::vector<double> grid = {}) {
    return {.name = std::move(name), .kind = Kind::log_uniform, .low = low, .high = high, .grid = std::move(grid)};
  }

  // Throws SearchSpaceError unless the parameter can be drawn from and enumerated: a name, at
  // least one finite choice, a finite range with low <= high (both positive for log_uniform),
  // and grid values that a draw could give.
  void check() const {
    const auto refuse = [this](const std::string& rule) {
      throw SearchSpaceError("search space: parameter '" + name + "': " + rule);
    };
    if (name.empty()) throw SearchSpaceError("search space: a parameter has no name");
    const auto finite = [](double value) { return std::isfinite(value); };
    if (kind == Kind::choice) {
      if (choices.empty()) refuse("a choice needs at least one value");
      if (!std::all_of(choices.begin(), choices.end(), finite)) refuse("a choice's values must be finite");
    } else {
      const std::string range = detail::text_of("[", low, ", ", high, "]");
      if (!finite(low) || !finite(high)) refuse("the range " + range + " must be finite");
      if (low > high) refuse("the range " + range + " has its low bound above its high bound");
      if (kind == Kind::log_uniform && !(low > 0)) refuse("a log-uniform range needs positive bounds, got " + range);
      if (grid.empty() && grid_points == 0) refuse("a grid needs at least one point");
    }
    for (const double value : grid)
      if (!contains(value))
        refuse(detail::text_of("grid value ", value,
                               kind == Kind::choice ? " is not one of the choices" : " is outside the range"));
  }

  // Whether a draw could give `value`.
  bool contains(double value) const noexcept {
    if (kind == Kind::choice) return std::find(choices.begin(), choices.end(), value) != choices.end();
    return value >= low && value <= high;
  }

  // The values a grid search enumerates (see `grid`). Requires check() to pass.
  std::vector<double> grid_values() const {
    if (!grid.empty()) return grid;
    if (kind == Kind::choice) return choices;
    if (grid_points == 1 || low == high) return {kind == Kind::log_uniform ? std::sqrt(low * high) : (low + high) / 2};
    std::vector<double> values(grid_points);
    for (std::size_t i = 0; i < grid_points; ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(grid_points - 1);
      values[i] = kind == Kind::log_uniform ? std::exp(std::log(low) + t * (std::log(high) - std::log(low)))
                                            : low + t * (high - low);
    }
    values.front() = low;  // exactly the bounds, whatever exp(log(x)) rounds to
    values.back() = high;
    return values;
  }

  // One draw. Requires check() to pass.
  double sample(Rng& rng) const noexcept {
    if (kind == Kind::choice) return choices[rng.below(choices.size())];
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1), 53 bits
    if (kind == Kind::uniform) return std::min(high, low + u * (high - low));
    return std::clamp(std::exp(std::log(low) + u * (std::log(high) - std::log(low))), low, high);
  }
};

// One value for each parameter of a space, in the space's order.
struct Setting {
  std::string name;
  double value = 0;
  friend bool operator==(const Setting&, const Setting&) = default;
};

struct Configuration {
  std::vector<Setting> settings;

  // The value of the parameter `name`; throws std::out_of_range if there is none.
  double operator[](std::string_view name) const {
    for (const Setting& setting : settings)
      if (setting.name == name) return setting.value;
    throw std::out_of_range(detail::text_of("configuration: no parameter '", name, "'"));
  }
  friend bool operator==(const Configuration&, const Configuration&) = default;
};

class SearchSpace {
 public:
  SearchSpace() = default;
  SearchSpace(std::initializer_list<Parameter> parameters) {
    for (const Parameter& parameter : parameters) add(parameter);
  }

  // Adds a parameter after check() and a test that its name is new; throws SearchSpaceError.
  SearchSpace& add(Parameter parameter) {
    parameter.check();
    for (const Parameter& other : parameters_)
      if (other.name == parameter.name)
        throw SearchSpaceError("search space: parameter '" + parameter.name + "' is listed twice");
    parameters_.push_back(std::move(parameter));
    return *this;
  }

  const std::vector<Parameter>& parameters() const noexcept { return parameters_; }

  // The number of grid configurations, the product of each parameter's grid size; throws
  // SearchSpaceError for an empty space or a product past `limit`.
  std::size_t grid_size(std::size_t limit = 1'000'000) const {
    require_parameters();
    std::size_t size = 1;
    for (const Parameter& parameter : parameters_) {
      const std::size_t points = parameter.grid_values().size();
      if (size > limit / points)
        throw SearchSpaceError(detail::text_of("search space: the grid has more than ", limit, " configurations"));
      size *= points;
    }
    return size;
  }

  // The cartesian product of the grid values, as nested loops in the space's order would give it:
  // the first parameter varies slowest, the last fastest.
  std::vector<Configuration> grid(std::size_t limit = 1'000'000) const {
    const std::size_t size = grid_size(limit);
    std::vector<std::vector<double>> values;
    for (const Parameter& parameter : parameters_) values.push_back(parameter.grid_values());
    std::vector<Configuration> configurations(size);
    for (std::size_t index = 0; index < size; ++index) {
      std::size_t rest = index;
      std::vector<Setting> settings(parameters_.size());
      for (std::size_t p = parameters_.size(); p-- > 0;) {
        settings[p] = {parameters_[p].name, values[p][rest % values[p].size()]};
        rest /= values[p].size();
      }
      configurations[index].settings = std::move(settings);
    }
    return configurations;
  }

  // Random configuration `index` of a search seeded with `seed`: each parameter drawn in turn
  // from the index's own stream.
  Configuration sample(std::uint64_t seed, std::size_t index) const {
    require_parameters();
    Rng rng(derive_seed(seed, index));
    Configuration configuration;
    for (const Parameter& parameter : parameters_)
      configuration.settings.push_back({parameter.name, parameter.sample(rng)});
    return configuration;
  }

  // The first `count` configurations of a random search seeded with `seed`.
  std::vector<Configuration> random(std::size_t count, std::uint64_t seed) const {
    std::vector<Configuration> configurations;
    for (std::size_t index = 0; index < count; ++index) configurations.push_back(sample(seed, index));
    return configurations;
  }

 private:
  void require_parameters() const {
    if (parameters_.empty()) throw SearchSpaceError("search space: there are no parameters to search");
  }

  std::vector<Parameter> parameters_;
};

// One trained and scored configuration.
struct Trial {
  std::size_t id = 0;        // the order in which trials ran, from 0; the last tie-break
  std::string strategy;      // how the configuration was chosen: "grid", "random", "architecture", ...
  std::string architecture;  // the network's name
  Configuration configuration;
  double score = std::numeric_limits<double>::quiet_NaN();  // higher is better (validation accuracy); NaN: failed
  double loss = std::numeric_limits<double>::quiet_NaN();   // lower is better (validation loss); the first tie-break
  double seconds = 0;
};

// Whether trial a ranks before trial b: the higher score, then the lower loss, then the earlier
// id. A NaN score (a failed trial) ranks after every number, a NaN loss after every loss.
inline bool ranks_before(const Trial& a, const Trial& b) noexcept {
  const auto before = [](double x, double y, bool higher_first) {
    if (std::isnan(x) || std::isnan(y)) return !std::isnan(x) && std::isnan(y);
    return higher_first ? x > y : x < y;
  };
  if (before(a.score, b.score, true)) return true;
  if (before(b.score, a.score, true)) return false;
  if (before(a.loss, b.loss, false)) return true;
  if (before(b.loss, a.loss, false)) return false;
  return a.id < b.id;
}

// The trials best first (see ranks_before): the same order whatever order they come in.
inline std::vector<Trial> rank_trials(std::vector<Trial> trials) {
  std::sort(trials.begin(), trials.end(), ranks_before);
  return trials;
}

// A list of types, such as networks, searched as one more axis: every type is instantiated at
// compile time, and a run picks one by its index.
template <class... Types>
struct Architectures {
  static_assert(sizeof...(Types) > 0, "Architectures: list at least one type");
  static constexpr std::size_t size = sizeof...(Types);

  // Calls use(index, std::type_identity<Type>{}) for each type in order.
  template <class Use>
  static void for_each(Use&& use) {
    [&]<std::size_t... I>(std::index_sequence<I...>) { (use(I, std::type_identity<Types>{}), ...); }
    (std::make_index_sequence<size>{});
  }

  // use(std::type_identity<Type>{}) for the type at `index`; throws std::out_of_range past the
  // end. Every call of `use` must return the same type.
  template <class Use>
  static decltype(auto) visit(std::size_t index, Use&& use) {
    if (index >= size)
      throw std::out_of_range(detail::text_of("Architectures: index ", index, " is past the ", size, " types"));
    return visit_from<0, Types...>(index, use);
  }

 private:
  template <std::size_t I, class Type, class... Rest, class Use>
  static decltype(auto) visit_from(std::size_t index, Use& use) {
    if constexpr (sizeof...(Rest) == 0) {
      return use(std::type_identity<Type>{});
    } else {
      if (index == I) return use(std::type_identity<Type>{});
      return visit_from<I + 1, Rest...>(index, use);
    }
  }
};

}  // namespace ctnn
