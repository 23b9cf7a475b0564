// Metrics on small cases worked out by hand (the fractions in the comments), plus the ROC area
// against a brute-force Mann-Whitney count on random scores with many ties.
#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <vector>

#include <ctnn/eval/metrics.hpp>

using doctest::Approx;

namespace {

using Labels = std::vector<std::uint8_t>;

// Probabilities of a two-class problem whose class-1 score is `scores[i]`.
std::vector<float> binary_probabilities(const std::vector<float>& scores) {
  std::vector<float> probabilities;
  for (const float score : scores) {
    probabilities.push_back(1 - score);
    probabilities.push_back(score);
  }
  return probabilities;
}

// Three classes, nine samples:
//   true 0: predicted 0, 0, 0        true 1: predicted 1, 2        true 2: predicted 2, 2, 0, 1
const Labels labels{0, 0, 0, 1, 1, 2, 2, 2, 2};
const Labels predictions{0, 0, 0, 1, 2, 2, 2, 0, 1};

}  // namespace

TEST_CASE("confusion matrix: rows are true classes, columns predictions") {
  const ctnn::ConfusionMatrix matrix = ctnn::confusion_matrix(labels, predictions, 3);
  CHECK(matrix.counts == std::vector<std::size_t>{3, 0, 0, 0, 1, 1, 1, 1, 2});
  CHECK(matrix(2, 0) == 1);
  CHECK(matrix.row_total(2) == 4);
  CHECK(matrix.column_total(0) == 4);
  CHECK(matrix.total() == 9);
  CHECK(matrix.correct() == 6);
  CHECK(ctnn::accuracy(labels, predictions, 3) == Approx(6.0 / 9));
}

TEST_CASE("classification scores: per class, macro and weighted, by hand") {
  const ctnn::ClassificationScores scores = ctnn::classification_scores(ctnn::confusion_matrix(labels, predictions, 3));
  REQUIRE(scores.per_class.size() == 3);
  // Class 0: 3 of 4 predictions right, all 3 found.  P 3/4, R 1, F1 2PR/(P+R) = 6/7.
  CHECK(scores.per_class[0].precision == Approx(3.0 / 4));
  CHECK(scores.per_class[0].recall == Approx(1.0));
  CHECK(scores.per_class[0].f1 == Approx(6.0 / 7));
  CHECK(scores.per_class[0].support == 3);
  // Class 1: P 1/2, R 1/2, F1 1/2.
  CHECK(scores.per_class[1].precision == Approx(0.5));
  CHECK(scores.per_class[1].recall == Approx(0.5));
  CHECK(scores.per_class[1].f1 == Approx(0.5));
  // Class 2: P 2/3, R 2/4, F1 (2/3) / (7/6) = 4/7.
  CHECK(scores.per_class[2].precision == Approx(2.0 / 3));
  CHECK(scores.per_class[2].recall == Approx(0.5));
  CHECK(scores.per_class[2].f1 == Approx(4.0 / 7));
  CHECK(scores.per_class[2].support == 4);
  // Macro: plain means over the three classes.
  CHECK(scores.macro.precision == Approx(23.0 / 36));
  CHECK(scores.macro.recall == Approx(2.0 / 3));
  CHECK(scores.macro.f1 == Approx(9.0 / 14));
  // Weighted by support 3, 2, 4: P (9/4 + 1 + 8/3) / 9 = 71/108; R equals the accuracy.
  CHECK(scores.weighted.precision == Approx(71.0 / 108));
  CHECK(scores.weighted.recall == Approx(2.0 / 3));
  CHECK(scores.weighted.f1 == Approx(41.0 / 63));
  CHECK(scores.weighted.support == 9);
  CHECK(scores.accuracy == Approx(2.0 / 3));
}

TEST_CASE("classification scores: an empty class scores 0 and still counts in the macro mean") {
  // Class 1 has samples but is never predicted; class 2 has neither samples nor predictions.
  const ctnn::ClassificationScores scores =
      ctnn::classification_scores(ctnn::confusion_matrix(Labels{0, 1, 1, 0}, Labels{0, 0, 0, 0}, 3));
  CHECK(scores.per_class[1].precision == 0);  // no predictions: zero_division = 0
  CHECK(scores.per_class[1].recall == 0);
  CHECK(scores.per_class[1].f1 == 0);
  CHECK(scores.per_class[2].precision == 0);
  CHECK(scores.per_class[2].recall == 0);  // no samples
  CHECK(scores.per_class[2].support == 0);
  // Class 0: P 2/4, R 1, F1 2/3; macro over three classes.
  CHECK(scores.per_class[0].f1 == Approx(2.0 / 3));
  CHECK(scores.macro.precision == Approx(0.5 / 3));
  CHECK(scores.macro.f1 == Approx(2.0 / 9));
  // Weighted: class 2 has no weight, class 1 half.
  CHECK(scores.weighted.precision == Approx(0.25));
}

