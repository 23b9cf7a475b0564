// A training workspace for a mini-batch of no images.
// expect: "Workspace: the batch size must be positive"
#include <ctnn/core/net.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/layers/dense.hpp>

using Model = ctnn::Net<ctnn::Input<1, 4, 4>, ctnn::Dense<10>>;
#ifdef CTNN_SHOULD_FAIL
using Batch = ctnn::Workspace<Model, 0>;
#else
using Batch = ctnn::Workspace<Model, 1>;
#endif

int main() {
  Model net(1);
  Batch ws;
  const float loss = net.forward(ws, ctnn::Mode::train);
  net.backward(ws);
  return loss > 0.0f ? 0 : 1;
}
