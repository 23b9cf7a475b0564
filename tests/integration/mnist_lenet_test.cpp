// End to end on the real data: LeNet-5 trained for one epoch on MNIST's training split must pass
// 97% on the test set. The data is found the documented way ($CTNN_DATA, data/, ../shared/data,
// relative to the source tree); if it is missing the test fails with the discovery error.
#include <doctest/doctest.h>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/eval/evaluate.hpp>
#include <ctnn/io/data_path.hpp>
#include <ctnn/train/trainer.hpp>

using namespace ctnn;

using LeNet5 = Net<Conv<6, 5>, MaxPool<2>, Conv<16, 5>, Dense<120>, Dense<10>>::bind<Shape<1, 28, 28>>;

TEST_CASE("LeNet-5 reaches 97% MNIST test accuracy after one epoch") {
  const Dataset mnist = load_mnist(Split::train);
  const Dataset test = load_mnist(Split::test);
  const SplitIndices split = holdout_split(mnist.size(), 5000, 1);
  const Dataset train = subset(mnist, split.train, "MNIST train");
  const Dataset validation = subset(mnist, split.validation, "MNIST validation");
  const Normalization normalization = compute_normalization(train.images);

  LeNet5 net(1);
  Workspace<LeNet5, 64> workspace;
  Sgd optimizer(net, {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true});
  TrainerOptions options;
  options.epochs = 1;
  options.schedule = {.kind = Schedule::Kind::one_cycle, .learning_rate = 0.05f};
  options.progress = false;
  const TrainReport report = Trainer(net, optimizer, workspace, options).run(train, validation, normalization);
  REQUIRE(report.history.size() == 1);

  const Evaluation result = evaluate(net, workspace, test, normalization);
  MESSAGE("one epoch: validation " << 100 * report.history[0].validation_accuracy << "%, test " << 100 * result.accuracy
                                   << "%, " << report.images_per_second << " images/s");
  CHECK(result.accuracy >= 0.97f);
}
