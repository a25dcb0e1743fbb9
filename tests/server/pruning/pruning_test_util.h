// Builders for hand-made learning curves and a driver that runs trials one after another
// through a pruner, the way the Optuna 3.1 reference runs in the tests were produced.
#ifndef HPO_TESTS_SERVER_PRUNING_PRUNING_TEST_UTIL_H_
#define HPO_TESTS_SERVER_PRUNING_PRUNING_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "hpo/v1/experiment.pb.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning::testing {

using Values = std::vector<std::pair<std::string, double>>;

inline hpo::v1::Checkpoint MakeCheckpoint(int64_t step, const Values& values) {
  hpo::v1::Checkpoint c;
  c.set_step(step);
  for (const auto& [name, value] : values) {
    auto* m = c.add_metrics();
    m->set_name(name);
    m->set_value(value);
  }
  return c;
}

// A curve of one metric from (step, value) pairs.
inline TrialCurve MakeCurve(int64_t id, TrialState state,
                            const std::vector<std::pair<int64_t, double>>& points,
                            const std::string& metric = "auc") {
  TrialCurve t;
  t.trial_id = id;
  t.state = state;
  for (const auto& [step, value] : points)
    t.checkpoints.push_back(MakeCheckpoint(step, {{metric, value}}));
  return t;
}

// A curve of one metric with values at steps 0, 1, 2, ...
inline TrialCurve MakeSteps(int64_t id, TrialState state, const std::vector<double>& values,
                            const std::string& metric = "auc") {
  std::vector<std::pair<int64_t, double>> points;
  for (size_t i = 0; i < values.size(); ++i) points.push_back({static_cast<int64_t>(i), values[i]});
  return MakeCurve(id, state, points, metric);
}

// A curve of two metrics from (step, a, b) triples.
inline TrialCurve MakeCurve2(int64_t id, TrialState state,
                             const std::vector<std::tuple<int64_t, double, double>>& points,
                             const std::string& a = "auc", const std::string& b = "logloss") {
  TrialCurve t;
  t.trial_id = id;
  t.state = state;
  for (const auto& [step, va, vb] : points)
    t.checkpoints.push_back(MakeCheckpoint(step, {{a, va}, {b, vb}}));
  return t;
}

inline hpo::v1::Metric MakeMetric(
    const std::string& name, hpo::v1::Objective objective,
    hpo::v1::MetricStrategy strategy = hpo::v1::METRIC_STRATEGY_OPTIMIZE) {
  hpo::v1::Metric m;
  m.set_name(name);
  m.set_objective(objective);
  m.set_strategy(strategy);
  return m;
}

// An experiment with one optimized metric "auc" (maximize), id 7.
inline hpo::v1::Experiment MakeExperiment(
    hpo::v1::Objective objective = hpo::v1::OBJECTIVE_MAXIMIZE) {
  hpo::v1::Experiment e;
  e.set_id(7);
  e.set_observation_budget(100);
  *e.add_metrics() = MakeMetric("auc", objective);
  return e;
}

// The synthetic curves of the Optuna reference runs (same double arithmetic as the Python).
inline double CurveValue(int i, int64_t step) {
  static const double kQuality[] = {0.5, 0.8, 0.3, 0.9, 0.6, 0.4, 0.7, 0.2, 0.85, 0.55, 0.65, 0.35};
  return kQuality[i] * (static_cast<double>(step) + 1.0) / (static_cast<double>(step) + 3.0) +
         static_cast<double>((i * 7 + step * 13) % 11) * 0.01;
}
constexpr int kReferenceTrials = 12;
constexpr int64_t kReferenceSteps = 16;

// Runs trials 0..n-1 (trial id = index) one after another: each reports steps 0, stride, ...
// below `steps` and asks the pruner after each report, ending pruned or completed. Returns the
// step at which each trial was pruned, -1 when it completed.
inline std::vector<int64_t> RunSequential(const Pruner& pruner, int n, int64_t steps,
                                          int64_t stride, double sign = 1.0) {
  std::vector<TrialCurve> done;
  std::vector<int64_t> pruned_at;
  for (int i = 0; i < n; ++i) {
    TrialCurve t;
    t.trial_id = i;
    int64_t pruned = -1;
    for (int64_t step = 0; step < steps; step += stride) {
      t.checkpoints.push_back(MakeCheckpoint(step, {{"auc", sign * CurveValue(i, step)}}));
      if (pruner.ShouldPrune(t, done).stop) {
        pruned = step;
        break;
      }
    }
    t.state = pruned >= 0 ? TrialState::kPruned : TrialState::kCompleted;
    done.push_back(std::move(t));
    pruned_at.push_back(pruned);
  }
  return pruned_at;
}

}  // namespace hpo::pruning::testing

#endif  // HPO_TESTS_SERVER_PRUNING_PRUNING_TEST_UTIL_H_
