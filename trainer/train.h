// File: trainer/train.h
//
// The trainer's public boundary: plain structs in, plain structs out, no LibTorch types.
// The worker (and the `dlrm-train` binary) describe a DLRM training run with
// `TrainOptions`, call `Train()`, and observe progress through a `ProgressCallback`
// that may stop the run (the pruning hook). The trainer knows nothing of gRPC or the
// experiment service; mapping an assignment onto `TrainOptions` is the worker's job.
//
//   hpo::trainer::TrainOptions options;
//   options.data.source = hpo::trainer::DataSource::kSynthetic;
//   options.optimizer = "hybrid";
//   options.learning_rate = 0.05;
//   auto result = hpo::trainer::Train(options, [](const hpo::trainer::StepMetrics& m) {
//     return m.eval_auc < 0.6 && m.step > 1000 ? hpo::trainer::Decision::kStop
//                                               : hpo::trainer::Decision::kContinue;
//   });
//
// Including this header costs nothing of LibTorch: everything torch lives in trainer/*.cc.
#ifndef HPO_TRAINER_TRAIN_H_
#define HPO_TRAINER_TRAIN_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hpo::trainer {

// Where training and evaluation examples come from.
enum class DataSource {
  // Generated on the fly by the planted-truth generator (trainer/data/synthetic.h);
  // the test split's Bayes-optimal AUC is reported in TrainResult.
  kSynthetic,
  // The memory-mapped binary format written by `dlrm-datagen` (trainer/data/binary_format.h).
  kBinary,
  // Criteo Kaggle/Terabyte TSV text, parsed into memory (small files; convert large
  // ones to the binary format first).
  kTsv,
};

struct DataOptions {
  DataSource source = DataSource::kSynthetic;
  // kBinary/kTsv: training file. Required.
  std::string train_path;
  // kBinary/kTsv: held-out file. If empty, the last `test_fraction` of the training
  // file's examples are held out instead (and never trained on).
  std::string test_path;
  double test_fraction = 0.1;
  // kSynthetic: number of held-out examples (generated once, fixed by `seed`).
  int64_t synthetic_test_examples = 65536;
  // kSynthetic: seed of the planted ground truth (independent of the training seed, so
  // runs with different training seeds see the same problem).
  uint64_t synthetic_seed = 1;
  // Examples in the shuffling buffer of the loader (1 = no shuffling).
  int64_t shuffle_buffer = 65536;
  // Batches prepared ahead by the background loader thread.
  int prefetch_batches = 4;
};

// A complete description of a run. Every field has a usable default: the defaults are
// a small synthetic problem that trains in seconds.
struct TrainOptions {
  // ---- Model ----
  // Rows of each embedding table; one table per categorical feature (Criteo: 26).
  // Empty means: derive from the data (binary header) or, for synthetic data, the
  // Criteo Kaggle cardinalities scaled by `synthetic_table_scale` and capped at
  // `max_table_rows`.
  std::vector<int64_t> table_sizes;
  double synthetic_table_scale = 0.001;
  int64_t max_table_rows = 1'000'000;
  int64_t num_sparse_features = 26;  // used only when table_sizes is derived
  int64_t num_dense_features = 13;
  int64_t embedding_dim = 16;
  // Hidden and output widths of the bottom MLP, without the input width; the last must
  // equal embedding_dim. Criteo: {512, 256, 64, 16}.
  std::vector<int64_t> bottom_mlp = {64, 16};
  // Hidden widths of the top MLP; a final width-1 layer producing the logit is implied
  // when the last entry is not 1. Criteo: {512, 256, 1}.
  std::vector<int64_t> top_mlp = {64, 1};
  // Include each vector's dot product with itself in the interaction.
  bool interaction_self = false;
  // Keep weights in BF16 (requires optimizer "split_sgd"); math stays FP32 here.
  bool bf16 = false;

  // ---- Optimization ----
  // "sgd", "adagrad", "lamb", "hybrid" (LAMB for MLPs, SGD for embeddings) or
  // "split_sgd" (SGD on BF16 weights with the low 16 bits kept separately).
  std::string optimizer = "sgd";
  double learning_rate = 0.1;
  // LAMB/hybrid: Adam moments and decoupled weight decay.
  double lamb_beta1 = 0.9;
  double lamb_beta2 = 0.999;
  double lamb_epsilon = 1e-6;
  double weight_decay = 0.0;
  // Adagrad: initial accumulator and epsilon.
  double adagrad_initial_accumulator = 0.0;
  double adagrad_epsilon = 1e-8;
  // Schedule (MLPerf DLRM): linear warmup over the first `warmup_steps` steps, then the
  // base rate, then from `decay_start_step` a polynomial decay of `decay_power` over
  // `decay_steps` steps down to `end_learning_rate`, which is kept afterwards.
  // decay_steps == 0 disables the decay.
  int64_t warmup_steps = 0;
  int64_t decay_start_step = 0;
  int64_t decay_steps = 0;
  double decay_power = 2.0;
  double end_learning_rate = 0.0;

  // ---- Loop ----
  int64_t batch_size = 2048;
  int64_t eval_batch_size = 16384;
  // Stop after this many optimizer steps (0: no limit) or epochs (0: no limit; ignored
  // for synthetic data, which is endless). At least one limit must be set.
  int64_t max_steps = 1000;
  int64_t max_epochs = 0;
  // Evaluate on the held-out split and call the progress callback every `eval_every`
  // steps (0: only at the end). The end of training always evaluates.
  int64_t eval_every = 0;
  // Held-out examples used per evaluation (0: all).
  int64_t eval_examples = 0;
  // Intra-op threads (torch::set_num_threads). The result is deterministic for a seed
  // at threads == 1.
  int threads = 1;
  uint64_t seed = 0;
  DataOptions data;