TEST_CASE("classification scores: a perfect classifier and no samples at all") {
  const Labels truth{2, 0, 1, 1, 0};
  const ctnn::ClassificationScores perfect = ctnn::classification_scores(ctnn::confusion_matrix(truth, truth, 3));
  CHECK(perfect.accuracy == 1);
  for (const ctnn::ClassScores& s : perfect.per_class) CHECK(s.f1 == 1);
  CHECK(perfect.macro.f1 == 1);

  const ctnn::ClassificationScores none = ctnn::classification_scores(ctnn::confusion_matrix({}, {}, 2));
  CHECK(none.accuracy == 0);
  CHECK(none.macro.f1 == 0);
  CHECK(none.weighted.precision == 0);
}

TEST_CASE("top-k accuracy: rank by probability, equal probabilities by class index") {
  // Label ranks: 2nd, 3rd, 1st, and 2nd (class 0 ties with the label and comes first).
  const Labels truth{1, 0, 0, 1};
  const std::vector<float> probabilities{0.5f, 0.3f, 0.2f, 0.2f, 0.3f, 0.5f, 0.6f, 0.3f, 0.1f, 0.4f, 0.4f, 0.2f};
  CHECK(ctnn::top_k_accuracy(truth, probabilities, 3, 1) == Approx(1.0 / 4));
  CHECK(ctnn::top_k_accuracy(truth, probabilities, 3, 2) == Approx(3.0 / 4));
  CHECK(ctnn::top_k_accuracy(truth, probabilities, 3, 3) == Approx(1.0));
  // Top-1 is the accuracy of the arg-max predictions (the first of equal scores).
  CHECK(ctnn::top_k_accuracy(truth, probabilities, 3, 1) == ctnn::accuracy(truth, Labels{0, 2, 0, 0}, 3));
}

TEST_CASE("ROC curve: distinct scores, by hand") {
  // Scores in decreasing order: P P N P N N.
  const Labels truth{1, 1, 0, 1, 0, 0};
  const ctnn::RocCurve curve =
      ctnn::roc_curve(truth, binary_probabilities({0.9f, 0.8f, 0.7f, 0.6f, 0.55f, 0.4f}), 2, 1);
  CHECK(curve.positives == 3);
  CHECK(curve.negatives == 3);
  const std::vector<std::pair<double, double>> expected{
      {0, 0}, {0, 1.0 / 3}, {0, 2.0 / 3}, {1.0 / 3, 2.0 / 3}, {1.0 / 3, 1.0}, {2.0 / 3, 1.0}, {1, 1}};
  REQUIRE(curve.points.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(curve.points[i].false_positive_rate == Approx(expected[i].first));
    CHECK(curve.points[i].true_positive_rate == Approx(expected[i].second));
  }
  CHECK(std::isinf(curve.points[0].threshold));
  CHECK(curve.points[1].threshold == Approx(0.9));
  // 8 of the 9 (positive, negative) pairs are ordered right.
  CHECK(curve.auc == Approx(8.0 / 9));
}

TEST_CASE("ROC curve: tied scores make one diagonal step whatever the sample order") {
  // Scores: P 0.8, N 0.8, P 0.5, N 0.2. Pairs: tie (1/2), 1, 0, 1 -> AUC 2.5/4.
  const Labels truth{1, 0, 1, 0};
  const std::vector<float> scores{0.8f, 0.8f, 0.5f, 0.2f};
  const ctnn::RocCurve curve = ctnn::roc_curve(truth, binary_probabilities(scores), 2, 1);
  REQUIRE(curve.points.size() == 4);
  CHECK(curve.points[1].false_positive_rate == Approx(0.5));
  CHECK(curve.points[1].true_positive_rate == Approx(0.5));
  CHECK(curve.points[1].threshold == Approx(0.8));
  CHECK(curve.points[2].false_positive_rate == Approx(0.5));
  CHECK(curve.points[2].true_positive_rate == Approx(1.0));
  CHECK(curve.auc == Approx(0.625));

  const ctnn::RocCurve swapped =
      ctnn::roc_curve(Labels{0, 1, 1, 0}, binary_probabilities({0.8f, 0.8f, 0.5f, 0.2f}), 2, 1);
  REQUIRE(swapped.points.size() == curve.points.size());
  for (std::size_t i = 0; i < curve.points.size(); ++i) {
    CHECK(swapped.points[i].false_positive_rate == curve.points[i].false_positive_rate);
    CHECK(swapped.points[i].true_positive_rate == curve.points[i].true_positive_rate);
  }
  CHECK(swapped.auc == curve.auc);
}

