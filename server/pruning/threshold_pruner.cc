#include "server/pruning/threshold_pruner.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hpo::pruning {

ThresholdPruner::ThresholdPruner(WatchedMetric metric, ThresholdPrunerOptions options)
    : metric_(std::move(metric)), options_(options) {}

Decision ThresholdPruner::ShouldPrune(const TrialCurve& trial,
                                      absl::Span<const TrialCurve> others) const {
  if (trial.checkpoints.empty()) return {};
  const std::vector<CurvePoint> points = CurvePoints(trial, {metric_});
  if (points.empty() || points.back().step != trial.checkpoints.back().step()) return {};
  const int64_t step = points.back().step;
  if (step < options_.warmup_steps) return {};
  const int64_t previous = points.size() >= 2 ? points[points.size() - 2].step : -1;
  if (!IsFirstInInterval(step, previous, options_.warmup_steps, options_.interval_steps)) {
    return {};
  }
  const double value = points.back().values[0];
  const std::string head =
      absl::StrCat("threshold: ", metric_.name, " ", FormatValue(value), " at step ", step);
  if (std::isnan(value)) return {true, absl::StrCat(head, " is NaN"), "threshold"};
  if (value < options_.lower) {
    return {true, absl::StrCat(head, " is below the lower bound ", FormatValue(options_.lower)),
            "threshold"};
  }
  if (value > options_.upper) {
    return {true, absl::StrCat(head, " is above the upper bound ", FormatValue(options_.upper)),
            "threshold"};
  }
  return {};
}

}  // namespace hpo::pruning
