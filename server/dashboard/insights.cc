#include "server/dashboard/insights.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "client/cli/format.h"

namespace hpo::dashboard {

using hpo::v1::Experiment;
using hpo::v1::Metric;
using hpo::v1::Observation;

const Metric* PrimaryMetric(const Experiment& experiment) {
  const std::vector<const Metric*> optimized = cli::OptimizedMetrics(experiment);
  return optimized.empty() ? nullptr : optimized.front();
}

bool Maximizes(const Metric& metric) {
  return metric.objective() != hpo::v1::OBJECTIVE_MINIMIZE;
}

std::optional<double> MetricOf(const Observation& observation, const std::string& metric) {
  if (observation.failed()) return std::nullopt;
  for (const auto& value : observation.values()) {
    if (value.name() == metric && std::isfinite(value.value())) return value.value();
  }
  return std::nullopt;
}

std::vector<ImprovementPoint> Improvement(const std::vector<Observation>& observations,
                                          const std::string& metric, bool maximize,
                                          const std::vector<bool>& feasible) {
  std::vector<ImprovementPoint> points;
  std::optional<double> best;
  for (size_t i = 0; i < observations.size(); ++i) {
    const std::optional<double> value = MetricOf(observations[i], metric);
    if (!value) continue;
    ImprovementPoint point;
    point.trial = static_cast<int>(i) + 1;
    point.value = *value;
    point.feasible = feasible.empty() || feasible[i];
    if (point.feasible && (!best || (maximize ? *value > *best : *value < *best))) best = value;
    point.best = best;
    points.push_back(point);
  }
  return points;
}

namespace {

// Adjusted correlation ratio of `y` grouped by `bin` (bins numbered 0..k-1).
double AdjustedEtaSquared(const std::vector<int>& bin, const std::vector<double>& y) {
  const size_t n = y.size();
  const double mean = std::accumulate(y.begin(), y.end(), 0.0) / n;
  std::map<int, std::pair<double, int>> groups;  // bin -> (sum, count)
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    groups[bin[i]].first += y[i];
    groups[bin[i]].second += 1;
    total += (y[i] - mean) * (y[i] - mean);
  }
  const size_t k = groups.size();
  if (total <= 0 || k < 2 || n <= k) return 0;
  double between = 0;
  for (const auto& [b, group] : groups) {
    const double group_mean = group.first / group.second;
    between += group.second * (group_mean - mean) * (group_mean - mean);
  }
  const double eta2 = between / total;
  const double adjusted = 1.0 - (1.0 - eta2) * (n - 1.0) / (n - static_cast<double>(k));
  return std::max(0.0, adjusted);
}

// Equal-count quantile bins of `x` (ties share a bin); NaN (inactive) gets its own bin.
std::vector<int> QuantileBins(const std::vector<double>& x) {
  std::vector<size_t> order;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isnan(x[i])) order.push_back(i);
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x[a] < x[b]; });
  const int bins =
      std::min(10, std::max(2, static_cast<int>(std::sqrt(static_cast<double>(order.size())))));
  std::vector<int> bin(x.size(), bins);  // inactive
  for (size_t r = 0; r < order.size(); ++r) {
    int b = static_cast<int>(r * bins / std::max<size_t>(order.size(), 1));
    if (r > 0 && x[order[r]] == x[order[r - 1]]) b = bin[order[r - 1]];
    bin[order[r]] = b;
  }
  return bin;
}

}  // namespace

std::vector<ParameterImportance> Importance(const Experiment& experiment,
                                            const std::vector<Observation>& observations,
                                            const std::string& metric) {
  std::vector<const Observation*> usable;
  std::vector<double> y;
  for (const Observation& observation : observations) {
    const std::optional<double> value = MetricOf(observation, metric);
    if (!value) continue;
    usable.push_back(&observation);
    y.push_back(*value);
  }
  std::vector<ParameterImportance> result;
  if (usable.size() < 3) return result;

  auto add = [&](const std::string& name, bool categorical) {
    std::vector<int> bin(usable.size());
    if (categorical) {
      std::map<std::string, int> ids;
      for (size_t i = 0; i < usable.size(); ++i) {
        const auto& values = usable[i]->assignment().values();
        const auto it = values.find(name);
        const std::string key = it == values.end() ? std::string("\x01inactive")
                                                   : cli::FormatParameterValue(it->second);
        bin[i] = ids.emplace(key, static_cast<int>(ids.size())).first->second;
      }
    } else {
      std::vector<double> x(usable.size(), std::nan(""));
      for (size_t i = 0; i < usable.size(); ++i) {
        const auto& values = usable[i]->assignment().values();
        const auto it = values.find(name);
        if (it == values.end()) continue;
        if (it->second.has_number_value()) x[i] = it->second.number_value();
        if (it->second.has_int_value()) x[i] = static_cast<double>(it->second.int_value());
      }
      bin = QuantileBins(x);
    }
    result.push_back({name, AdjustedEtaSquared(bin, y)});
  };
  for (const auto& conditional : experiment.search_space().conditionals()) {
    add(conditional.name(), true);
  }
  for (const auto& parameter : experiment.search_space().parameters()) {
    add(parameter.name(), parameter.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL);
  }
  double sum = 0;
  for (const ParameterImportance& p : result) sum += p.importance;
  if (sum > 0) {
    for (ParameterImportance& p : result) p.importance /= sum;
  }
  std::stable_sort(result.begin(), result.end(),
                   [](const ParameterImportance& a, const ParameterImportance& b) {
                     return a.importance > b.importance;
                   });
  return result;
}

bool SatisfiesConstraint(const Metric& metric, double value) {
  if (!metric.has_threshold()) return true;
  return Maximizes(metric) ? value >= metric.threshold() : value <= metric.threshold();
}

std::vector<std::pair<int64_t, double>> Downsample(
    const std::vector<std::pair<int64_t, double>>& curve, int max_points) {
  max_points = std::max(max_points, 2);
  if (static_cast<int>(curve.size()) <= max_points) return curve;
  std::vector<std::pair<int64_t, double>> out;
  out.reserve(max_points);
  const double stride = static_cast<double>(curve.size() - 1) / (max_points - 1);
  for (int i = 0; i < max_points; ++i) {
    out.push_back(curve[static_cast<size_t>(std::llround(i * stride))]);
  }
  return out;
}

}  // namespace hpo::dashboard
