// What the programs that read digits from images share (predict, read_number): error messages on
// one line, the check that a model reads the digits 0-9, and the net's probabilities for a digit
// prepared as MNIST's were.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <type_traits>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/digit_preparation.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/model_file.hpp>

#include "training_cli.hpp"

namespace examples {

// An exception's message on one line: "it reads:\n  A\n  B" becomes "it reads: A; B".
inline std::string one_line(std::string message) {
  std::string result;
  std::size_t start = 0;
  while (start <= message.size()) {
    const std::size_t end = std::min(message.find('\n', start), message.size());
    std::string line = message.substr(start, end - start);
    line.erase(0, line.find_first_not_of(' '));
    if (!line.empty()) result += (result.empty() ? "" : result.back() == ':' ? " " : "; ") + line;
    start = end + 1;
  }
  return result;
}

// Throws a ModelError unless the net has 10 classes and the model file, if it names its classes,
// names the digits 0-9 (a Fashion-MNIST model has 10 classes too).
template <class NetType>
void require_digit_classes(const std::string& model, const ctnn::ModelInfo& info) {
  if (NetType::classes != 10 || (!info.class_names.empty() && info.class_names != digit_names)) {
    std::string classes;
    for (const auto& name : info.class_names) classes += (classes.empty() ? "" : ", ") + name;
    throw ctnn::ModelError(model + " classifies " + classes + ", not the digits 0-9");
  }
}

// The net's probability of each class for one prepared digit, its pixels normalized as in training.
template <class NetType>
std::array<float, NetType::classes> digit_probabilities(NetType& net, const ctnn::PreparedDigit& digit,
                                                        ctnn::Normalization normalization) {
  static_assert(std::is_same_v<typename NetType::in_shape, ctnn::Shape<1, ctnn::mnist_side, ctnn::mnist_side>>,
                "a digit reader's network must read 1x28x28 images");
  ctnn::tensor_of<typename NetType::in_shape> input;
  for (std::size_t p = 0; p < digit.pixels.size(); ++p)
    input[p] = (digit.pixels[p] - normalization.mean) / normalization.stddev;
  std::array<float, NetType::classes> probabilities{};
  ctnn::SoftmaxCrossEntropy::probabilities(net.forward(input).span(), probabilities);
  return probabilities;
}

}  // namespace examples
