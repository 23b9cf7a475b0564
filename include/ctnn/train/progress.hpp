// The live progress line of a training run (epoch, batch, loss, accuracy, images/s, ETA), redrawn
// in place at most five times a second, and only when enabled (on a terminal); plus the one line
// per epoch that always goes to standard output.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>

#include <ctnn/train/training_log.hpp>

namespace ctnn {

class Progress {
 public:
  explicit Progress(bool enabled) noexcept : enabled_(enabled) {}

  void update(std::size_t epoch, std::size_t epochs, std::size_t step, std::size_t steps, float loss, float accuracy,
              std::size_t images, std::chrono::steady_clock::time_point epoch_start) {
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (step != steps && now - last_draw_ < std::chrono::milliseconds(200)) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - epoch_start).count();
    const double rate = elapsed > 0 ? static_cast<double>(images) / elapsed : 0;
    const double remaining = step ? elapsed * static_cast<double>(steps - step) / static_cast<double>(step) : 0;
    std::fprintf(stderr, "\r\033[Kepoch %zu/%zu  batch %zu/%zu  loss %.4f  acc %.2f%%  %.0f img/s  ETA %.0fs", epoch,
                 epochs, step, steps, loss, 100.0 * accuracy, rate, remaining);
    std::fflush(stderr);
    drawn_ = true;
  }

  void finish() {
    if (!drawn_) return;
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_draw_{};
};

inline void print_epoch(const EpochRecord& record, std::size_t epochs) {
  std::printf("epoch %3zu/%zu  lr %.5f  train loss %.4f acc %.2f%%  validation loss %.4f acc %.2f%%  %.1fs\n",
              record.epoch, epochs, record.learning_rate, record.train_loss, 100.0 * record.train_accuracy,
              record.validation_loss, 100.0 * record.validation_accuracy, record.seconds);
  std::fflush(stdout);
}

}  // namespace ctnn
