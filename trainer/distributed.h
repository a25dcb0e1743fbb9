// File: trainer/distributed.h
//
// Multi-process training of one DLRM with c10d and Gloo (trainer-internal: this header
// uses LibTorch types; code outside trainer/ sees only the TrainOptions fields
// world_size, rank, master_addr, master_port, dist_timeout_seconds and
// dist_replicate_below_rows of trainer/train.h).
//
//   - Communicator: rendezvous through a c10d TCPStore that rank 0 hosts at
//     master_addr:master_port, then a ProcessGroupGloo over it. Every collective waits
//     at most `timeout_seconds`; a dead or stuck peer makes it throw (a closed connection
//     fails at once), never hang.
//   - DistributedEmbedding: the embedding tables placed by trainer/planner.h. Replicated
//     tables look up the local examples and apply the whole global batch's gradient on
//     every rank (indices and pooled gradients all-gathered); model-parallel tables look
//     up the whole global batch on their owner and exchange pooled vectors and their
//     gradients with all-to-all.
//   - BuildDistributedModel: the MLPs and this rank's tables initialised exactly as a
//     single-process DLRM with the same seed would be (same generator draws, the other
//     ranks' tables drawn and discarded), so runs agree with single-process training.
//   - GradientReducer: MLP gradients are all-reduced (summed; the loss is already divided
//     by the global batch) in flattened buckets, started either from gradient hooks during
//     backward (overlap) or after it.
#ifndef HPO_TRAINER_DISTRIBUTED_H_
#define HPO_TRAINER_DISTRIBUTED_H_

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trainer/dlrm/dlrm.h"
#include "trainer/planner.h"

namespace hpo::trainer {

struct DistConfig {
  int world_size = 1;
  int rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  double timeout_seconds = 300;
};

class Communicator {
 public:
  // Blocks until all world_size ranks have joined (or the timeout passes). Throws
  // (c10::Error / std::runtime_error) on failure.
  static std::unique_ptr<Communicator> Connect(const DistConfig& config);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }

  // Sums `tensors` (float, contiguous) over the ranks in place, flattened into buckets
  // of at most `bucket_bytes` (one collective per bucket, all in flight together).
  void AllReduceSum(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 32 << 20);
  // A collective in flight.
  class Work {
   public:
    virtual ~Work() = default;
    // Blocks until the collective completes; throws if it failed or timed out.
    virtual void Wait() = 0;
  };
  // Starts summing the contiguous float tensor `t` over the ranks in place. Like every
  // collective, it must be started in the same order on every rank.
  std::unique_ptr<Work> StartAllReduceSum(const torch::Tensor& t);
  // Every rank's `t` (same shape and dtype everywhere), in rank order.
  std::vector<torch::Tensor> AllGather(const torch::Tensor& t);
  // Rows of `t` ([n_r, ...] with n_r differing per rank, same trailing shape and
  // dtype), all ranks' concatenated in rank order. `counts` (every rank's n_r) saves
  // one collective when the caller knows them.
  torch::Tensor AllGatherRows(const torch::Tensor& t, std::vector<int64_t> counts = {});
  // All-to-all of flat tensors: `in_counts[r]` elements of `input` go to rank r (in
  // order), `out_counts[r]` elements arrive from rank r. Returns the received elements.
  torch::Tensor AllToAll(const torch::Tensor& input, std::vector<int64_t> in_counts, std::vector<int64_t> out_counts);
  // Rank 0's value of a small tensor on every rank.
  torch::Tensor Broadcast(const torch::Tensor& t);
  void Barrier();

 private:
  struct Impl;
  Communicator(int rank, int world_size, std::unique_ptr<Impl> impl);
  int rank_, world_size_;
  std::unique_ptr<Impl> impl_;
};

