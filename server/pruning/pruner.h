// File: server/pruning/pruner.h
//
// The seam between the service and the early-stopping rules (Optuna's BasePruner, in C++). A
// pruner is a pure function over stored learning curves: given the running trial whose last
// checkpoint was just reported and the curves of every other trial of the experiment, it decides
// whether to stop the trial now and says why. It keeps no state between calls, knows nothing of
// SQLite or gRPC, and gives the same answer for the same curves, so the service can rebuild it at
// any time (after a restart, on another thread).
//
// Rules (each in its own header, Optuna 3.1's semantics and defaults):
//   percentile_pruner.h           "median", "percentile"
//   successive_halving_pruner.h   "asha" (asynchronous successive halving)
//   hyperband_pruner.h            "hyperband"
//   threshold_pruner.h            "threshold"
//   patient_pruner.h              "patience" wrapper
//   regulator.h                   "anomaly", "overfitting", "plateau" (run before the pruner)
//   stopping_advice.h             experiment-level advice (budget, stagnation)
//
// With two optimized metrics and no PrunerConfig.metric, the median/percentile and successive
// halving rules work on both metrics at once and only stop a trial that is Pareto-dominated (see
// the rule headers for the exact tests). Optuna cannot prune multi-objective studies.
#ifndef HPO_SERVER_PRUNING_PRUNER_H_
#define HPO_SERVER_PRUNING_PRUNER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "hpo/v1/experiment.pb.h"

namespace hpo::pruning {

enum class TrialState { kRunning, kCompleted, kPruned, kFailed };

// One trial's learning curve as stored by the service.
struct TrialCurve {
  int64_t trial_id = 0;  // suggestion id; stable, used for Hyperband bracket hashing
  TrialState state = TrialState::kRunning;
  // Increasing step; each has metric values by name. A checkpoint need not report every metric:
  // a rule only looks at the checkpoints that report the metrics it watches.
  std::vector<hpo::v1::Checkpoint> checkpoints;
};

// What a pruner decided for one checkpoint. `stop == false` leaves `reason` and `rule` empty.
struct Decision {
  bool stop = false;
  // Human-readable: rule, step, value, against what, e.g. "median: auc 0.781 at step 4000 is
  // worse than the median 0.792 of 12 trials at that step".
  std::string reason;
  // Short: "median", "percentile", "asha", "hyperband", "threshold", "patience", "anomaly",
  // "overfitting", "plateau".
  std::string rule;
};

// Decides whether a running trial should stop. Implementations are immutable after construction
// and safe to call from several threads at once.
class Pruner {
 public:
  virtual ~Pruner() = default;

  // `trial` is running and its last checkpoint is the one just reported (raw: it may hold NaN or
  // infinite values, which the service does not store); `others` are every other trial of the
  // experiment (any state), with stored (finite) values. Pure: no state kept between calls.
  virtual Decision ShouldPrune(const TrialCurve& trial,
                               absl::Span<const TrialCurve> others) const = 0;
};

// Never stops a trial (Optuna's NopPruner).
class NopPruner final : public Pruner {
 public:
  Decision ShouldPrune(const TrialCurve& trial,
                       absl::Span<const TrialCurve> others) const override {
    return {};
  }
};

// Builds the pruner of experiment.pruner() (NopPruner when no kind is set), wrapped by the patience
// wrapper when patience > 0 and preceded by the regulator (regulator decisions win). The experiment
// is already validated. INVALID_ARGUMENT for unusable settings: negative counts or steps, a
// percentile outside (0, 100), a reduction factor of 1, a threshold pruner without bounds or with
// lower > upper, max_resource < min_resource, an explosion factor in (0, 1], overfitting detection
// without a loss metric, a pruner.metric that is not a metric of the experiment, or no optimized
// metric to watch.
absl::StatusOr<std::unique_ptr<Pruner>> CreatePruner(const hpo::v1::Experiment& experiment);

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_PRUNER_H_
