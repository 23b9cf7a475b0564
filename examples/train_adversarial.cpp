// Adversarial training on MNIST (L-infinity, eps = 0.3): every training batch is replaced by an
// attack on it before the step learns from it.
//   --method fgsm   one signed step of 1.25 eps from a random start (Wong, Rice & Kolter 2020)
//   --method pgd    projected gradient descent from a random start (Madry et al. 2018)
// The budget ramps up from 0 over the first --ramp-epochs epochs, so that the net learns the
// digits before it must hold them against the full attack. At the end the test set is attacked
// with FGSM and with PGD of --eval-steps steps and --eval-restarts random restarts.
//
// FGSM training is cheap (two passes a batch) but leaves the net partly robust to FGSM alone;
// a few epochs of PGD from the FGSM-trained net close the gap. The two runs measured (README):
//   train_adversarial            15 epochs of FGSM, into runs/adversarial_fgsm
//   train_adversarial --from runs/adversarial_fgsm/model.safetensors --method pgd --epochs 3
//                     --ramp-epochs 0 --learning-rate 1e-3 --output runs/adversarial
//   train_adversarial --help     every hyper-parameter
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <ctnn/ctnn.hpp>
#include <ctnn/io/atomic_file.hpp>
#include <ctnn/io/model_file.hpp>
#include <ctnn/robust/attacks.hpp>
#include <ctnn/train/trainer.hpp>

#include "models.hpp"
#include "training_cli.hpp"

using namespace ctnn;

using examples::AdversarialNet;  // examples/models.hpp

constexpr std::size_t batch_capacity = 256;

namespace {

struct AdversarialCli {
  std::string method = "fgsm";
  float epsilon = 0.3f;
  std::size_t steps = 10;
  float step_size = 0;  // 0: 2.5 eps / steps for PGD, 1.25 eps for FGSM
  double ramp_epochs = 3;
  std::size_t eval_steps = 50, eval_restarts = 10, eval_images = 0;
  std::string from;  // a saved model to start from instead of random weights
};

AttackOptions training_attack(const AdversarialCli& cli, float epsilon) {
  AttackOptions options =
      cli.method == "fgsm"
          ? AttackOptions{.norm = Norm::linf, .epsilon = epsilon, .step_size = 1.25f * epsilon, .steps = 1}
          : pgd(Norm::linf, epsilon, cli.steps);
  if (cli.step_size > 0) options.step_size = cli.step_size * epsilon / cli.epsilon;
  options.stop_at_success = false;  // train on the strongest point found, not the first that fools
  return options;
}

nlohmann::json attack_figures(const AttackResult& result, const AttackOptions& options) {
  return {{"norm", norm_name(options.norm)},
          {"epsilon", options.epsilon},
          {"steps", options.steps},
          {"restarts", options.restarts},
          {"step_size", options.step_size},
          {"images", result.images},
          {"clean_accuracy", result.clean_accuracy()},
          {"robust_accuracy", result.robust_accuracy()},
          {"seconds", result.seconds}};
}

}  // namespace

