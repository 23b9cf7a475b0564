// The MNIST flow on Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): ten kinds of clothing in the
// same 28x28 format, much harder than digits.
//   train_fashion                    defaults reach >= 91% on the Fashion-MNIST test set
//   train_fashion --help             every hyper-parameter
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <ratio>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/train/trainer.hpp>

#include "models.hpp"
#include "training_cli.hpp"

using namespace ctnn;

using examples::FashionNet;  // examples/models.hpp

constexpr std::size_t batch_capacity = 256;

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  examples::TrainingCli cli;
  cli.output = "runs/fashion";
  cli.trainer.epochs = 12;
  cli.trainer.batch_size = 128;
  cli.trainer.schedule.learning_rate = 0.05f;
  cli.trainer.augmentation.affine = {.max_translation_pixels = 1};
  if (const auto exit_status = examples::parse_training_options(
          cli, "Train a small ctnn network on Fashion-MNIST and evaluate it on the test set.", argc, argv))
    return *exit_status;
  const std::filesystem::path output = cli.output;

  FashionNet::summary();
  const auto data = examples::load_data(examples::DataSet::fashion_mnist, cli);

  FashionNet net(cli.trainer.seed);
  Workspace<FashionNet, batch_capacity> workspace;
  const TrainReport report = examples::with_optimizer(cli, net, [&](auto& optimizer) {
    return Trainer(net, optimizer, workspace, cli.trainer).run(data.train, data.validation, data.normalization);
  });

  const Evaluation result = evaluate(net, workspace, data.test, data.normalization);
  const std::vector<std::string> classes{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  save_model(net, output / "model.safetensors",
             {.normalization = data.normalization, .class_names = classes, .extra = {}});
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  examples::report_results(output, "train_fashion", FashionNet::signature(), FashionNet::param_count, report, result,
                           wall);
} catch (const std::exception& error) {
  std::fprintf(stderr, "train_fashion: %s\n", error.what());
  return 1;
}