// Sums the gradients of `params` (the MLPs) and `extra_values` more floats (the loss)
// over the ranks, in buckets of about `bucket_bytes` formed in reverse parameter order
// (the order in which backward produces the gradients); the extra values lead the first
// bucket. With `overlap`, hooks on the parameters copy each gradient into its bucket as
// backward produces it, and a bucket's all-reduce starts as soon as it is full (buckets
// start in order on every rank), so it runs on Gloo's threads while backward goes on.
// Without, Flush() copies and starts every bucket. The buckets and collectives are the
// same either way, so the sums are bit-identical. Per step:
//   reducer.Begin(extra); loss.backward(); reducer.Flush(); ...; extra = reducer.Wait();
// Not thread-safe; must outlive no backward pass it hooks (the destructor removes the
// hooks).
class GradientReducer {
 public:
  GradientReducer(Communicator* comm, std::vector<torch::Tensor> params, int64_t extra_values, bool overlap,
                  int64_t bucket_bytes = 1 << 20);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Starts a step: `extra` holds extra_values floats to sum alongside the gradients.
  void Begin(const torch::Tensor& extra);
  // After backward: starts the buckets not started yet (a parameter that got no gradient
  // counts as zero). Returns at once.
  void Flush();
  // Waits for every bucket, sets each parameter's grad to its sum (a view into the bucket
  // buffer, valid until the next Begin) and returns the summed extra values.
  torch::Tensor Wait();
  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Buckets started from a gradient hook, i.e. before backward had finished, over all steps.
  int64_t started_during_backward() const { return started_during_backward_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_, in bucket order
    torch::Tensor flat;          // [extra +] the gradients, flattened
    int pending = 0;             // gradients not yet copied in this step
    std::unique_ptr<Communicator::Work> work;
  };
  void OnGradient(size_t param, const torch::Tensor& grad);
  void CopyIn(size_t param, const torch::Tensor& grad);
  void StartReadyBuckets();

  Communicator* comm_;
  std::vector<torch::Tensor> params_;
  int64_t extra_values_;
  bool overlap_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<size_t, int64_t>> slot_;  // per parameter: bucket, offset
  std::vector<bool> copied_;                      // per parameter, this step
  std::vector<unsigned> hooks_;                   // per parameter, with overlap
  size_t next_start_ = 0;                         // first bucket not started
  bool in_step_ = false;
  int64_t started_during_backward_ = 0;
};

class DistributedEmbedding {
 public:
  DistributedEmbedding(Communicator* comm, TablePlan plan, std::vector<int64_t> table_sizes, int64_t dim, bool bf16);

  // Fills this rank's tables with the values SparseArch's constructor would give them
  // (uniform in +-sqrt(1/rows), table by table, from the global generator), drawing and
  // discarding the values of the tables held elsewhere.
  void InitTablesFromGenerator();

  // Collective. Exchanges the ranks' local indices [F, n] (int32, n may differ per rank
  // but is at most `max_rows` on every rank) and returns the pooled embeddings of the
  // local examples [n, F, D], float.
  torch::Tensor Forward(const torch::Tensor& local_indices, int64_t max_rows);
  // Collective. Applies `grad` [n, F, D] (the gradient of Forward's output; the loss is
  // already divided by the global batch) for the batch of the last Forward.
  void Backward(const torch::Tensor& grad, const SparseUpdate& update);

  // Global batch size and per-rank sizes of the last Forward.
  int64_t global_batch() const { return global_n_; }
  const std::vector<int64_t>& rank_batches() const { return counts_; }
  const TablePlan& plan() const { return plan_; }
  // Bytes of the tables this rank holds.
  int64_t local_bytes() const;

 private:
  Communicator* comm_;
  TablePlan plan_;
  std::vector<int64_t> sizes_;
  int64_t dim_;
  bool bf16_;
  std::vector<int64_t> rep_ids_;                 // replicated tables (global ids)
  std::vector<std::vector<int64_t>> owned_ids_;  // per rank: model-parallel tables it owns
  torch::Tensor rep_index_, own_index_;          // int64 index tensors of rep_ids_ / my owned ids
  SparseArch rep_arch_{nullptr}, own_arch_{nullptr};
  // State of the last Forward.
  std::vector<int64_t> counts_;
  int64_t global_n_ = 0;
  torch::Tensor global_indices_;                 // [F, N] int32
  torch::Tensor rep_global_, own_global_;        // [F_rep, N], [F_own, N] int32
};

// A DLRM whose MLPs are initialised as DLRM(options) would be after
// torch::manual_seed(seed), with `embedding`'s tables initialised alongside (its own
// sparse_arch holds one-row placeholder tables and must not be used).
DLRM BuildDistributedModel(const DlrmOptions& options, uint64_t seed, DistributedEmbedding& embedding);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DISTRIBUTED_H_