TEST_CASE("ROC curve: perfect, inverted and constant scores") {
  const Labels truth{1, 0, 1, 0};
  CHECK(ctnn::roc_curve(truth, binary_probabilities({0.9f, 0.1f, 0.8f, 0.2f}), 2, 1).auc == Approx(1.0));
  CHECK(ctnn::roc_curve(truth, binary_probabilities({0.1f, 0.9f, 0.2f, 0.8f}), 2, 1).auc == Approx(0.0));
  const ctnn::RocCurve constant = ctnn::roc_curve(truth, binary_probabilities({0.5f, 0.5f, 0.5f, 0.5f}), 2, 1);
  REQUIRE(constant.points.size() == 2);  // (0, 0) then straight to (1, 1)
  CHECK(constant.points[1].false_positive_rate == 1);
  CHECK(constant.points[1].true_positive_rate == 1);
  CHECK(constant.auc == Approx(0.5));
}

TEST_CASE("ROC curve: one-vs-rest of each class reads that class's column") {
  // Classes 0 and 1 are perfectly separated by their columns, class 2 perfectly inverted.
  const Labels truth{0, 1, 2};
  const std::vector<float> probabilities{0.7f, 0.2f, 0.1f, 0.2f, 0.5f, 0.3f, 0.1f, 0.4f, 0.0f};
  const std::vector<ctnn::RocCurve> curves = ctnn::roc_curves(truth, probabilities, 3);
  REQUIRE(curves.size() == 3);
  CHECK(curves[0].auc == Approx(1.0));
  CHECK(curves[1].auc == Approx(1.0));
  CHECK(curves[2].auc == Approx(0.0));
}

TEST_CASE("ROC curve: a class with no positive or no negative sample has no curve") {
  const ctnn::RocCurve absent = ctnn::roc_curve(Labels{0, 0}, binary_probabilities({0.3f, 0.6f}), 2, 1);
  CHECK(absent.positives == 0);
  CHECK(absent.points.empty());
  CHECK(std::isnan(absent.auc));
  const ctnn::RocCurve only = ctnn::roc_curve(Labels{1, 1}, binary_probabilities({0.3f, 0.6f}), 2, 1);
  CHECK(only.negatives == 0);
  CHECK(std::isnan(only.auc));
}

TEST_CASE("ROC area equals the Mann-Whitney probability on random tied scores") {
  std::mt19937 random(12345);
  for (int trial = 0; trial < 20; ++trial) {
    Labels truth;
    std::vector<float> scores;
    for (int i = 0; i < 60; ++i) {
      truth.push_back(static_cast<std::uint8_t>(random() % 2));
      scores.push_back(static_cast<float>(random() % 7) / 8);  // 7 levels: many ties
    }
    truth[0] = 0;  // at least one of each
    truth[1] = 1;
    double wins = 0, pairs = 0;
    for (std::size_t p = 0; p < truth.size(); ++p)
      for (std::size_t n = 0; n < truth.size(); ++n) {
        if (truth[p] != 1 || truth[n] != 0) continue;
        wins += scores[p] > scores[n] ? 1.0 : scores[p] == scores[n] ? 0.5 : 0.0;
        pairs += 1;
      }
    const ctnn::RocCurve curve = ctnn::roc_curve(truth, binary_probabilities(scores), 2, 1);
    CHECK(curve.auc == Approx(wins / pairs).epsilon(1e-12));
    CHECK(curve.points.size() <= 8);  // (0, 0) and one point per distinct score
  }
}

