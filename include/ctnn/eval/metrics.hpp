// Classification metrics over a test set: confusion matrix, per-class precision, recall and F1,
// their macro and weighted means, accuracy, top-k accuracy, one-vs-rest ROC curves and AUC, and
// expected calibration error with its reliability bins.
// Inputs are plain arrays, as ctnn::evaluate returns them: one true label and one predicted class
// per sample, and `classes` probabilities per sample, back to back (sample i's are
// probabilities[i * classes + c]). Nothing here depends on a Net.
// Zero denominators: a rate whose denominator is zero (precision of a class never predicted,
// recall of a class with no example, any mean over no samples) is 0, as scikit-learn's
// zero_division=0. The one exception is AUC, where 0 would read as "perfectly wrong": a class
// with no positive or no negative sample has no ROC curve and its AUC is NaN.
// Every function checks its inputs and throws std::invalid_argument naming what is wrong.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ctnn {

namespace detail {

inline double ratio_or_zero(double numerator, double denominator) noexcept {
  return denominator > 0 ? numerator / denominator : 0.0;
}

inline void check_classes(std::size_t classes) {
  if (classes == 0) throw std::invalid_argument("metrics: the number of classes must be positive");
}

inline void check_class_indices(std::span<const std::uint8_t> indices, std::size_t classes, const char* what) {
  for (std::size_t i = 0; i < indices.size(); ++i)
    if (indices[i] >= classes)
      throw std::invalid_argument(std::string("metrics: ") + what + " " + std::to_string(indices[i]) + " of sample " +
                                  std::to_string(i) + " is not a class (0.." + std::to_string(classes - 1) + ")");
}

inline void check_labels(std::span<const std::uint8_t> labels, std::size_t classes) {
  check_classes(classes);
  check_class_indices(labels, classes, "label");
}

inline void check_predictions(std::span<const std::uint8_t> labels, std::span<const std::uint8_t> predictions,
                              std::size_t classes) {
  check_labels(labels, classes);
  if (predictions.size() != labels.size())
    throw std::invalid_argument("metrics: " + std::to_string(predictions.size()) + " predictions for " +
                                std::to_string(labels.size()) + " labels");
  check_class_indices(predictions, classes, "prediction");
}

// Scores must be comparable (a NaN would break every sort and comparison below).
inline void check_probabilities(std::span<const std::uint8_t> labels, std::span<const float> probabilities,
                                std::size_t classes) {
  check_labels(labels, classes);
  if (probabilities.size() != labels.size() * classes)
    throw std::invalid_argument("metrics: " + std::to_string(probabilities.size()) + " probabilities for " +
                                std::to_string(labels.size()) + " samples of " + std::to_string(classes) +
                                " classes (expected " + std::to_string(labels.size() * classes) + ")");
  for (std::size_t i = 0; i < probabilities.size(); ++i)
    if (!std::isfinite(probabilities[i]))
      throw std::invalid_argument("metrics: the probability of class " + std::to_string(i % classes) + " for sample " +
                                  std::to_string(i / classes) + " is not a finite number");
}

// The arg-max class of one sample's scores; the first of equal scores wins, as std::max_element
// (and ctnn::evaluate) picks it.
inline std::size_t top_class(std::span<const float> scores) noexcept {
  return static_cast<std::size_t>(std::max_element(scores.begin(), scores.end()) - scores.begin());
}

}  // namespace detail

// counts[t * classes + p] samples of true class t were predicted as p: rows are true classes,
// columns predictions.
struct ConfusionMatrix {
  std::size_t classes = 0;
  std::vector<std::size_t> counts;

  std::size_t operator()(std::size_t true_class, std::size_t predicted_class) const noexcept {
    return counts[true_class * classes + predicted_class];
  }
  // Samples of class c (its support).
  std::size_t row_total(std::size_t c) const noexcept {
    std::size_t total = 0;
    for (std::size_t p = 0; p < classes; ++p) total += (*this)(c, p);
    return total;
  }
  // Samples predicted as class c.
  std::size_t column_total(std::size_t c) const noexcept {
    std::size_t total = 0;
    for (std::size_t t = 0; t < classes; ++t) total += (*this)(t, c);
    return total;
  }
  std::size_t total() const noexcept { return std::accumulate(counts.begin(), counts.end(), std::size_t{0}); }
  std::size_t correct() const noexcept {
    std::size_t total = 0;
    for (std::size_t c = 0; c < classes; ++c) total += (*this)(c, c);
    return total;
  }
};

inline ConfusionMatrix confusion_matrix(std::span<const std::uint8_t> labels, std::span<const std::uint8_t> predictions,
                                        std::size_t classes) {
  detail::check_predictions(labels, predictions, classes);
  ConfusionMatrix matrix{classes, std::vector<std::size_t>(classes * classes, 0)};
  for (std::size_t i = 0; i < labels.size(); ++i) ++matrix.counts[labels[i] * classes + predictions[i]];
  return matrix;
}

