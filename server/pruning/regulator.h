// File: server/pruning/regulator.h
//
// The learning-curve regulator: stops trials whose own curve is broken, whatever the peers do.
// CreatePruner runs it before the pruner and its decisions win. It looks at the trial only.
//
// Rules, checked in this order on the trial's just-reported (raw) checkpoint:
//   "anomaly"     (on unless disable_anomaly_detection)
//                 - any metric of the last checkpoint is NaN or infinite;
//                 - explosion: the loss metric (when set) at the last checkpoint is greater than
//                   explosion_factor (default 10) times its lowest value at earlier checkpoints,
//                   when that lowest value is > 0 (losses are minimized and non-negative).
//   "overfitting" (overfit_patience P > 0, needs the loss metric): over the last P + 1
//                 checkpoints that report the watched metric(s) and the loss, each of the last P
//                 has every watched metric strictly worse than at the checkpoint before, and the
//                 loss strictly lower than at the checkpoint before.
//   "plateau"     (plateau_patience P > 0): with n > P checkpoints reporting the watched
//                 metric(s), the best value of the last P improves on the best value before them
//                 by no more than plateau_min_delta (>= 0; absolute), for every watched metric.
// The watched metric(s) are the pruner's (curve.h WatchedMetrics): with two optimized metrics
// and no PrunerConfig.metric, overfitting needs both to worsen and a plateau both to stall.
#ifndef HPO_SERVER_PRUNING_REGULATOR_H_
#define HPO_SERVER_PRUNING_REGULATOR_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"
#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

struct RegulatorOptions {
  bool detect_anomalies = true;
  std::string loss_metric;       // empty: no explosion or overfitting rule
  double explosion_factor = 10;  // > 1
  int32_t overfit_patience = 0;  // 0 = off
  int32_t plateau_patience = 0;  // 0 = off
  double plateau_min_delta = 0;  // >= 0
};

// The options of `config` with defaults for fields left at 0. INVALID_ARGUMENT for a negative
// patience, an explosion factor that is NaN or in (0, 1] or negative, a negative or NaN
// plateau_min_delta, or overfit_patience without loss_metric.
absl::StatusOr<RegulatorOptions> RegulatorOptionsFromConfig(const hpo::v1::RegulatorConfig& config);

class Regulator final : public Pruner {
 public:
  Regulator(std::vector<WatchedMetric> metrics, RegulatorOptions options);

  // Ignores `others`.
  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

 private:
  std::vector<WatchedMetric> metrics_;
  RegulatorOptions options_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_REGULATOR_H_
