#include "server/pruning/percentile_pruner.h"

#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hpo::pruning {

PercentilePruner::PercentilePruner(std::vector<WatchedMetric> metrics,
                                   PercentilePrunerOptions options)
    : metrics_(std::move(metrics)), options_(std::move(options)) {}

Decision PercentilePruner::ShouldPrune(const TrialCurve& trial,
                                       absl::Span<const TrialCurve> others) const {
  std::vector<const TrialCurve*> completed;
  for (const TrialCurve& t : others) {
    if (t.state == TrialState::kCompleted) completed.push_back(&t);
  }
  if (completed.empty() || static_cast<int64_t>(completed.size()) < options_.startup_trials) {
    return {};
  }
  if (trial.checkpoints.empty()) return {};
  const std::vector<CurvePoint> points = CurvePoints(trial, metrics_);
  // The just-reported checkpoint must carry the watched metrics (Optuna is asked after a report).
  if (points.empty() || points.back().step != trial.checkpoints.back().step()) return {};
  const int64_t step = points.back().step;
  if (step < options_.warmup_steps) return {};
  const int64_t previous = points.size() >= 2 ? points[points.size() - 2].step : -1;
  if (!IsFirstInInterval(step, previous, options_.warmup_steps, options_.interval_steps)) {
    return {};
  }

  // The trial's best value of each metric over its steps.
  std::vector<double> best(metrics_.size());
  for (size_t m = 0; m < metrics_.size(); ++m) {
    std::vector<double> values;
    for (const CurvePoint& p : points) values.push_back(p.values[m]);
    best[m] = BestOf(values, metrics_[m].maximize);
    if (std::isnan(best[m])) {
      return {true,
              absl::StrCat(options_.rule, ": every ", metrics_[m].name, " value up to step ", step,
                           " is NaN"),
              options_.rule};
    }
  }

  // The completed trials' points at this step.
  std::vector<std::vector<double>> peers;
  for (const TrialCurve* t : completed) {
    const std::vector<CurvePoint> peer_points = CurvePoints(*t, metrics_);
    if (const CurvePoint* p = PointForStep(peer_points, step)) peers.push_back(p->values);
  }
  if (peers.empty() || static_cast<int64_t>(peers.size()) < options_.min_trials) return {};
  const std::string what = options_.rule == "median"
                               ? std::string("the median")
                               : absl::StrFormat("the %g%% percentile", options_.percentile);

  if (metrics_.size() == 1) {
    const bool maximize = metrics_[0].maximize;
    std::vector<double> values;
    for (const auto& p : peers) values.push_back(p[0]);
    const double q = maximize ? 100.0 - options_.percentile : options_.percentile;
    const double reference = NanPercentile(values, q);
    if (std::isnan(reference) || !Better(reference, best[0], maximize)) return {};
    return {true,
            absl::StrCat(options_.rule, ": best ", FormatValues(metrics_, best), " up to step ",
                         step, " is worse than ", what, " ", FormatValue(reference), " of ",
                         peers.size(), " completed trials at that step"),
            options_.rule};
  }

  // Two metrics: stop when more than `percentile` percent of the peers dominate the trial.
  size_t dominating = 0;
  for (const auto& p : peers) dominating += Dominates(p, best, metrics_) ? 1 : 0;
  const double share = static_cast<double>(dominating) / static_cast<double>(peers.size());
  if (!(share * 100.0 > options_.percentile)) return {};
  return {true,
          absl::StrCat(options_.rule, ": best ", FormatValues(metrics_, best), " up to step ", step,
                       " is Pareto-dominated by ", dominating, " of ", peers.size(),
                       " completed trials at that step (more than ",
                       FormatValue(options_.percentile), "% of them)"),
          options_.rule};
}

}  // namespace hpo::pruning
