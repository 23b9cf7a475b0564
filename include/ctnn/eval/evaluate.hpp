// Batched inference over a data set: mean loss, accuracy, and every prediction with its class
// probabilities, which the metrics (eval/metrics.hpp) and reports start from.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <ctnn/core/net.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/dataset.hpp>

namespace ctnn {

struct Evaluation {
  float loss = 0;      // mean cross-entropy, without label smoothing
  float accuracy = 0;  // fraction in [0, 1]
  std::size_t classes = 0;
  std::vector<std::uint8_t> predictions;  // arg-max class of each image
  std::vector<float> probabilities;       // size() * classes softmax outputs
};

// Throws std::invalid_argument unless the data set's images have the net's input shape.
template <class NetType>
void check_input_shape(const Dataset& dataset) {
  using In = typename NetType::in_shape;
  if (dataset.channels != In::channels || dataset.height != In::height || dataset.width != In::width)
    throw std::invalid_argument(
        dataset.name + ": images are " + std::to_string(dataset.channels) + "x" + std::to_string(dataset.height) + "x" +
        std::to_string(dataset.width) + " but the network reads " + std::to_string(In::channels) + "x" +
        std::to_string(In::height) + "x" + std::to_string(In::width) + " (resize them with ctnn::resize_bilinear)");
}

// Puts labels.size() images (back to back in `pixels`) and their labels into the workspace,
// normalized.
template <class WorkspaceType>
void load_batch(WorkspaceType& ws, std::span<const float> pixels, std::span<const std::uint8_t> labels,
                Normalization normalization) {
  constexpr std::size_t image_size = WorkspaceType::in_shape::size;
  const float scale = 1.0f / normalization.stddev;
  ws.count = labels.size();
  for (std::size_t b = 0; b < labels.size(); ++b) {
    auto& input = ws.input(b);
    for (std::size_t i = 0; i < image_size; ++i) input[i] = (pixels[b * image_size + i] - normalization.mean) * scale;
    ws.labels[b] = labels[b];
  }
}

template <class NetType, class WorkspaceType>
Evaluation evaluate(NetType& net, WorkspaceType& ws, const Dataset& dataset, Normalization normalization) {
  check_input_shape<NetType>(dataset);
  constexpr std::size_t classes = NetType::classes;
  constexpr std::size_t capacity = WorkspaceType::batch_size;
  Evaluation result;
  result.classes = classes;
  result.predictions.resize(dataset.size());
  result.probabilities.resize(dataset.size() * classes);
  double total_loss = 0;
  std::size_t correct = 0;
  // The plain cross-entropy: label smoothing is a training device, not part of the measure.
  const float smoothing = std::exchange(ws.loss.label_smoothing, 0.0f);
  for (std::size_t first = 0; first < dataset.size(); first += capacity) {
    const std::size_t count = std::min(capacity, dataset.size() - first);
    load_batch(ws, std::span(dataset.images).subspan(first * dataset.image_size(), count * dataset.image_size()),
               std::span(dataset.labels).subspan(first, count), normalization);
    total_loss += static_cast<double>(net.forward(ws, Mode::eval)) * static_cast<double>(count);
    for (std::size_t b = 0; b < count; ++b) {
      const auto& logits = ws.output(b);
      float* probabilities = result.probabilities.data() + (first + b) * classes;
      SoftmaxCrossEntropy::probabilities(logits.span(), std::span(probabilities, classes));
      const auto best =
          static_cast<std::uint8_t>(std::max_element(logits.data(), logits.data() + classes) - logits.data());
      result.predictions[first + b] = best;
      correct += best == dataset.labels[first + b];
    }
  }
  ws.loss.label_smoothing = smoothing;
  if (!dataset.size()) return result;
  result.loss = static_cast<float>(total_loss / static_cast<double>(dataset.size()));
  result.accuracy = static_cast<float>(correct) / static_cast<float>(dataset.size());
  return result;
}

}  // namespace ctnn