// Fraction of samples whose prediction is their label; 0 for no samples.
inline double accuracy(const ConfusionMatrix& matrix) noexcept {
  return detail::ratio_or_zero(static_cast<double>(matrix.correct()), static_cast<double>(matrix.total()));
}

inline double accuracy(std::span<const std::uint8_t> labels, std::span<const std::uint8_t> predictions,
                       std::size_t classes) {
  return accuracy(confusion_matrix(labels, predictions, classes));
}

struct ClassScores {
  double precision = 0;  // true positives / predicted positives; 0 when the class is never predicted
  double recall = 0;     // true positives / actual positives; 0 when the class has no sample
  double f1 = 0;         // harmonic mean of the two; 0 when both are 0
  std::size_t support = 0;
};

struct ClassificationScores {
  std::vector<ClassScores> per_class;
  // Unweighted mean over every class 0..classes-1, including a class with no sample or no
  // prediction (which scores 0), as scikit-learn's average="macro" with labels=range(classes).
  // Its f1 is the mean of the per-class F1 scores, not the F1 of the mean precision and recall.
  ClassScores macro;
  ClassScores weighted;  // mean weighted by support; support is the total
  double accuracy = 0;
};

inline ClassificationScores classification_scores(const ConfusionMatrix& matrix) {
  ClassificationScores scores;
  scores.accuracy = accuracy(matrix);
  const std::size_t total = matrix.total();
  for (std::size_t c = 0; c < matrix.classes; ++c) {
    const auto true_positives = static_cast<double>(matrix(c, c));
    ClassScores s;
    s.support = matrix.row_total(c);
    s.precision = detail::ratio_or_zero(true_positives, static_cast<double>(matrix.column_total(c)));
    s.recall = detail::ratio_or_zero(true_positives, static_cast<double>(s.support));
    s.f1 = detail::ratio_or_zero(2 * s.precision * s.recall, s.precision + s.recall);
    scores.per_class.push_back(s);

    const double weight = detail::ratio_or_zero(static_cast<double>(s.support), static_cast<double>(total));
    scores.weighted.precision += weight * s.precision;
    scores.weighted.recall += weight * s.recall;
    scores.weighted.f1 += weight * s.f1;
    scores.macro.precision += s.precision;
    scores.macro.recall += s.recall;
    scores.macro.f1 += s.f1;
  }
  const auto classes = static_cast<double>(matrix.classes);
  scores.macro.precision = detail::ratio_or_zero(scores.macro.precision, classes);
  scores.macro.recall = detail::ratio_or_zero(scores.macro.recall, classes);
  scores.macro.f1 = detail::ratio_or_zero(scores.macro.f1, classes);
  scores.macro.support = scores.weighted.support = total;
  return scores;
}

// Fraction of samples whose label is among the k most probable classes. Classes rank by
// probability, and equal probabilities by class index, lower first, so that top-1 accuracy is
// the accuracy of the arg-max predictions. Requires 1 <= k <= classes.
inline double top_k_accuracy(std::span<const std::uint8_t> labels, std::span<const float> probabilities,
                             std::size_t classes, std::size_t k) {
  detail::check_probabilities(labels, probabilities, classes);
  if (k == 0 || k > classes)
    throw std::invalid_argument("metrics: top-k accuracy needs 1 <= k <= " + std::to_string(classes) +
                                ", not k = " + std::to_string(k));
  std::size_t hits = 0;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* scores = probabilities.data() + i * classes;
    const std::size_t label = labels[i];
    std::size_t ranked_above = 0;  // classes that come before the label
    for (std::size_t c = 0; c < classes; ++c)
      ranked_above += scores[c] > scores[label] || (scores[c] == scores[label] && c < label);
    hits += ranked_above < k;
  }
  return detail::ratio_or_zero(static_cast<double>(hits), static_cast<double>(labels.size()));
}

// One point of a ROC curve: predicting "positive" for every score >= threshold gives these rates.
struct RocPoint {
  double threshold = 0;  // +infinity for the first point, (0, 0)
  double false_positive_rate = 0;
  double true_positive_rate = 0;
};

struct RocCurve {
  std::size_t positives = 0, negatives = 0;
  // From (0, 0) to (1, 1), one point per distinct score in decreasing order, so that tied scores
  // make one diagonal step rather than an order-dependent staircase. Empty when the class has no
  // positive or no negative sample.
  std::vector<RocPoint> points;
  // Area under the points by the trapezoid rule: the probability that a random positive scores
  // above a random negative, ties counting 1/2 (the Mann-Whitney U statistic / (P N)). NaN when
  // points is empty.
  double auc = std::numeric_limits<double>::quiet_NaN();
};

