// File: server/pruning/curve.h
//
// Shared helpers of the pruning rules: which metrics a rule watches, reading them off learning
// curves, comparing trials at a step, numpy-compatible percentiles, Pareto dominance,
// non-dominated sorting with crowding distance, and value formatting for reasons. Pure functions.
#ifndef HPO_SERVER_PRUNING_CURVE_H_
#define HPO_SERVER_PRUNING_CURVE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "hpo/v1/experiment.pb.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

// A metric a rule watches and its direction.
struct WatchedMetric {
  std::string name;
  bool maximize = true;
};

// The metrics the pruner of `experiment` watches: {pruner.metric} when set (its direction from
// the experiment's metric of that name), else the optimized metrics (one or two), in declaration
// order. INVALID_ARGUMENT when pruner.metric names no metric of the experiment or there is no
// optimized metric.
absl::StatusOr<std::vector<WatchedMetric>> WatchedMetrics(const hpo::v1::Experiment& experiment);

// The value of metric `name` in `checkpoint`, if reported.
std::optional<double> MetricValueOf(const hpo::v1::Checkpoint& checkpoint, absl::string_view name);

// One checkpoint that reports every watched metric: its step and the values, in `metrics` order.
struct CurvePoint {
  int64_t step = 0;
  std::vector<double> values;
};

// The checkpoints of `trial` that report every metric of `metrics`, in step order.
std::vector<CurvePoint> CurvePoints(const TrialCurve& trial,
                                    const std::vector<WatchedMetric>& metrics);

// The point of `points` to compare with another trial at `step`:
//  - the point at exactly `step` when there is one (Optuna compares intermediate values at the
//    same step);
//  - otherwise, when the curve goes past `step` (cadences differ), the last point before `step`;
//  - otherwise none: a curve that ended before `step` (or starts after it) says nothing about it,
//    as in Optuna, where a trial without a value at the step is left out.
const CurvePoint* PointForStep(const std::vector<CurvePoint>& points, int64_t step);

// True when `a` is strictly better than `b` in the given direction.
inline bool Better(double a, double b, bool maximize) { return maximize ? a > b : a < b; }

// The best of `values` ignoring NaN (numpy's nanmax/nanmin); NaN when all are NaN or empty.
double BestOf(const std::vector<double>& values, bool maximize);

// numpy.nanpercentile(values, q) with linear interpolation; q in [0, 100]. NaN if no finite-or-
// infinite (non-NaN) value.
double NanPercentile(std::vector<double> values, double q);

// Pareto dominance: `a` is at least as good as `b` in every metric and strictly better in one.
bool Dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<WatchedMetric>& metrics);

// Non-dominated sorting (NSGA-II): rank 0 for points no other point dominates, rank 1 for those
// dominated only by rank-0 points, and so on.
std::vector<int> ParetoRanks(const std::vector<std::vector<double>>& points,
                             const std::vector<WatchedMetric>& metrics);

// NSGA-II crowding distance of each point within its own front (same rank): the sum over metrics
// of the normalized gap between its two neighbours; the extremes of a front get +infinity.
std::vector<double> CrowdingDistances(const std::vector<std::vector<double>>& points,
                                      const std::vector<int>& ranks);

// CRC-32 (IEEE 802.3, as zlib's crc32 and Python's binascii.crc32).
uint32_t Crc32(absl::string_view data);

// "auc 0.781" or "(auc 0.781, logloss 0.45)" for reasons; values with 6 significant digits.
std::string FormatValues(const std::vector<WatchedMetric>& metrics,
                         const std::vector<double>& values);
std::string FormatValue(double value);

// Optuna's interval rule (_is_first_in_interval_step): a check happens at the first reported
// step at or after each pruning step warmup + k * interval. `previous_step` is the trial's
// previous reported step (-1 for none).
bool IsFirstInInterval(int64_t step, int64_t previous_step, int64_t warmup_steps,
                       int64_t interval_steps);

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_CURVE_H_
