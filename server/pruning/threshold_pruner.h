// File: server/pruning/threshold_pruner.h
//
// The threshold rule (Optuna 3.1's ThresholdPruner): at the trial's last reported step `s`, after
// warmup (s >= warmup_steps) and at the first reported step of each interval (as the median rule),
// stop when the watched metric's value at `s` is NaN, below `lower` or above `upper`. The bounds
// are absolute and ignore the metric's direction. With two optimized metrics and no
// PrunerConfig.metric, the first optimized metric is watched.
#ifndef HPO_SERVER_PRUNING_THRESHOLD_PRUNER_H_
#define HPO_SERVER_PRUNING_THRESHOLD_PRUNER_H_

#include <cstdint>
#include <limits>

#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

struct ThresholdPrunerOptions {
  double lower = -std::numeric_limits<double>::infinity();  // lower <= upper; one bound set
  double upper = std::numeric_limits<double>::infinity();
  int64_t warmup_steps = 0;    // >= 0
  int64_t interval_steps = 1;  // >= 1
};

class ThresholdPruner final : public Pruner {
 public:
  ThresholdPruner(WatchedMetric metric, ThresholdPrunerOptions options);

  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

 private:
  WatchedMetric metric_;
  ThresholdPrunerOptions options_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_THRESHOLD_PRUNER_H_
