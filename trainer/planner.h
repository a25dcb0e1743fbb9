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
};

struct TablePlan {
  static constexpr int kReplicated = -1;
  // Per table: the owning rank, or kReplicated.
  std::vector<int> owner;
  // Per rank: bytes of embedding tables held (rows * dim * 4, replicas included) and
  // lookup cost per global example (model-parallel tables count fully on their owner,
  // replicated ones 1/world_size on every rank).
  std::vector<int64_t> rank_bytes;
  std::vector<double> rank_lookup_cost;

  bool replicated(size_t table) const { return owner[table] == kReplicated; }
  // Tables (global ids, ascending) that `rank` owns, and the replicated ones.
  std::vector<int64_t> OwnedBy(int rank) const;
  std::vector<int64_t> Replicated() const;
  // One line per rank, for logs: "rank 0: tables 3,7 (12.5 MB, cost 32) + 20 replicated (1.2 MB)".
  std::string Describe() const;
};

// InvalidArgument if world_size < 1, embedding_dim < 1, a table has < 1 row, or
// `pooling` is neither empty nor one positive value per table.
absl::StatusOr<TablePlan> PlanTables(const std::vector<int64_t>& table_rows, const PlannerOptions& options);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_PLANNER_H_
