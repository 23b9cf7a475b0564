// Trains the design card's LeNet-5 on MNIST and reports its test accuracy.
//   train_lenet                      defaults reach >= 99.0% on MNIST's test set
//   train_lenet --help               every hyper-parameter
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>

#include <ctnn/ctnn.hpp>
#include <ctnn/data/preprocess.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/train/trainer.hpp>

#include "models.hpp"
#include "training_cli.hpp"

using namespace ctnn;

using examples::LeNet5;  // examples/models.hpp

// Mini-batches up to 256 images; --batch-size picks the size at run time.
constexpr std::size_t batch_capacity = 256;

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  examples::TrainingCli cli;
  cli.output = "runs/lenet";
  cli.trainer.epochs = 12;
  cli.trainer.batch_size = 64;
  cli.trainer.schedule.learning_rate = 0.05f;
  cli.trainer.augmentation.affine = {.max_rotation_degrees = 8, .max_scale_change = 0.08f, .max_translation_pixels = 2};
  if (const auto exit_status = examples::parse_training_options(
          cli, "Train the design card's LeNet-5 on MNIST and evaluate it on the test set.", argc, argv))
    return *exit_status;
  const std::filesystem::path output = cli.output;

  LeNet5::summary();

  // MNIST: 60,000 training images, of which `validation` are held out, and 10,000 test images.
  const auto data = examples::load_data(examples::DataSet::mnist, cli);

  LeNet5 net(cli.trainer.seed);
  Workspace<LeNet5, batch_capacity> workspace;
  const TrainReport report = examples::with_optimizer(cli, net, [&](auto& optimizer) {
    return Trainer(net, optimizer, workspace, cli.trainer).run(data.train, data.validation, data.normalization);
  });

  const Evaluation result = evaluate(net, workspace, data.test, data.normalization);
  save_model(net, output / "model.safetensors",
             {.normalization = data.normalization, .class_names = examples::digit_names, .extra = {}});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  examples::report_results(output, "train_lenet", LeNet5::signature(), LeNet5::param_count, report, result, wall);
} catch (const std::exception& error) {
  std::fprintf(stderr, "train_lenet: %s\n", error.what());
  return 1;
}
