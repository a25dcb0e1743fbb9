// File: trainer/dlrm/dlrm_options.h
//
// Configuration of the DLRM model (trainer/dlrm/dlrm.h), built LibTorch-style:
//   auto options = DlrmOptions({1460, 583, ...}).embedding_dim(16)
//                      .bottom_mlp({512, 256, 64, 16}).top_mlp({512, 256, 1});
// Only <torch/arg.h> (a macro) is included, so this header is cheap.
#ifndef HPO_TRAINER_DLRM_DLRM_OPTIONS_H_
#define HPO_TRAINER_DLRM_DLRM_OPTIONS_H_

#include <torch/arg.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace hpo::trainer {

struct DlrmOptions {
  explicit DlrmOptions(std::vector<int64_t> table_sizes) : table_sizes_(std::move(table_sizes)) {}
  // Rows of each embedding table (F tables).
  TORCH_ARG(std::vector<int64_t>, table_sizes);
  // Width of the dense input (13 for Criteo).
  TORCH_ARG(int64_t, num_dense_features) = 13;
  // Embedding width D; the bottom MLP's last width must equal it.
  TORCH_ARG(int64_t, embedding_dim) = 16;
  // Output widths of the bottom MLP layers (input width implied).
  TORCH_ARG(std::vector<int64_t>, bottom_mlp) = std::vector<int64_t>{512, 256, 64, 16};
  // Output widths of the top MLP layers; the last must be 1 (the logit).
  TORCH_ARG(std::vector<int64_t>, top_mlp) = std::vector<int64_t>{512, 256, 1};
  // Include z_i . z_i terms in the interaction.
  TORCH_ARG(bool, interaction_self) = false;
  // Store embedding tables as BF16 upper halves plus lower halves (split-SGD).
  TORCH_ARG(bool, bf16) = false;
};

// InvalidArgument naming the first inconsistency: no tables, a table size outside
// [1, 2^31-1], non-positive widths, bottom MLP not ending in embedding_dim, top MLP not
// ending in 1.
absl::Status ValidateDlrmOptions(const DlrmOptions& options);

// Multiply-adds of one example's forward pass (MLPs and interaction; the embedding
// gathers are memory traffic, not arithmetic).
double ForwardMacsPerSample(const DlrmOptions& options);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DLRM_DLRM_OPTIONS_H_
