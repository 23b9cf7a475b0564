// Knowledge distillation (Hinton, Vinyals & Dean 2015): a student net learns from a teacher's
// probabilities softened by a temperature as well as from the labels. The loss and its gradient
// are SoftmaxCrossEntropy's soft-target form (layers/softmax_cross_entropy.hpp); this header runs
// the teacher on each training batch and hands its logits to the student's loss.
//
// Usage, with the Trainer's per-batch hook:
//   Distillation distill(teacher, workspace, {.temperature = 4, .alpha = 0.9f}, student_norm, teacher_norm);
//   Trainer(student, optimizer, workspace, options).run(train, validation, student_norm, distill);
// The teacher sees the batch the student sees (augmentation included), in inference mode, through
// its own workspace of TeacherBatch images; the student's batch is split into as many as needed.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include <ctnn/core/layer.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>

namespace ctnn {

struct DistillationOptions {
  // Softens both distributions. On MNIST, Hinton et al. found any T above 8 alike for students with
  // 300 or more hidden units, and 2.5 to 4 best for much smaller ones (30 units).
  float temperature = 4.0f;
  float alpha = 0.9f;  // weight of the teacher's term; 1 - alpha goes to the labels
};

template <class TeacherNet, class StudentWorkspace, std::size_t TeacherBatch = 64>
class Distillation {
  static_assert(std::is_same_v<typename TeacherNet::in_shape, typename StudentWorkspace::in_shape>,
                "Distillation: the teacher must read the student's input shape");
  static_assert(TeacherNet::classes == StudentWorkspace::out_shape::size,
                "Distillation: the teacher and the student must have the same number of classes");

 public:
  // Attaches soft targets to the student workspace's loss until destruction. The normalizations
  // are those each net was trained with: the teacher's inputs are re-normalized from the student's.
  Distillation(TeacherNet& teacher, StudentWorkspace& student_workspace, DistillationOptions options,
               Normalization student_normalization, Normalization teacher_normalization)
      : teacher_(teacher),
        student_workspace_(student_workspace),
        scale_(student_normalization.stddev / teacher_normalization.stddev),
        shift_((student_normalization.mean - teacher_normalization.mean) / teacher_normalization.stddev),
        same_normalization_(student_normalization.mean == teacher_normalization.mean &&
                            student_normalization.stddev == teacher_normalization.stddev) {
    if (!(options.temperature > 0))
      throw std::invalid_argument("distillation temperature " + std::to_string(options.temperature) +
                                  " must be positive");
    if (!(options.alpha >= 0 && options.alpha <= 1))
      throw std::invalid_argument("distillation alpha " + std::to_string(options.alpha) + " must be in [0, 1]");
    targets_.temperature = options.temperature;
    targets_.alpha = options.alpha;
    targets_.classes = TeacherNet::classes;
    targets_.student_logits.resize(StudentWorkspace::batch_size);
    targets_.teacher_logits.resize(StudentWorkspace::batch_size * TeacherNet::classes);
    targets_.pending.assign(StudentWorkspace::batch_size, 0);
    for (std::size_t b = 0; b < StudentWorkspace::batch_size; ++b)
      targets_.student_logits[b] = student_workspace.output(b).data();
    student_workspace_.loss.soft_targets = &targets_;
  }
  ~Distillation() { student_workspace_.loss.soft_targets = nullptr; }
  Distillation(const Distillation&) = delete;
  Distillation& operator=(const Distillation&) = delete;

  // Computes the teacher's logits for the batch loaded in ws (ws.count images) and arms them for
  // the next forward and backward: Trainer::run's prepare_batch(ws, epochs_done, seed).
  void operator()(StudentWorkspace& ws, double = 0, std::uint64_t = 0) {
    if (&ws != &student_workspace_)
      throw std::invalid_argument("Distillation: called with another workspace than the one it serves");
    auto& teacher_ws = teacher_workspace_;
    constexpr std::size_t image_size = StudentWorkspace::in_shape::size;
    constexpr std::size_t classes = TeacherNet::classes;
    for (std::size_t first = 0; first < ws.count; first += TeacherBatch) {
      teacher_ws.count = std::min(TeacherBatch, ws.count - first);
      for (std::size_t b = 0; b < teacher_ws.count; ++b) {
        const auto& x = ws.input(first + b);
        auto& teacher_x = teacher_ws.input(b);
        for (std::size_t i = 0; i < image_size; ++i) teacher_x[i] = same_normalization_ ? x[i] : x[i] * scale_ + shift_;
        teacher_ws.labels[b] = ws.labels[first + b];
      }
      teacher_.forward(teacher_ws, Mode::eval);
      for (std::size_t b = 0; b < teacher_ws.count; ++b)
        std::copy_n(teacher_ws.output(b).data(), classes, targets_.teacher_logits.data() + (first + b) * classes);
    }
    std::fill(targets_.pending.begin(), targets_.pending.end(), 0);
    std::fill_n(targets_.pending.begin(), ws.count, 1);
  }

  const SoftTargets& targets() const noexcept { return targets_; }

 private:
  TeacherNet& teacher_;
  StudentWorkspace& student_workspace_;
  Workspace<TeacherNet, TeacherBatch> teacher_workspace_;
  SoftTargets targets_;
  float scale_, shift_;  // teacher input = student input * scale + shift
  bool same_normalization_;
};

}  // namespace ctnn
