// bench/compare's table: reads the Google Benchmark JSON of net_bench and of each peer program
// (bench/peers/*_lenet.cpp), matches the LeNet-5 cases by name and prints, per case, ctnn's
// images/s, GFLOP/s and %peak beside each peer's images/s and the ratio ctnn / peer, then the
// cores each peer kept busy and the throughput targets. Writes the same figures to compare.json
// and compare.csv. With repetitions, every figure is the median of the repetitions.
#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/io/atomic_file.hpp>

namespace {

using nlohmann::json;

// One case of one library.
struct Measurement {
  double images_per_second = 0;
  double gflops = 0;
  double percent_peak = 0;
  std::optional<double> cores;  // process CPU time / real time; the peers report it
  std::string skipped;          // why the library skipped the case; empty when it ran
};

// One library: its cases by name ("train_step/batch:64/threads:1"), in the order of its file.
struct Library {
  std::string name;
  std::string absent;  // for a library without results: "not installed" or "not built"
  std::string remedy;  // and the command that installs it, or why it was not built
  json context = json::object();
  std::vector<std::string> case_order;
  std::map<std::string, Measurement> cases;

  bool present() const noexcept { return absent.empty(); }
};

// The least ratio ctnn / peer of training images/s at batch 64.
struct Target {
  std::string peer;
  double least_ratio;
};

struct Comparison {
  Library ctnn;
  std::vector<Library> peers;
  std::vector<Target> targets;
  std::vector<std::string> keys;  // every case, in net_bench's order
};

const std::vector<std::string> target_cases = {"train_step/batch:64/threads:1", "train_step/batch:64/threads:2"};

constexpr std::string_view case_prefix = "lenet/";
constexpr std::string_view time_suffix = "/real_time";

// "lenet/train_step/batch:64/threads:1/real_time" -> "train_step/batch:64/threads:1"; empty for
// any other net's cases.
std::string case_name(std::string run_name) {
  if (!run_name.starts_with(case_prefix)) return {};
  run_name.erase(0, case_prefix.size());
  if (run_name.ends_with(time_suffix)) run_name.erase(run_name.size() - time_suffix.size());
  return run_name;
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t middle = values.size() / 2;
  return values.size() % 2 == 1 ? values[middle] : 0.5 * (values[middle - 1] + values[middle]);
}

double counter(const json& run, const char* name, const std::filesystem::path& path) {
  const auto found = run.find(name);
  if (found == run.end() || !found->is_number())
    throw std::runtime_error(path.string() + ": case " + run.value("name", std::string("?")) + " has no counter " +
                             name);
  return found->get<double>();
}

// Reads a Google Benchmark JSON file. The repetitions of a case are reduced to their median; a
// case whose runs stopped with SkipWithError keeps the message.
Library read_library(const std::string& name, const std::filesystem::path& path) {
  std::ifstream file(path);
  if (!file) throw std::runtime_error(path.string() + ": cannot be read");
  json document;
  try {
    document = json::parse(file);
  } catch (const json::exception& error) {
    throw std::runtime_error(path.string() + ": not a JSON file (" + error.what() + ")");
  }
  if (!document.is_object() || !document.contains("benchmarks") || !document["benchmarks"].is_array())
    throw std::runtime_error(path.string() + ": not Google Benchmark's JSON (no \"benchmarks\" array)");

  Library library;
  library.name = name;
  if (document.contains("context") && document["context"].is_object()) library.context = document["context"];
  std::map<std::string, std::vector<const json*>> repetitions;
  for (const json& run : document["benchmarks"]) {
    if (!run.is_object() || run.value("run_type", std::string("iteration")) != "iteration") continue;
    const std::string key = case_name(run.value("run_name", run.value("name", std::string())));
    if (key.empty()) continue;
    if (!repetitions.contains(key)) library.case_order.push_back(key);
    repetitions[key].push_back(&run);
  }
  for (const auto& [key, runs] : repetitions) {
    Measurement& measurement = library.cases[key];
    std::vector<double> images, gflops, peak, cores;
    for (const json* run : runs) {
      if (run->value("error_occurred", false)) {
        measurement.skipped = run->value("error_message", std::string("skipped"));
        continue;
      }
      images.push_back(counter(*run, "images/s", path));
      gflops.push_back(counter(*run, "GFLOP/s", path));
      peak.push_back(counter(*run, "%peak", path));
      if (run->contains("cores")) cores.push_back(counter(*run, "cores", path));
    }
    if (images.empty()) continue;
    measurement.skipped.clear();
    measurement.images_per_second = median(images);
    measurement.gflops = median(gflops);
    measurement.percent_peak = median(peak);
    if (!cores.empty()) measurement.cores = median(cores);
  }
  return library;
}

// "NAME=VALUE" -> {NAME, VALUE}.
std::pair<std::string, std::string> split_assignment(const std::string& text, const char* option) {
  const auto equals = text.find('=');
  if (equals == std::string::npos || equals == 0)
    throw std::runtime_error(std::string(option) + " expects NAME=VALUE, not \"" + text + "\"");
  return {text.substr(0, equals), text.substr(equals + 1)};
}

// --peer NAME=FILE reads FILE; NAME=missing:COMMAND stands for a library that is not installed
// and NAME=unbuilt:REASON for one that is installed but was not built.
Library peer_from_option(const std::string& option) {
  const auto [name, source] = split_assignment(option, "--peer");
  Library absent;
  absent.name = name;
  for (const auto& [prefix, status] : {std::pair{"missing:", "not installed"}, std::pair{"unbuilt:", "not built"}})
    if (source.starts_with(prefix)) {
      absent.absent = status;
      absent.remedy = source.substr(std::string_view(prefix).size());
    }
  return absent.present() ? read_library(name, source) : absent;
}

Target target_from_option(const std::string& option) {
  const auto [peer, value] = split_assignment(option, "--target");
  try {
    std::size_t used = 0;
    const double least_ratio = std::stod(value, &used);
    if (used == value.size() && least_ratio > 0) return {peer, least_ratio};
  } catch (const std::exception&) {
  }
  throw std::runtime_error("--target " + option + ": the ratio must be a positive number");
}

const Measurement* find_case(const Library& library, const std::string& key) {
  const auto found = library.cases.find(key);
  return found == library.cases.end() || !found->second.skipped.empty() ? nullptr : &found->second;
}

// The ratio ctnn / peer of images/s, when both ran the case.
std::optional<double> ratio(const Comparison& comparison, const Library& peer, const std::string& key) {
  const Measurement* ours = find_case(comparison.ctnn, key);
  const Measurement* theirs = find_case(peer, key);
  if (ours == nullptr || theirs == nullptr || theirs->images_per_second <= 0) return std::nullopt;
  return ours->images_per_second / theirs->images_per_second;
}

// Why a peer has no figure for a case ("not installed", "skipped", "not run"); empty when it has one.
std::string missing_figure(const Library& peer, const std::string& key) {
  if (!peer.present()) return peer.absent;
  const auto found = peer.cases.find(key);
  if (found == peer.cases.end()) return "not run";
  return found->second.skipped.empty() ? "" : "skipped";
}

// 12345.6 -> "12,346"; below 100, one decimal.
std::string format_rate(double value) {
  if (value < 100) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f", value);
    return text;
  }
  std::string digits = std::to_string(static_cast<long long>(value + 0.5));
  for (int position = static_cast<int>(digits.size()) - 3; position > 0; position -= 3)
    digits.insert(static_cast<std::size_t>(position), ",");
  return digits;
}