// One-vs-rest ROC curve of class `positive_class`, scored by its probability.
inline RocCurve roc_curve(std::span<const std::uint8_t> labels, std::span<const float> probabilities,
                          std::size_t classes, std::size_t positive_class) {
  detail::check_probabilities(labels, probabilities, classes);
  if (positive_class >= classes)
    throw std::invalid_argument("metrics: ROC curve of class " + std::to_string(positive_class) +
                                ", which is not a class (0.." + std::to_string(classes - 1) + ")");
  std::vector<std::size_t> order(labels.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const auto score = [&](std::size_t i) { return probabilities[i * classes + positive_class]; };
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return score(a) > score(b); });

  RocCurve curve;
  for (const std::uint8_t label : labels) (label == positive_class ? curve.positives : curve.negatives) += 1;
  if (curve.positives == 0 || curve.negatives == 0) return curve;
  const auto positives = static_cast<double>(curve.positives), negatives = static_cast<double>(curve.negatives);
  curve.points.push_back({std::numeric_limits<double>::infinity(), 0, 0});
  std::size_t true_positives = 0, false_positives = 0;
  curve.auc = 0;
  for (std::size_t first = 0; first < order.size();) {
    const float threshold = score(order[first]);
    std::size_t last = first;
    for (; last < order.size() && score(order[last]) == threshold; ++last)
      (labels[order[last]] == positive_class ? true_positives : false_positives) += 1;
    const RocPoint& previous = curve.points.back();
    const RocPoint point{threshold, static_cast<double>(false_positives) / negatives,
                         static_cast<double>(true_positives) / positives};
    curve.auc += (point.false_positive_rate - previous.false_positive_rate) *
                 (point.true_positive_rate + previous.true_positive_rate) / 2;
    curve.points.push_back(point);
    first = last;
  }
  return curve;
}

// Every class's one-vs-rest curve, in class order.
inline std::vector<RocCurve> roc_curves(std::span<const std::uint8_t> labels, std::span<const float> probabilities,
                                        std::size_t classes) {
  std::vector<RocCurve> curves;
  for (std::size_t c = 0; c < classes; ++c) curves.push_back(roc_curve(labels, probabilities, classes, c));
  return curves;
}

// Samples whose top-class confidence falls in (lower, upper]; the first bin also holds 0.
struct CalibrationBin {
  double lower = 0, upper = 0;
  std::size_t count = 0;
  double mean_confidence = 0;  // 0 for an empty bin
  double accuracy = 0;         // fraction of its samples whose top class is the label; 0 if empty
};

struct Calibration {
  std::vector<CalibrationBin> bins;  // the reliability diagram
  // Expected calibration error: sum over bins of count/n * |accuracy - mean_confidence|
  // (Guo et al. 2017, "On Calibration of Modern Neural Networks", eq. 3).
  double expected_calibration_error = 0;
  double maximum_calibration_error = 0;  // the largest |accuracy - mean_confidence| of a non-empty bin
};

// Calibration of the top-class confidence in `bins` equal-width bins over [0, 1] (15 as Guo et
// al.). A sample's prediction is its arg-max class, the first of equal probabilities.
inline Calibration calibration(std::span<const std::uint8_t> labels, std::span<const float> probabilities,
                               std::size_t classes, std::size_t bins = 15) {
  detail::check_probabilities(labels, probabilities, classes);
  if (bins == 0) throw std::invalid_argument("metrics: calibration needs at least one bin");
  Calibration result;
  result.bins.resize(bins);
  std::vector<double> confidence_sum(bins, 0), correct(bins, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::span<const float> scores = probabilities.subspan(i * classes, classes);
    const std::size_t predicted = detail::top_class(scores);
    const double confidence = std::clamp(static_cast<double>(scores[predicted]), 0.0, 1.0);
    const double position = std::ceil(confidence * static_cast<double>(bins)) - 1;  // (m/M, (m+1)/M] -> m
    const auto bin = static_cast<std::size_t>(std::clamp(position, 0.0, static_cast<double>(bins - 1)));
    ++result.bins[bin].count;
    confidence_sum[bin] += confidence;
    correct[bin] += predicted == labels[i];
  }
  for (std::size_t m = 0; m < bins; ++m) {
    CalibrationBin& bin = result.bins[m];
    bin.lower = static_cast<double>(m) / static_cast<double>(bins);
    bin.upper = static_cast<double>(m + 1) / static_cast<double>(bins);
    if (bin.count == 0) continue;
    bin.mean_confidence = confidence_sum[m] / static_cast<double>(bin.count);
    bin.accuracy = correct[m] / static_cast<double>(bin.count);
    const double gap = std::abs(bin.accuracy - bin.mean_confidence);
    result.expected_calibration_error += static_cast<double>(bin.count) / static_cast<double>(labels.size()) * gap;
    result.maximum_calibration_error = std::max(result.maximum_calibration_error, gap);
  }
  return result;
}

}  // namespace ctnn
