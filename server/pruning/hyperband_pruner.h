// File: server/pruning/hyperband_pruner.h
//
// Hyperband (Optuna 3.1's HyperbandPruner): several successive-halving brackets that differ in
// how early they start stopping trials; each trial belongs to one bracket, chosen by hashing it,
// and competes only with the trials of its bracket.
//
//   max_resource: the configured value; else TrainingSpec.max_steps; else Optuna's estimate,
//                 max(last step of completed trials) + 1, with no decision while none completed.
//   n_brackets  = floor(log(max_resource / min_resource) / log(reduction_factor)) + 1
//                 (no decision when that is < 1).
//   budget(b)   = ceil(n_brackets * reduction_factor^s / (s + 1)), s = n_brackets - 1 - b.
//   bracket     = the first b with crc32("<experiment id>_<trial id>") % sum(budget) <
//                 budget(0) + ... + budget(b) (Optuna hashes "<study name>_<trial number>").
//   bracket b runs successive halving (successive_halving_pruner.h) with min_resource,
//   reduction_factor and min_early_stopping_rate = b over the trials of bracket b.
// Two watched metrics: as in successive halving.
#ifndef HPO_SERVER_PRUNING_HYPERBAND_PRUNER_H_
#define HPO_SERVER_PRUNING_HYPERBAND_PRUNER_H_

#include <cstdint>
#include <vector>

#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

struct HyperbandPrunerOptions {
  int64_t experiment_id = 0;     // hashed with the trial id
  int64_t min_resource = 1;      // >= 1
  int64_t max_resource = 0;      // >= min_resource, or 0 for "auto" (see above)
  int64_t max_steps = 0;         // TrainingSpec.max_steps, for "auto"; 0 = unknown
  int32_t reduction_factor = 3;  // >= 2
};

class HyperbandPruner final : public Pruner {
 public:
  // `metrics` holds one or two watched metrics; options must be valid (see CreatePruner).
  HyperbandPruner(std::vector<WatchedMetric> metrics, HyperbandPrunerOptions options);

  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

  // The bracket of `trial_id` and the number of brackets for `max_resource`; -1 when there is
  // no bracket (fewer than one). Deterministic.
  int BracketOf(int64_t trial_id, int64_t max_resource) const;
  int BracketCount(int64_t max_resource) const;

 private:
  std::vector<WatchedMetric> metrics_;
  HyperbandPrunerOptions options_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_HYPERBAND_PRUNER_H_
