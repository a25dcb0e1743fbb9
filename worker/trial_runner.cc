#include "worker/trial_runner.h"

#include <algorithm>

namespace hpo::worker {

absl::StatusOr<TrialOutcome> TrialRunner::RunRank(const hpo::v1::Experiment& experiment,
                                                  const hpo::v1::Suggestion& suggestion,
                                                  const GangPlace& gang, ProgressSink* sink) {
  if (gang.world_size <= 1) return Run(experiment, suggestion, sink);
  return absl::UnimplementedError(
      "this worker's trial runner cannot run gang trials (TrainingSpec.ranks_per_trial > 1)");
}

std::vector<hpo::v1::MetricValue> ExperimentMetrics(const hpo::v1::Experiment& experiment,
                                                    const hpo::v1::Checkpoint& checkpoint) {
  std::vector<hpo::v1::MetricValue> out;
  for (const auto& metric : experiment.metrics()) {
    for (const auto& value : checkpoint.metrics()) {
      if (value.name() == metric.name()) out.push_back(value);
    }
  }
  return out;
}

std::vector<std::string> MissingRequiredMetrics(const hpo::v1::Experiment& experiment,
                                                const std::vector<hpo::v1::MetricValue>& values) {
  std::vector<std::string> missing;
  for (const auto& metric : experiment.metrics()) {
    if (metric.strategy() == hpo::v1::METRIC_STRATEGY_STORE) continue;
    const bool found = std::any_of(values.begin(), values.end(),
                                   [&](const auto& v) { return v.name() == metric.name(); });
    if (!found) missing.push_back(metric.name());
  }
  return missing;
}

}  // namespace hpo::worker
