// File: server/optimizer/sampling_optimizer.h
//
// Common machinery of the model-free optimizers ("random", "quasi_random"): a subclass only
// says which point of [0, 1)^d stands for sequence index n; this class decodes it
// (search_space_codec.h), enforces the linear constraints and keeps proposals distinct.
//
// Suggest(history, count) proposes, for i = 0 .. count-1, the point of sequence index
// n = history.suggestion_count + i, so successive calls continue the sequence and the result
// is a pure function of (experiment, seed, history).
//
// - Defaults: when n == 0 and every parameter active under the first value of each
//   conditional has a default_value (and the completed assignment is valid), the very first
//   proposal is that assignment, with source "default".
// - Linear constraints: a violating point is rejected and redrawn (attempt a >= 1 uses a
//   uniform point seeded by (seed, n, a)). After kRejectionAttempts failures, each further
//   attempt is repaired instead (space::ConstraintFeasibility::Repair: exact discrete values
//   near the drawn ones, continuous values by hit-and-run from the max-slack centre), moving to
//   a branch known to be feasible if the drawn conditional values admit no point. Within the
//   repaired region the distribution is no longer the sequence's, which is the price of thin
//   feasible regions.
// - Distinctness: a proposal equal to an earlier one of the same call or to one of
//   history.pending is redrawn, up to kDistinctAttempts times; after that a duplicate is
//   accepted (a small discrete space may simply be exhausted).
// Not thread-safe; Suggest does not change the object.
#ifndef HPO_SERVER_OPTIMIZER_SAMPLING_OPTIMIZER_H_
#define HPO_SERVER_OPTIMIZER_SAMPLING_OPTIMIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"
#include "server/optimizer/optimizer.h"
#include "server/optimizer/search_space_codec.h"

namespace hpo::optimizer {

class SamplingOptimizer : public Optimizer {
 public:
  // Redraws of a point that violates a constraint before repair kicks in.
  static constexpr int kRejectionAttempts = 64;
  // Attempts (rejections plus repairs) before giving up on one proposal.
  static constexpr int kMaxAttempts = 256;
  // Redraws of a duplicate before accepting it.
  static constexpr int kDistinctAttempts = 32;

  // `experiment` must be valid; it is copied. `source` labels the proposals.
  SamplingOptimizer(const hpo::v1::Experiment& experiment, std::string source);

  // See the file comment. Returns INVALID_ARGUMENT if count < 1, INTERNAL if no feasible
  // point was found for some proposal.
  absl::StatusOr<std::vector<Proposal>> Suggest(const History& history, int count) override;

 protected:
  // The point of [0, 1)^dimension for sequence index `index` (>= 0).
  virtual std::vector<double> SequencePoint(int64_t index) const = 0;

  uint64_t seed() const { return experiment_.optimizer().seed(); }
  const SearchSpaceCodec& codec() const { return codec_; }

 private:
  hpo::v1::Experiment experiment_;
  SearchSpaceCodec codec_;
  std::string source_;
};

// A stable text key of an assignment (sorted names and values), for duplicate detection.
std::string AssignmentKey(const hpo::v1::Assignment& assignment);

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_SAMPLING_OPTIMIZER_H_
