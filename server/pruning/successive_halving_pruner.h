// File: server/pruning/successive_halving_pruner.h
//
// Asynchronous successive halving (ASHA; Optuna 3.1's SuccessiveHalvingPruner), rebuilt from the
// stored curves at every call instead of Optuna's per-trial "completed_rung_k" attributes.
//
// Rung r is reached at step min_resource * reduction_factor^(min_early_stopping_rate + r).
// A trial's value at rung r is its value at its first reported step at or after that step.
// When the trial's last reported step `s` reaches rungs it had not reached at its previous
// reported step, each such rung is checked in turn (several at once when its cadence skips
// rungs, as Optuna's loop does):
//   - a NaN value stops the trial;
//   - the competitors are the rung values of every other trial that reached the rung (any state:
//     running, completed, pruned, failed), plus the trial's own (its current value);
//   - with n competitors, the trial is promoted if it is among the best max(n / reduction_factor,
//     1) of them, ties in its favour (Optuna: for the first reduction_factor - 1 arrivals only the
//     best so far goes on); otherwise it stops.
// A pruned peer counts at the rungs it passed before its last checkpoint and at the first rung it
// reached at its last checkpoint (where it was stopped), not at higher rungs its last step also
// reaches. min_resource: the configured value; else TrainingSpec.max_steps / 100 (at least 1); else
// Optuna's estimate, max(last step of completed trials) / 100 (at least 1), with no decision while
// no trial is completed (computed at every call; Optuna freezes its first estimate).
//
// Two watched metrics: the competitors are ranked by non-dominated sorting (Pareto rank, then
// crowding distance within a front, larger first). The trial goes on if it is on the first front
// (nobody dominates it) or fewer than max(n / reduction_factor, 1) competitors are strictly
// ahead of it in that order.
#ifndef HPO_SERVER_PRUNING_SUCCESSIVE_HALVING_PRUNER_H_
#define HPO_SERVER_PRUNING_SUCCESSIVE_HALVING_PRUNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

struct SuccessiveHalvingPrunerOptions {
  int64_t min_resource = 0;             // >= 1, or 0 for "auto" (see above)
  int64_t max_steps = 0;                // TrainingSpec.max_steps, for "auto"; 0 = unknown
  int32_t reduction_factor = 4;         // >= 2
  int32_t min_early_stopping_rate = 0;  // >= 0
};

// The rung step of `rung` (saturates at INT64_MAX).
int64_t RungStep(int64_t min_resource, int32_t reduction_factor, int32_t min_early_stopping_rate,
                 int64_t rung);

// The ASHA decision for `trial` against `peers` with a known min_resource; shared with Hyperband,
// which passes the trials of the trial's bracket and its own rule name and reason prefix.
Decision SuccessiveHalvingDecision(const TrialCurve& trial,
                                   const std::vector<const TrialCurve*>& peers,
                                   const std::vector<WatchedMetric>& metrics, int64_t min_resource,
                                   int32_t reduction_factor, int32_t min_early_stopping_rate,
                                   const std::string& rule, const std::string& context);

class SuccessiveHalvingPruner final : public Pruner {
 public:
  // `metrics` holds one or two watched metrics; options must be valid (see CreatePruner).
  SuccessiveHalvingPruner(std::vector<WatchedMetric> metrics,
                          SuccessiveHalvingPrunerOptions options);

  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

 private:
  std::vector<WatchedMetric> metrics_;
  SuccessiveHalvingPrunerOptions options_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_SUCCESSIVE_HALVING_PRUNER_H_
