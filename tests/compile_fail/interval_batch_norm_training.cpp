// Interval training differentiates the bounds of every layer; BatchNorm only bounds them (its
// training pass couples the images of a batch), so a net with one cannot be trained by IBP.
// expect: "interval_backward: every layer but the last needs backward_interval (BatchNorm and Dropout have none)"
#include <memory>

#include <ctnn/core/net.hpp>
#include <ctnn/layers/batch_norm.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/robust/interval.hpp>

#ifdef CTNN_SHOULD_FAIL
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::BatchNorm<>, ctnn::ReLU, ctnn::Dense<10>>;
#else
using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<8>, ctnn::ReLU, ctnn::Dense<10>>;
#endif

int main() {
  const Model net(1);
  ctnn::IntervalWorkspace<Model, 2> ws;
  auto grad = std::make_unique<Model::layers>();
  const float loss = ctnn::interval_forward(net, ws);
  ctnn::interval_backward(net, ws, 1.0f, *grad);
  return loss >= 0.0f ? 0 : 1;
}
