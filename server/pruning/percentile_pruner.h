// File: server/pruning/percentile_pruner.h
//
// The median and percentile rules (Optuna 3.1's MedianPruner and PercentilePruner).
//
// Single watched metric, at the trial's last reported step `s`:
//   1. No decision while fewer than `startup_trials` trials are completed (and never with none).
//   2. No decision while s < warmup_steps.
//   3. Checks happen only at the first reported step at or after warmup + k * interval_steps.
//   4. The trial's value is its best over all its reported steps (nan-ignoring), as in Optuna;
//      if every value is NaN the trial is stopped.
//   5. The reference is numpy.nanpercentile of the completed trials' values at `s`, at
//      percentile p (minimize) or 100 - p (maximize); median is p = 50. A completed trial gives
//      its value at exactly `s` (Optuna), or, when cadences differ and its curve goes past `s`,
//      its value at the last step before `s`; a curve that ended before `s` is left out. With
//      fewer than n_min_trials (1) such values there is no decision.
//   6. Stop when the trial's best is strictly worse than the reference.
// So percentile p keeps roughly the best p percent of trials at every step.
//
// Two watched metrics (two optimized metrics and no PrunerConfig.metric): steps 1-3 as above;
// the trial's point is its per-metric best over its steps (the ideal point of its curve), each
// completed trial's point is its pair of values at `s` (rule 5's step choice). The trial stops
// when the share of those points that Pareto-dominate its point is larger than p / 100 (more than
// half of them for the median). A trial on the Pareto front of its peers is never stopped, and
// with one metric this is, up to interpolation, the single-metric rule.
#ifndef HPO_SERVER_PRUNING_PERCENTILE_PRUNER_H_
#define HPO_SERVER_PRUNING_PERCENTILE_PRUNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

struct PercentilePrunerOptions {
  double percentile = 50.0;         // in (0, 100): keep about the best `percentile` percent
  int32_t startup_trials = 5;       // completed trials needed before any decision
  int64_t warmup_steps = 0;         // no decision before this step
  int64_t interval_steps = 1;       // >= 1
  int32_t min_trials = 1;           // values needed at the step (Optuna's n_min_trials)
  std::string rule = "percentile";  // "median" for the median pruner
};

class PercentilePruner final : public Pruner {
 public:
  // `metrics` holds one or two watched metrics; options must be valid (see CreatePruner).
  PercentilePruner(std::vector<WatchedMetric> metrics, PercentilePrunerOptions options);

  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

 private:
  std::vector<WatchedMetric> metrics_;
  PercentilePrunerOptions options_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_PERCENTILE_PRUNER_H_
