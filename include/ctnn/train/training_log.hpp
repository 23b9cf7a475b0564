// The per-epoch training log, written after every epoch as CSV (one row per epoch) and as JSON
// (the same rows plus the best epoch), each replaced atomically.
#pragma once

#include <cstddef>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctnn/io/atomic_file.hpp>

namespace ctnn {

struct EpochRecord {
  std::size_t epoch = 0;  // 1-based
  float learning_rate = 0;
  float train_loss = 0, train_accuracy = 0;
  float validation_loss = 0, validation_accuracy = 0;
  double seconds = 0;
};

inline nlohmann::json to_json(const EpochRecord& record) {
  return {{"epoch", record.epoch},
          {"learning_rate", record.learning_rate},
          {"train_loss", record.train_loss},
          {"train_accuracy", record.train_accuracy},
          {"validation_loss", record.validation_loss},
          {"validation_accuracy", record.validation_accuracy},
          {"seconds", record.seconds}};
}

inline EpochRecord epoch_record_from_json(const nlohmann::json& json) {
  EpochRecord record;
  record.epoch = json.at("epoch").get<std::size_t>();
  record.learning_rate = json.at("learning_rate").get<float>();
  record.train_loss = json.at("train_loss").get<float>();
  record.train_accuracy = json.at("train_accuracy").get<float>();
  record.validation_loss = json.at("validation_loss").get<float>();
  record.validation_accuracy = json.at("validation_accuracy").get<float>();
  record.seconds = json.at("seconds").get<double>();
  return record;
}

inline void write_log_csv(const std::filesystem::path& path, const std::vector<EpochRecord>& history) {
  std::ostringstream out;
  out.precision(9);
  out << "epoch,learning_rate,train_loss,train_accuracy,validation_loss,validation_accuracy,seconds\n";
  for (const auto& r : history)
    out << r.epoch << ',' << r.learning_rate << ',' << r.train_loss << ',' << r.train_accuracy << ','
        << r.validation_loss << ',' << r.validation_accuracy << ',' << r.seconds << '\n';
  write_file_atomically(path, out.str());
}

inline void write_log_json(const std::filesystem::path& path, const std::vector<EpochRecord>& history,
                           std::size_t best_epoch) {
  nlohmann::json epochs = nlohmann::json::array();
  for (const auto& record : history) epochs.push_back(to_json(record));
  write_file_atomically(path, nlohmann::json{{"best_epoch", best_epoch}, {"epochs", epochs}}.dump(2) + "\n");
}

}  // namespace ctnn
