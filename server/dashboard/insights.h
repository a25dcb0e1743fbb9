// File: server/dashboard/insights.h
//
// Server-side aggregation for the dashboard: best-so-far, parameter importance, constraint
// checks and learning-curve downsampling (the Pareto front comes from pruning/curve.h). Pure functions over protos and plain data,
// so the page receives a few numbers per trial however many trials an experiment has.
#ifndef HPO_SERVER_DASHBOARD_INSIGHTS_H_
#define HPO_SERVER_DASHBOARD_INSIGHTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hpo/v1/experiment.pb.h"

namespace hpo::dashboard {

// The first optimized metric; nullptr when there is none.
const hpo::v1::Metric* PrimaryMetric(const hpo::v1::Experiment& experiment);
// MINIMIZE is the only objective that is not maximized (unspecified means MAXIMIZE).
bool Maximizes(const hpo::v1::Metric& metric);
// The named metric's value in `observation`, if reported and finite.
std::optional<double> MetricOf(const hpo::v1::Observation& observation, const std::string& metric);

struct ImprovementPoint {
  int trial = 0;                // 1-based position among all observations, failed ones included
  double value = 0;             // the observation's value
  bool feasible = true;         // meets the experiment's constraints
  std::optional<double> best;   // best feasible value up to and including this trial
};
// One point per observation with a finite `metric` value, in order. `feasible[i]` (empty: all
// feasible) says whether observation i meets the constraints; only those count for `best`.
std::vector<ImprovementPoint> Improvement(const std::vector<hpo::v1::Observation>& observations,
                                          const std::string& metric, bool maximize,
                                          const std::vector<bool>& feasible = {});

struct ParameterImportance {
  std::string parameter;
  double importance = 0;  // >= 0; all of an experiment's sum to 1 unless all are 0
};
// For every parameter and conditional of the search space: the correlation ratio (eta squared,
// adjusted for the number of bins like adjusted R^2) between the parameter and `metric`, over
// the observations with a finite value. Numbers fall into equal-count quantile bins
// (min(10, max(2, sqrt(n))) of them), categories and "inactive" into one bin each. Normalized
// to sum 1; sorted by importance, highest first. Empty with fewer than 3 usable observations.
std::vector<ParameterImportance> Importance(const hpo::v1::Experiment& experiment,
                                            const std::vector<hpo::v1::Observation>& observations,
                                            const std::string& metric);

// Whether `value` satisfies a constraint metric: >= threshold when maximized, <= when minimized.
bool SatisfiesConstraint(const hpo::v1::Metric& metric, double value);

// At most `max_points` (>= 2) points of `curve`, evenly spaced in index, always keeping the first
// and the last point; the curve unchanged when it is short enough.
std::vector<std::pair<int64_t, double>> Downsample(
    const std::vector<std::pair<int64_t, double>>& curve, int max_points);

}  // namespace hpo::dashboard

#endif  // HPO_SERVER_DASHBOARD_INSIGHTS_H_