TEST_CASE("calibration: ECE over 15 bins, by hand") {
  // Confidence 0.9 right (bin 13), 0.95 wrong (bin 14), 0.7 right and 0.72 wrong (bin 10).
  const Labels truth{0, 1, 1, 0};
  const std::vector<float> probabilities{0.9f, 0.1f, 0.95f, 0.05f, 0.3f, 0.7f, 0.28f, 0.72f};
  const ctnn::Calibration result = ctnn::calibration(truth, probabilities, 2);
  REQUIRE(result.bins.size() == 15);
  CHECK(result.bins[10].count == 2);
  CHECK(result.bins[10].mean_confidence == Approx(0.71));
  CHECK(result.bins[10].accuracy == Approx(0.5));
  CHECK(result.bins[10].lower == Approx(10.0 / 15));
  CHECK(result.bins[10].upper == Approx(11.0 / 15));
  CHECK(result.bins[13].count == 1);
  CHECK(result.bins[14].count == 1);
  CHECK(result.bins[14].accuracy == 0);
  CHECK(result.bins[0].count == 0);
  // 2/4 * |0.5 - 0.71| + 1/4 * |1 - 0.9| + 1/4 * |0 - 0.95|.
  CHECK(result.expected_calibration_error == Approx(0.3675).epsilon(1e-6));
  CHECK(result.maximum_calibration_error == Approx(0.95).epsilon(1e-6));
}

TEST_CASE("calibration: a bin holds confidences above its lower edge up to its upper edge, the first also 0") {
  // With 4 bins: 0.5 is in (0.25, 0.5], 1 in (0.75, 1], 0.5000001 in (0.5, 0.75].
  const Labels truth{0, 0, 0};
  const std::vector<float> probabilities{0.5f, 0.5f, 1.0f, 0.0f, 0.50000006f, 0.49999994f};
  const ctnn::Calibration result = ctnn::calibration(truth, probabilities, 2, 4);
  CHECK(result.bins[0].count == 0);
  CHECK(result.bins[1].count == 1);
  CHECK(result.bins[2].count == 1);
  CHECK(result.bins[3].count == 1);
  // Every prediction is right: the gaps are 1 - confidence.
  CHECK(result.expected_calibration_error == Approx((0.5 + 0.0 + 0.49999994) / 3).epsilon(1e-6));
}

TEST_CASE("calibration: a perfectly calibrated bin has no error") {
  // Four samples at confidence 0.75, three right.
  const Labels truth{0, 0, 0, 1};
  const std::vector<float> probabilities{0.75f, 0.25f, 0.75f, 0.25f, 0.75f, 0.25f, 0.75f, 0.25f};
  CHECK(ctnn::calibration(truth, probabilities, 2).expected_calibration_error == Approx(0.0));
}

TEST_CASE("metrics: inputs are checked with messages that say what is wrong") {
  const Labels two{0, 1};
  const std::vector<float> probabilities{0.4f, 0.6f, 0.7f, 0.3f};
  CHECK_THROWS_WITH_AS(ctnn::confusion_matrix(two, Labels{0}, 2), "metrics: 1 predictions for 2 labels",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::confusion_matrix(Labels{0, 2}, two, 2),
                       "metrics: label 2 of sample 1 is not a class (0..1)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::confusion_matrix(two, Labels{3, 0}, 2),
                       "metrics: prediction 3 of sample 0 is not a class (0..1)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::confusion_matrix(two, two, 0), "metrics: the number of classes must be positive",
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::top_k_accuracy(two, std::vector<float>{0.5f, 0.5f}, 2, 1),
                       "metrics: 2 probabilities for 2 samples of 2 classes (expected 4)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::top_k_accuracy(two, probabilities, 2, 3),
                       "metrics: top-k accuracy needs 1 <= k <= 2, not k = 3", std::invalid_argument);
  CHECK_THROWS_AS(ctnn::top_k_accuracy(two, probabilities, 2, 0), std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::roc_curve(two, probabilities, 2, 2),
                       "metrics: ROC curve of class 2, which is not a class (0..1)", std::invalid_argument);
  CHECK_THROWS_WITH_AS(ctnn::calibration(two, probabilities, 2, 0), "metrics: calibration needs at least one bin",
                       std::invalid_argument);
  const std::vector<float> not_a_number{0.4f, 0.6f, std::numeric_limits<float>::quiet_NaN(), 0.3f};
  CHECK_THROWS_WITH_AS(ctnn::roc_curve(two, not_a_number, 2, 0),
                       "metrics: the probability of class 0 for sample 1 is not a finite number",
                       std::invalid_argument);
}