std::string format_fixed(double value, int decimals, const char* suffix = "") {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f%s", decimals, value, suffix);
  return text;
}

// A context entry (Google Benchmark's machine description, the peer's library and BLAS) as text.
std::string context_text(const json& context, const char* key) {
  const auto found = context.find(key);
  if (found == context.end()) return "?";
  return found->is_string() ? found->get<std::string>() : found->dump();
}

class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

  // The first column left-aligned, the others right-aligned, with a rule under the header.
  std::string str() const {
    std::vector<std::size_t> widths(rows_.front().size(), 0);
    for (const auto& row : rows_)
      for (std::size_t column = 0; column < row.size(); ++column)
        widths[column] = std::max(widths[column], row[column].size());
    std::ostringstream out;
    for (std::size_t index = 0; index < rows_.size(); ++index) {
      const auto& row = rows_[index];
      for (std::size_t column = 0; column < row.size(); ++column) {
        const std::string padding(widths[column] - row[column].size(), ' ');
        out << (column == 0 ? row[column] + padding : " | " + padding + row[column]);
      }
      out << '\n';
      if (index == 0) {
        for (std::size_t column = 0; column < widths.size(); ++column)
          out << (column == 0 ? "" : "-|-") << std::string(widths[column], '-');
        out << '\n';
      }
    }
    return out.str();
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string figures_table(const Comparison& comparison) {
  std::vector<std::string> header = {"case", "ctnn images/s", "GFLOP/s", "%peak"};
  for (const auto& peer : comparison.peers) {
    header.push_back(peer.name + " images/s");
    header.push_back("ctnn/" + peer.name);
  }
  Table table(header);
  for (const auto& key : comparison.keys) {
    const Measurement* ours = find_case(comparison.ctnn, key);
    std::vector<std::string> row = {key, ours ? format_rate(ours->images_per_second) : "-",
                                    ours ? format_fixed(ours->gflops, 1) : "-",
                                    ours ? format_fixed(ours->percent_peak, 1) : "-"};
    for (const auto& peer : comparison.peers) {
      const Measurement* theirs = find_case(peer, key);
      const auto ctnn_over_peer = ratio(comparison, peer, key);
      row.push_back(theirs ? format_rate(theirs->images_per_second) : missing_figure(peer, key));
      row.push_back(ctnn_over_peer ? format_fixed(*ctnn_over_peer, 2, "x") : "");
    }
    table.add(row);
  }
  return table.str();
}

std::string cores_table(const Comparison& comparison) {
  std::vector<std::string> header = {"case"};
  for (const auto& peer : comparison.peers) header.push_back(peer.name);
  Table table(header);
  for (const auto& key : comparison.keys) {
    std::vector<std::string> row = {key};
    for (const auto& peer : comparison.peers) {
      const Measurement* theirs = find_case(peer, key);
      row.push_back(!theirs ? missing_figure(peer, key) : theirs->cores ? format_fixed(*theirs->cores, 2) : "?");
    }
    table.add(row);
  }
  return table.str();
}

std::string verdict(const std::optional<double>& measured, double least_ratio) {
  return !measured ? "not measured" : *measured >= least_ratio ? "met" : "NOT met";
}

std::string targets_table(const Comparison& comparison) {
  std::vector<std::string> header = {"case"};
  for (const auto& target : comparison.targets)
    header.push_back("ctnn/" + target.peer + " >= " + format_fixed(target.least_ratio, 0));
  Table table(header);
  for (const auto& key : target_cases) {
    std::vector<std::string> row = {key};
    for (const auto& target : comparison.targets) {
      std::optional<double> measured;
      for (const auto& peer : comparison.peers)
        if (peer.name == target.peer) measured = ratio(comparison, peer, key);
      const std::string text = verdict(measured, target.least_ratio);
      row.push_back(measured ? format_fixed(*measured, 2, "x ") + text : text);
    }
    table.add(row);
  }
  return table.str();
}

std::string libraries_text(const Comparison& comparison) {
  std::ostringstream out;
  const auto describe = [&out](const Library& library, const std::string& what) {
    out << "  " << library.name << ": ";
    if (!library.present()) {
      out << library.absent << " (" << library.remedy << ")\n";
      return;
    }
    out << what << '\n';
    std::map<std::string, std::size_t> reasons;
    for (const auto& [key, measurement] : library.cases)
      if (!measurement.skipped.empty()) ++reasons[measurement.skipped];
    for (const auto& [reason, count] : reasons)
      out << "    skipped " << count << (count == 1 ? " case: " : " cases: ") << reason << '\n';
    if (context_text(library.context, "blas").starts_with("netlib reference BLAS"))
      out << "    its matrix products run in netlib's unoptimized reference BLAS, which Debian installs unless "
             "an optimized one is (Debian's libtorch recommends OpenBLAS: apt-get install libopenblas0-pthread)\n";
  };
  describe(comparison.ctnn, "net_bench");
  for (const auto& peer : comparison.peers)
    describe(peer, context_text(peer.context, "library") + ", BLAS " + context_text(peer.context, "blas"));
  const json& context = comparison.ctnn.context;
  out << "Machine: " << context_text(context, "host_name") << ", " << context_text(context, "num_cpus") << " CPUs at "
      << context_text(context, "mhz_per_cpu") << " MHz; %peak is of the FMA peak of T threads.\n";
  return out.str();
}

json report_json(const Comparison& comparison) {
  const auto figures = [](const Measurement& measurement) {
    json entry = {{"images_per_second", measurement.images_per_second},
                  {"gflops", measurement.gflops},
                  {"percent_peak", measurement.percent_peak}};
    if (measurement.cores) entry["cores"] = *measurement.cores;
    return entry;
  };
  json cases = json::array();
  for (const auto& key : comparison.keys) {
    json entry = {{"case", key}, {"peers", json::object()}};
    if (const Measurement* ours = find_case(comparison.ctnn, key)) entry["ctnn"] = figures(*ours);
    for (const auto& peer : comparison.peers) {
      const Measurement* theirs = find_case(peer, key);
      json cell = theirs ? figures(*theirs) : json{{"status", missing_figure(peer, key)}};
      if (theirs) cell["status"] = "ok";
      if (const auto found = peer.cases.find(key); found != peer.cases.end() && !found->second.skipped.empty())
        cell["reason"] = found->second.skipped;
      if (const auto ctnn_over_peer = ratio(comparison, peer, key)) cell["ctnn_over_peer"] = *ctnn_over_peer;
      entry["peers"][peer.name] = cell;
    }
    cases.push_back(entry);
  }
  json targets = json::array();
  for (const auto& key : target_cases)
    for (const auto& target : comparison.targets) {
      std::optional<double> measured;
      for (const auto& peer : comparison.peers)
        if (peer.name == target.peer) measured = ratio(comparison, peer, key);
      json entry = {{"case", key},
                    {"peer", target.peer},
                    {"least_ratio", target.least_ratio},
                    {"verdict", verdict(measured, target.least_ratio)}};
      if (measured) entry["ratio"] = *measured;
      targets.push_back(entry);
    }
  const auto library_json = [](const Library& library) {
    json entry = {{"name", library.name}};
    if (library.present())
      entry["context"] = library.context;
    else
      entry.update({{"status", library.absent}, {"remedy", library.remedy}});
    return entry;
  };
  json libraries = json::array({library_json(comparison.ctnn)});
  for (const auto& peer : comparison.peers) libraries.push_back(library_json(peer));
  return {{"cases", cases}, {"targets", targets}, {"libraries", libraries}};
}

// One row per case: ctnn's figures, then per peer its status, images/s, cores and ctnn / peer.
std::string report_csv(const Comparison& comparison) {
  std::ostringstream out;
  const auto number = [](std::optional<double> value) { return value ? format_fixed(*value, 4) : std::string(); };
  out << "case,ctnn_images_per_second,ctnn_gflops,ctnn_percent_peak";
  for (const auto& peer : comparison.peers)
    for (const char* column : {"_status", "_images_per_second", "_cores"}) out << ',' << peer.name << column;
  for (const auto& peer : comparison.peers) out << ",ctnn_over_" << peer.name;
  out << '\n';
  for (const auto& key : comparison.keys) {
    const Measurement* ours = find_case(comparison.ctnn, key);
    out << key;
    for (const auto field : {&Measurement::images_per_second, &Measurement::gflops, &Measurement::percent_peak})
      out << ',' << (ours ? number(ours->*field) : "");
    for (const auto& peer : comparison.peers) {
      const Measurement* theirs = find_case(peer, key);
      out << ',' << (theirs ? "ok" : missing_figure(peer, key)) << ','
          << (theirs ? number(theirs->images_per_second) : "") << ',' << (theirs ? number(theirs->cores) : "");
    }
    for (const auto& peer : comparison.peers) out << ',' << number(ratio(comparison, peer, key));
    out << '\n';
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) try {
  CLI::App app{
      "Prints LeNet-5's images/s, GFLOP/s and %peak in ctnn beside the same network in other libraries "
      "(Google Benchmark JSON of net_bench and bench/peers/*_lenet), with the ratios ctnn / peer, and "
      "writes compare.json and compare.csv. bench/compare runs the programs and then this."};
  std::filesystem::path ctnn_path = "build/release/compare/ctnn.json";
  std::filesystem::path output = "build/release/compare";
  std::vector<std::string> peer_options, target_options;
  app.add_option("--ctnn", ctnn_path, "net_bench's JSON (--benchmark_out_format=json)")->capture_default_str();
  app.add_option("--peer", peer_options,
                 "NAME=FILE: a peer's JSON, one column per peer in this order; NAME=missing:COMMAND for a "
                 "peer that is not installed (COMMAND installs it), NAME=unbuilt:REASON for one not built");
  app.add_option("--target", target_options,
                 "NAME=RATIO: the least ratio ctnn / NAME of training images/s at batch 64, 1 and 2 threads");
  app.add_option("--output", output, "folder for compare.json and compare.csv")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  Comparison comparison{.ctnn = read_library("ctnn", ctnn_path), .peers = {}, .targets = {}, .keys = {}};
  for (const auto& option : peer_options) comparison.peers.push_back(peer_from_option(option));
  for (const auto& option : target_options) comparison.targets.push_back(target_from_option(option));
  comparison.keys = comparison.ctnn.case_order;
  for (const auto& peer : comparison.peers)
    for (const auto& key : peer.case_order)
      if (std::find(comparison.keys.begin(), comparison.keys.end(), key) == comparison.keys.end())
        comparison.keys.push_back(key);
  if (comparison.keys.empty()) throw std::runtime_error(ctnn_path.string() + ": no lenet/ case");

  std::ostringstream text;
  text << "LeNet-5 of the design card in ctnn and in other libraries: same network, batch and thread count; "
          "real time.\n\n"
       << figures_table(comparison) << '\n';
  if (!comparison.peers.empty())
    text << "Cores each peer kept busy (its process CPU time / real time):\n\n" << cores_table(comparison) << '\n';
  if (!comparison.targets.empty())
    text << "Targets (training throughput at batch 64, measured side by side):\n\n"
         << targets_table(comparison) << '\n';
  text << "Libraries:\n" << libraries_text(comparison);
  std::fputs(text.str().c_str(), stdout);

  std::filesystem::create_directories(output);
  ctnn::write_file_atomically(output / "compare.json", report_json(comparison).dump(2) + "\n");
  ctnn::write_file_atomically(output / "compare.csv", report_csv(comparison));
  std::printf("\nWrote %s and %s\n", (output / "compare.json").c_str(), (output / "compare.csv").c_str());
  return 0;
} catch (const std::exception& error) {
  std::fprintf(stderr, "ctnn_compare_table: %s\n", error.what());
  return 1;
}
