// File: trainer/dlrm/dlrm.h
//
// The DLRM model (Naumov et al. 2019) as LibTorch modules with TorchRec's names:
//
//   dense [B, num_dense] -> DenseArch (bottom MLP, ReLU)              -> [B, D]
//   indices [F, B]       -> SparseArch (embedding bags, sum pooling)  -> [B, F, D]
//   both                 -> InteractionArch (fused pairwise dots)     -> [B, D + P]
//                        -> OverArch (top MLP, ReLU, last layer linear) -> logit [B]
//
// B = batch, F = sparse features (tables), D = embedding dim, P = (F+1)F/2 pairs.
//
// Embedding tables are not autograd parameters: SparseArch's forward returns pooled
// vectors, the caller makes them a leaf that requires grad, and after backward hands
// their gradient to SparseArch::ApplyGradient, which updates only the touched rows (the
// full-table gradient is never formed). Internal to trainer/: this header pulls in
// LibTorch; code outside trainer/ uses trainer/train.h.
// Constructors validate their options and throw c10::Error (TORCH_CHECK) on violation;
// Train() converts that to absl::Status. Modules are not thread-safe.
#ifndef HPO_TRAINER_DLRM_DLRM_H_
#define HPO_TRAINER_DLRM_DLRM_H_

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <vector>

#include "trainer/dlrm/dlrm_options.h"
#include "trainer/optim/optim_kernels.h"

namespace hpo::trainer {

// Bottom MLP: Linear+ReLU layers num_dense -> bottom_mlp[0] -> ... -> D.
class DenseArchImpl : public torch::nn::Module {
 public:
  DenseArchImpl(int64_t in_features, const std::vector<int64_t>& widths);
  // dense [B, num_dense] -> [B, D]
  torch::Tensor forward(const torch::Tensor& dense);
  std::vector<torch::nn::Linear> layers;
};
TORCH_MODULE(DenseArch);

// How SparseArch::ApplyGradient updates the touched rows.
struct SparseUpdate {
  enum class Kind { kSgd, kAdagrad, kLamb, kSplitSgd } kind = Kind::kSgd;
  float lr = 0.1f;
  int64_t step = 1;  // 1-based, for LAMB's bias correction
  LambHyper lamb;
  float adagrad_eps = 1e-8f;
  float adagrad_init = 0.0f;
};

// F embedding tables with sum pooling over bags (one-hot bags for Criteo).
class SparseArchImpl : public torch::nn::Module {
 public:
  // Tables are initialised uniformly in +-sqrt(1/rows), as in the reference DLRM, with
  // the global LibTorch generator. `bf16` stores them split for split-SGD.
  SparseArchImpl(const std::vector<int64_t>& table_sizes, int64_t dim, bool bf16);
  // indices [F, B] int32 (one row per table per example), or with `offsets`
  // [F * B + 1] int32 a bag per (table, example): indices[offsets[f*B+b] ..
  // offsets[f*B+b+1]) flattened table-major. Returns pooled [B, F, D] (float, or the
  // tables' dtype), without autograd history. Throws c10::Error on an out-of-range row.
  torch::Tensor forward(const torch::Tensor& indices, const torch::Tensor& offsets = {});
  // Applies `grad` [B, F, D] (the gradient of forward's output) to the rows named by
  // the same indices/offsets. Duplicate rows in a batch are summed first where the
  // optimizer is not linear in the gradient (Adagrad, LAMB).
  void ApplyGradient(const torch::Tensor& grad, const torch::Tensor& indices,
                     const torch::Tensor& offsets, const SparseUpdate& update);
  // Table f as FP32 [rows, D] (a view for FP32 tables, a converted copy for BF16).
  torch::Tensor table(int64_t f) const;
  int64_t num_tables() const { return static_cast<int64_t>(sizes_.size()); }
  int64_t dim() const { return dim_; }
  bool bf16() const { return bf16_; }
  // Casts FP32 tables to double (for gradient checks; not supported with bf16).
  void ToDouble();

 private:
  std::vector<int64_t> sizes_;
  int64_t dim_;
  bool bf16_;
  std::vector<torch::Tensor> tables_;  // FP32 [rows, D], or BF16 upper halves
  std::vector<torch::Tensor> lower_;   // bf16: int16 lower halves [rows, D]
  std::vector<torch::Tensor> state1_;  // Adagrad accumulator / LAMB m, lazily created
  std::vector<torch::Tensor> state2_;  // LAMB v
};
TORCH_MODULE(SparseArch);

// Pairwise dot products of the dense vector and the pooled embeddings, fused (see
// trainer/dlrm/interaction_arch.h), with its own backward.
class InteractionArchImpl : public torch::nn::Module {
 public:
  InteractionArchImpl(int64_t num_sparse, bool self);
  // dense [B, D], sparse [B, F, D] -> [B, D + P]  (float or double)
  torch::Tensor forward(const torch::Tensor& dense, const torch::Tensor& sparse);
  int64_t output_dim(int64_t dim) const;

 private:
  int64_t num_sparse_;
  bool self_;
};
TORCH_MODULE(InteractionArch);

// Top MLP: Linear+ReLU layers, the last one linear, ending in width 1.
class OverArchImpl : public torch::nn::Module {
 public:
  OverArchImpl(int64_t in_features, const std::vector<int64_t>& widths);
  // [B, D + P] -> logits [B]
  torch::Tensor forward(const torch::Tensor& x);
  std::vector<torch::nn::Linear> layers;
};
TORCH_MODULE(OverArch);

class DLRMImpl : public torch::nn::Module {
 public:
  explicit DLRMImpl(const DlrmOptions& options);
  // dense [B, num_dense], pooled [B, F, D] (from sparse_arch) -> logits [B]
  torch::Tensor forward(const torch::Tensor& dense, const torch::Tensor& pooled);
  // dense [B, num_dense], indices [F, B] -> logits [B] (evaluation convenience)
  torch::Tensor Predict(const torch::Tensor& dense, const torch::Tensor& indices);
  // Parameters of the MLPs (everything but the embedding tables).
  std::vector<torch::Tensor> DenseParameters() { return parameters(); }
  int64_t NumParameters() const;

  const DlrmOptions& options() const { return options_; }
  DenseArch dense_arch{nullptr};
  SparseArch sparse_arch{nullptr};
  InteractionArch interaction_arch{nullptr};
  OverArch over_arch{nullptr};

 private:
  DlrmOptions options_;
};
TORCH_MODULE(DLRM);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DLRM_DLRM_H_
