#include "server/pruning/patient_pruner.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace hpo::pruning {

PatientPruner::PatientPruner(std::vector<WatchedMetric> metrics, std::unique_ptr<Pruner> wrapped,
                             int32_t patience)
    : metrics_(std::move(metrics)), wrapped_(std::move(wrapped)), patience_(patience) {}

Decision PatientPruner::ShouldPrune(const TrialCurve& trial,
                                    absl::Span<const TrialCurve> others) const {
  if (trial.checkpoints.empty()) return {};
  const std::vector<CurvePoint> points = CurvePoints(trial, metrics_);
  if (points.empty() || points.back().step != trial.checkpoints.back().step()) return {};
  const size_t window = static_cast<size_t>(patience_) + 1;
  if (points.size() <= window) return {};
  const size_t split = points.size() - window;
  std::vector<double> before_best(metrics_.size()), after_best(metrics_.size());
  for (size_t m = 0; m < metrics_.size(); ++m) {
    std::vector<double> before, after;
    for (size_t i = 0; i < points.size(); ++i) {
      (i < split ? before : after).push_back(points[i].values[m]);
    }
    before_best[m] = BestOf(before, metrics_[m].maximize);
    after_best[m] = BestOf(after, metrics_[m].maximize);
    // NaN comparisons are false, as numpy's: a NaN side means "improving".
    if (!Better(before_best[m], after_best[m], metrics_[m].maximize)) return {};
  }
  if (wrapped_ != nullptr) {
    Decision decision = wrapped_->ShouldPrune(trial, others);
    if (decision.stop) {
      absl::StrAppend(&decision.reason, " (and no improvement over the last ", window,
                      " checkpoints)");
    }
    return decision;
  }
  return {true,
          absl::StrCat("patience: best ", FormatValues(metrics_, after_best), " over the last ",
                       window, " checkpoints (steps ", points[split].step, " to ",
                       points.back().step, ") is worse than ", FormatValues(metrics_, before_best),
                       " before step ", points[split].step),
          "patience"};
}

}  // namespace hpo::pruning