int main(int argc, char** argv) try {
  const auto start = std::chrono::steady_clock::now();
  examples::TrainingCli cli;
  cli.output = "runs/adversarial_fgsm";
  cli.trainer.epochs = 15;
  cli.trainer.batch_size = 100;
  cli.optimizer = "adam";
  cli.weight_decay = 0;
  cli.trainer.schedule.learning_rate = 3e-3f;
  cli.trainer.early_stopping.restore_best = false;  // clean validation accuracy is not the aim here
  AdversarialCli adversarial;
  if (const auto exit_status = examples::parse_training_options(
          cli, "Train a net on MNIST against L-infinity attacks (adversarial training) and attack it.", argc, argv,
          [&adversarial](CLI::App& app) {
            app.add_option("--method", adversarial.method, "Training attack: pgd or fgsm (with random start)")
                ->check(CLI::IsMember({"pgd", "fgsm"}))
                ->capture_default_str();
            app.add_option("--eps", adversarial.epsilon, "L-infinity budget, pixels in [0, 1]")
                ->check(CLI::Range(0.0f, 1.0f))
                ->capture_default_str();
            app.add_option("--attack-steps", adversarial.steps, "PGD steps per training batch")
                ->check(CLI::PositiveNumber)
                ->capture_default_str();
            app.add_option("--attack-step-size", adversarial.step_size,
                           "Step at the full budget (0: 2.5 eps / steps for PGD, 1.25 eps for FGSM)")
                ->check(CLI::NonNegativeNumber);
            app.add_option("--ramp-epochs", adversarial.ramp_epochs, "Epochs over which eps grows from 0")
                ->check(CLI::NonNegativeNumber)
                ->capture_default_str();
            app.add_option("--eval-steps", adversarial.eval_steps, "PGD steps of the final evaluation")
                ->check(CLI::PositiveNumber)
                ->capture_default_str();
            app.add_option("--eval-restarts", adversarial.eval_restarts, "PGD restarts of the final evaluation")
                ->check(CLI::PositiveNumber)
                ->capture_default_str();
            app.add_option("--eval-images", adversarial.eval_images, "Test images to attack (0: all)")
                ->capture_default_str();
            app.add_option("--from", adversarial.from,
                           "Start from this saved model (e.g. fine-tune an FGSM-trained net with PGD)");
          }))
    return *exit_status;
  const std::filesystem::path output = cli.output;

  AdversarialNet::summary();
  const auto data = examples::load_data(examples::DataSet::mnist, cli);
  std::printf("adversarial training: %s, eps %.3g (ramped over %.3g epochs), %zu steps of %.4g\n",
              adversarial.method.c_str(), adversarial.epsilon, adversarial.ramp_epochs,
              training_attack(adversarial, adversarial.epsilon).steps,
              training_attack(adversarial, adversarial.epsilon).step_size);

  AdversarialNet net(cli.trainer.seed);
  if (!adversarial.from.empty()) load_model(net, adversarial.from);
  Workspace<AdversarialNet, batch_capacity> workspace;
  const auto attack_batch = [&](auto& ws, double epochs_done, std::uint64_t seed) {
    const double ramp = adversarial.ramp_epochs > 0 ? std::min(1.0, epochs_done / adversarial.ramp_epochs) : 1.0;
    const float epsilon = static_cast<float>(ramp) * adversarial.epsilon;
    if (epsilon > 0) perturb(net, ws, data.normalization, training_attack(adversarial, epsilon), seed);
  };
  const TrainReport report = examples::with_optimizer(cli, net, [&](auto& optimizer) {
    return Trainer(net, optimizer, workspace, cli.trainer)
        .run(data.train, data.validation, data.normalization, attack_batch);
  });
  save_model(net, output / "model.safetensors",
             {.normalization = data.normalization, .class_names = examples::digit_names, .extra = {}});

  const Evaluation clean = evaluate(net, workspace, data.test, data.normalization);
  const bool tty = isatty(fileno(stderr)) != 0;
  const auto progress = [tty](std::size_t done, std::size_t total) {
    if (tty) std::fprintf(stderr, "\r\033[Kattacking the test set: %zu/%zu", done, total);
    if (tty && done == total) std::fprintf(stderr, "\r\033[K");
  };
  AttackOptions strongest = pgd(Norm::linf, adversarial.epsilon, adversarial.eval_steps, adversarial.eval_restarts);
  strongest.seed = cli.trainer.seed;
  const AttackOptions single_step = fgsm(adversarial.epsilon);
  const AttackResult fgsm_result = attack_dataset(net, workspace, data.test, data.normalization, single_step,
                                                  adversarial.eval_images, false, progress);
  const AttackResult pgd_result = attack_dataset(net, workspace, data.test, data.normalization, strongest,
                                                 adversarial.eval_images, false, progress);

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  examples::report_results(output, "train_adversarial", AdversarialNet::signature(), AdversarialNet::param_count,
                           report, clean, wall);
  std::printf("under attack at eps %.3g on %zu test images: FGSM %.2f%%, PGD-%zu x %zu restarts %.2f%% (%.0f s)\n",
              adversarial.epsilon, pgd_result.images, 100.0 * fgsm_result.robust_accuracy(), strongest.steps,
              strongest.restarts, 100.0 * pgd_result.robust_accuracy(), pgd_result.seconds);
  const nlohmann::json robustness{{"program", "train_adversarial"},
                                  {"network", AdversarialNet::signature()},
                                  {"training_attack", adversarial.method},
                                  {"training_epsilon", adversarial.epsilon},
                                  {"training_steps", training_attack(adversarial, adversarial.epsilon).steps},
                                  {"clean_accuracy", clean.accuracy},
                                  {"fgsm", attack_figures(fgsm_result, single_step)},
                                  {"pgd", attack_figures(pgd_result, strongest)},
                                  {"train_seconds", report.seconds},
                                  {"wall_seconds", wall}};
  write_file_atomically(output / "robustness.json", robustness.dump(2) + "\n");
} catch (const std::exception& error) {
  std::fprintf(stderr, "train_adversarial: %s\n", error.what());
  return 1;
}
