#include "server/pruning/stopping_advice.h"

#include <algorithm>
#include <cstdint>
#include <optional>

#include "absl/strings/str_cat.h"
#include "server/pruning/curve.h"

namespace hpo::pruning {
namespace {

using ::hpo::v1::Metric;
using ::hpo::v1::Observation;

bool IsOptimized(const Metric& m) {
  return m.strategy() == hpo::v1::METRIC_STRATEGY_OPTIMIZE ||
         m.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED;
}

bool Maximize(const Metric& m) { return m.objective() != hpo::v1::OBJECTIVE_MINIMIZE; }

std::optional<double> ValueOf(const Observation& o, const std::string& name) {
  for (const auto& v : o.values()) {
    if (v.name() == name) return v.value();
  }
  return std::nullopt;
}

// The optimized values of a feasible observation (same rule as the service's BestAssignments).
std::optional<std::vector<double>> FeasiblePoint(const hpo::v1::Experiment& experiment,
                                                 const std::vector<WatchedMetric>& optimized,
                                                 const Observation& o) {
  if (o.failed()) return std::nullopt;
  for (const Metric& m : experiment.metrics()) {
    if (!m.has_threshold() || m.strategy() == hpo::v1::METRIC_STRATEGY_STORE) continue;
    if (IsOptimized(m) && optimized.size() < 2) continue;  // a target, not a region of interest
    std::optional<double> v = ValueOf(o, m.name());
    if (!v) return std::nullopt;
    if (Maximize(m) ? *v < m.threshold() : *v > m.threshold()) return std::nullopt;
  }
  std::vector<double> point;
  for (const WatchedMetric& m : optimized) {
    std::optional<double> v = ValueOf(o, m.name);
    if (!v) return std::nullopt;
    point.push_back(*v);
  }
  return point;
}

// a is at least as good as b everywhere.
bool WeaklyDominates(const std::vector<double>& a, const std::vector<double>& b,
                     const std::vector<WatchedMetric>& metrics) {
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (Better(b[i], a[i], metrics[i].maximize)) return false;
  }
  return true;
}

}  // namespace

StoppingAdvice Advise(const hpo::v1::Experiment& experiment,
                      const std::vector<Observation>& observations, int lookback) {
  const int64_t n = static_cast<int64_t>(observations.size());
  const int32_t budget = experiment.observation_budget();
  if (budget > 0 && n >= budget) {
    return {true, absl::StrCat("budget reached: ", n, " of ", budget, " observations")};
  }
  if (lookback <= 0) lookback = std::max(10, budget / 4);
  if (n < lookback) return {};

  std::vector<WatchedMetric> optimized;
  for (const Metric& m : experiment.metrics()) {
    if (IsOptimized(m)) optimized.push_back({m.name(), Maximize(m)});
  }
  if (optimized.empty()) return {};

  std::vector<std::vector<double>> earlier;  // feasible points so far
  int64_t last_improvement = -1;             // index of the last improving observation
  for (int64_t i = 0; i < n; ++i) {
    std::optional<std::vector<double>> point =
        FeasiblePoint(experiment, optimized, observations[static_cast<size_t>(i)]);
    if (!point) continue;
    bool improves = true;
    for (const auto& e : earlier) {
      if (WeaklyDominates(e, *point, optimized)) {
        improves = false;
        break;
      }
    }
    if (improves) last_improvement = i;
    earlier.push_back(std::move(*point));
  }
  if (last_improvement >= n - lookback) return {};
  const std::string what = optimized.size() == 1
                               ? absl::StrCat("improvement of the best ", optimized[0].name)
                               : std::string("new Pareto point");
  if (earlier.empty()) {
    return {true, absl::StrCat("stagnation: no feasible observation in ", n, " observations")};
  }
  return {true, absl::StrCat("stagnation: no ", what, " over the last ", lookback,
                             " observations (last at observation ", last_improvement + 1, " of ", n,
                             ")")};
}

}  // namespace hpo::pruning
