// ctnn: convolutional networks as C++ types. The umbrella header: the core, every layer, the
// optimizers and what needs nothing beyond them (pruning, distillation, search spaces,
// explanations). Data loading (io/, data/), evaluation, ensembles and int8 inference are
// included separately: they need zlib, HDF5 or JSON, or cost compile time few programs want.
#pragma once

#include <ctnn/core/layer.hpp>
#include <ctnn/core/net.hpp>
#include <ctnn/core/random.hpp>
#include <ctnn/core/shape.hpp>
#include <ctnn/core/tensor.hpp>
#include <ctnn/core/workspace.hpp>
#include <ctnn/explain/integrated_gradients.hpp>
#include <ctnn/explain/occlusion.hpp>
#include <ctnn/explain/saliency.hpp>
#include <ctnn/explain/score.hpp>
#include <ctnn/layers/activation.hpp>
#include <ctnn/layers/batch_norm.hpp>
#include <ctnn/layers/conv.hpp>
#include <ctnn/layers/dense.hpp>
#include <ctnn/layers/dropout.hpp>
#include <ctnn/layers/pool.hpp>
#include <ctnn/layers/softmax_cross_entropy.hpp>
#include <ctnn/train/distillation.hpp>
#include <ctnn/train/optimizer.hpp>
#include <ctnn/train/pruning.hpp>
#include <ctnn/train/search.hpp>
#include <ctnn/train/update_mask.hpp>
