#include "server/service/best_assignments.h"

#include <algorithm>
#include <optional>
#include <string>

namespace hpo::service {
namespace {

using ::hpo::v1::Experiment;
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

// The value oriented so that larger is better.
std::optional<double> Score(const Observation& o, const Metric& m) {
  std::optional<double> v = ValueOf(o, m.name());
  if (!v) return v;
  return Maximize(m) ? *v : -*v;
}

}  // namespace

bool IsFeasible(const Experiment& experiment, const Observation& observation) {
  if (observation.failed()) return false;
  int optimized = 0;
  for (const Metric& m : experiment.metrics()) optimized += IsOptimized(m) ? 1 : 0;
  for (const Metric& m : experiment.metrics()) {
    if (!m.has_threshold() || m.strategy() == hpo::v1::METRIC_STRATEGY_STORE) continue;
    if (IsOptimized(m) && optimized < 2) continue;  // a target, not a region of interest
    std::optional<double> v = ValueOf(observation, m.name());
    if (!v) return false;
    if (Maximize(m) ? *v < m.threshold() : *v > m.threshold()) return false;
  }
  return true;
}

std::vector<Observation> BestAssignments(const Experiment& experiment,
                                         const std::vector<Observation>& observations) {
  std::vector<const Metric*> optimized;
  for (const Metric& m : experiment.metrics()) {
    if (IsOptimized(m)) optimized.push_back(&m);
  }
  // Candidates with their oriented scores.
  std::vector<std::pair<const Observation*, std::vector<double>>> candidates;
  for (const Observation& o : observations) {
    if (!IsFeasible(experiment, o)) continue;
    std::vector<double> scores;
    for (const Metric* m : optimized) {
      std::optional<double> s = Score(o, *m);
      if (!s) break;
      scores.push_back(*s);
    }
    if (scores.size() == optimized.size() && !scores.empty()) candidates.emplace_back(&o, scores);
  }
  std::vector<Observation> best;
  if (candidates.empty()) return best;
  if (optimized.size() == 1) {
    const auto* top = &candidates.front();
    for (const auto& c : candidates) {
      if (c.second[0] > top->second[0]) top = &c;
    }
    best.push_back(*top->first);
    return best;
  }
  auto dominates = [](const std::vector<double>& a, const std::vector<double>& b) {
    bool strictly = false;
    for (size_t i = 0; i < a.size(); ++i) {
      if (a[i] < b[i]) return false;
      if (a[i] > b[i]) strictly = true;
    }
    return strictly;
  };
  std::vector<const std::pair<const Observation*, std::vector<double>>*> front;
  for (const auto& c : candidates) {
    bool dominated = false;
    for (const auto& other : candidates) {
      if (dominates(other.second, c.second)) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.push_back(&c);
  }
  std::stable_sort(front.begin(), front.end(),
                   [](const auto* a, const auto* b) { return a->second[0] > b->second[0]; });
  for (const auto* c : front) best.push_back(*c->first);
  return best;
}

}  // namespace hpo::service
