// File: trainer/planner.h
//
// Placement of DLRM embedding tables over the ranks of a distributed run (plain C++, no
// LibTorch, unit-tested in tests/trainer/distributed/planner_test.cc).
//
//   - A table with fewer rows than `replicate_below_rows` is *replicated*: every rank
//     holds a copy, looks up its own examples (data parallel) and applies the whole
//     global batch's gradient, so the copies stay identical. Small tables cost little
//     memory and this saves their all-to-all (the idea of Intel's DLRM sparse/dense
//     boundary: small tables are handled like dense parameters).
//   - Every other table is *model parallel*: it lives on exactly one rank, which looks
//     up the whole global batch for it and sends each rank its part of the pooled
//     vectors (all-to-all), and receives their gradients back.
//
// Model-parallel tables are placed greedily, largest first (by the sum of their memory
// and lookup shares), each on the rank whose worse share (memory or lookup cost,
// each as a fraction of the ideal per-rank share) grows least; ties go to the lower rank.
// The plan is a pure function of its inputs, so every rank computes the same one.
//
// Memory budget (`rank_memory_budget_bytes` > 0): no rank may hold more table bytes than
// the budget, replicas counting on every rank. When the balanced choice for a table does
// not fit, it goes to the rank with the most free room. If the replicated tables leave
// too little room, replicated tables are demoted to model parallel, largest first (each
// then costs its bytes on one rank instead of on all) until the plan fits. If nothing
// fits, PlanTables returns ResourceExhausted (the options are valid; the model is too
// large for these ranks), naming the budget, the total and largest table bytes, and a
// lower bound on the ranks needed. Tables are never split, so a table larger than the
// budget fits on no number of ranks.
#ifndef HPO_TRAINER_PLANNER_H_
#define HPO_TRAINER_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hpo::trainer {

struct PlannerOptions {
  int world_size = 1;
  int64_t embedding_dim = 16;
  // Tables with fewer rows are replicated on every rank (0: none is).
  int64_t replicate_below_rows = 100'000;
  // Lookups per example of each table (pooling factor); empty means 1 for every table
  // (one-hot Criteo features). The lookup cost of a table is pooling * dim.
  std::vector<double> pooling;
  // Bytes per embedding value on its rank: 4 for FP32 weights (or split BF16), plus the
  // sparse optimizer's per-value state (Adagrad +4, LAMB +8).
  int64_t bytes_per_value = 4;
  // Most table bytes (rows * dim * bytes_per_value, replicas included) any rank may
  // hold; 0: unlimited.
  int64_t rank_memory_budget_bytes = 0;
};

struct TablePlan {
  static constexpr int kReplicated = -1;
  // Per table: the owning rank, or kReplicated.
  std::vector<int> owner;
  // Per rank: bytes of embedding tables held (rows * dim * bytes_per_value, replicas
  // included) and
  // lookup cost per global example (model-parallel tables count fully on their owner,
  // replicated ones 1/world_size on every rank).
  std::vector<int64_t> rank_bytes;
  std::vector<double> rank_lookup_cost;
  // The budget planned for (0: unlimited), and the tables below the replication
  // threshold that were made model parallel to meet it (ascending).
  int64_t budget_bytes = 0;
  std::vector<int64_t> demoted;

  bool replicated(size_t table) const { return owner[table] == kReplicated; }
  // Tables (global ids, ascending) that `rank` owns, and the replicated ones.
  std::vector<int64_t> OwnedBy(int rank) const;
  std::vector<int64_t> Replicated() const;
  // For logs, one clause per rank:
  // "rank 0: tables [2,11] + 20 replicated, 130.2 MiB of 200.0 MiB budget, lookup cost 41.6; ..."
  // followed by the demoted tables, if any.
  std::string Describe() const;
};

// InvalidArgument if world_size < 1, embedding_dim < 1, bytes_per_value < 1, the budget
// is negative, a table has < 1 row, or `pooling` is neither empty nor one positive value
// per table. ResourceExhausted if the tables do not fit the budget (see above).
absl::StatusOr<TablePlan> PlanTables(const std::vector<int64_t>& table_rows, const PlannerOptions& options);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_PLANNER_H_