  // ---- Distributed (one trial, several processes; docs/design.md "Distributed training") ----
  // world_size > 1: this process is rank `rank` of `world_size`, which rendezvous through
  // a TCP store that rank 0 hosts at master_addr:master_port and train one model
  // together with c10d/Gloo: each rank trains on its batch_size / world_size part of
  // every global batch (batch_size stays the global batch) and reads only that part of
  // the data (a rank's part is empty when a batch has fewer examples than ranks); MLP
  // gradients are all-reduced; embedding tables with fewer than
  // dist_replicate_below_rows rows are replicated, the others live on one rank each.
  // Every rank gets the same TrainResult (but rank_table_bytes); the progress callback runs on rank 0 only and
  // its decision applies to all. A collective that waits longer than
  // dist_timeout_seconds (a dead or stuck rank) fails the run with Unavailable.
  int world_size = 1;
  int rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double dist_timeout_seconds = 300;
  int64_t dist_replicate_below_rows = 100'000;
  // Start each bucket's MLP gradient all-reduce from a gradient hook as soon as backward
  // has produced its gradients, instead of after backward (same result either way; see
  // docs/design.md for when it pays).
  bool dist_overlap_allreduce = false;
  // Most bytes of MLP gradients per all-reduce (0: 1 MiB with overlap, else 32 MiB, i.e.
  // one bucket for DLRM's MLPs). Sums are bit-identical with and without overlap at the
  // same bucket size; other sizes may change float rounding on 3 or more ranks.
  int64_t dist_allreduce_bucket_bytes = 0;
  // Most bytes of embedding tables one rank may hold (weights plus the sparse optimizer's
  // per-value state: SGD/split-SGD 4 bytes per value, Adagrad 8, LAMB 12); 0: unlimited.
  // Tables are placed to fit (trainer/planner.h); if they cannot be, Train() returns
  // ResourceExhausted before training, naming the ranks needed. Applies to world_size 1
  // too (one rank holds every table).
  int64_t rank_memory_budget_bytes = 0;
};

// One observation of a run, delivered at every evaluation.
struct StepMetrics {
  int64_t step = 0;                  // optimizer steps completed
  int64_t examples = 0;              // training examples consumed
  double elapsed_seconds = 0.0;      // wall time since training started (excl. setup)
  double learning_rate = 0.0;        // rate used by the last step
  double train_loss = 0.0;           // mean BCE over the steps since the previous report
  double eval_auc = 0.0;             // exact ROC AUC on the held-out examples
  double eval_logloss = 0.0;         // mean BCE on the held-out examples
  double samples_per_second = 0.0;   // training throughput since the previous report
};
// Kept for readers who know the worker's vocabulary: a checkpoint is a reported step.
using Checkpoint = StepMetrics;

// What the progress callback wants next.
enum class Decision { kContinue, kStop };

// Called on the training thread at every evaluation, including the final one. Must not
// block for long; returning kStop ends the run after this step (TrainResult::outcome is
// kStopped).
using ProgressCallback = std::function<Decision(const StepMetrics&)>;

enum class TrainOutcome {
  kCompleted,  // reached max_steps / max_epochs
  kStopped,    // the callback returned kStop
  kDiverged,   // the loss became NaN or infinite; `failure_reason` says where
};

struct TrainResult {
  TrainOutcome outcome = TrainOutcome::kCompleted;
  // Set when outcome == kDiverged, e.g. "training loss is nan at step 57 (lr 10)".
  // The worker reports such a trial as failed with this reason.
  std::string failure_reason;
  StepMetrics final_metrics;            // the last evaluation (absent fields stay 0)
  std::vector<StepMetrics> history;     // every evaluation, in order
  // Synthetic data only: AUC of the true click probabilities on the held-out examples
  // that were evaluated (the ceiling any model can reach there).
  std::optional<double> bayes_auc;
  double train_seconds = 0.0;           // time inside training steps only
  double train_samples_per_second = 0.0;
  int64_t parameters = 0;               // model parameters, embeddings included
  int64_t rank_table_bytes = 0;         // table bytes this rank holds, as planned
  double flops_per_sample = 0.0;        // forward + backward, multiply-add = 2 FLOPs
};

// Trains a DLRM as described by `options`, calling `progress` (may be empty) at each
// evaluation. Returns:
//   - InvalidArgument for inconsistent options (bad sizes, unknown optimizer, ...),
//   - ResourceExhausted if the tables do not fit rank_memory_budget_bytes (or memory
//     runs out building the model),
//   - NotFound / DataLoss / InvalidArgument for unreadable or malformed data (the
//     message names the file and, for text, the line),
//   - Internal for unexpected LibTorch errors;
// divergence is not an error status: it is reported as TrainOutcome::kDiverged.
// Thread-compatible: concurrent calls are safe only if they agree on `threads`, because
// LibTorch's intra-op thread count is process-wide.
absl::StatusOr<TrainResult> Train(const TrainOptions& options, ProgressCallback progress);

// Checks `options` without training (the same checks Train() does first).
absl::Status ValidateTrainOptions(const TrainOptions& options);

// Parses an optimizer or data-source name as used by flags and assignments.
absl::StatusOr<DataSource> ParseDataSource(const std::string& name);

// Returns the Criteo Kaggle cardinalities scaled by `scale` (at least 3 rows each, the
// smallest Criteo table) and capped at `max_rows`.
std::vector<int64_t> CriteoKaggleTableSizes(double scale, int64_t max_rows);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_TRAIN_H_
