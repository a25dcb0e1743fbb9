#include "server/pruning/curve.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hpo::pruning {
namespace {

bool IsOptimized(const hpo::v1::Metric& m) {
  return m.strategy() == hpo::v1::METRIC_STRATEGY_OPTIMIZE ||
         m.strategy() == hpo::v1::METRIC_STRATEGY_UNSPECIFIED;
}

bool Maximize(const hpo::v1::Metric& m) { return m.objective() != hpo::v1::OBJECTIVE_MINIMIZE; }

}  // namespace

absl::StatusOr<std::vector<WatchedMetric>> WatchedMetrics(const hpo::v1::Experiment& experiment) {
  const std::string& name = experiment.pruner().metric();
  std::vector<WatchedMetric> watched;
  if (!name.empty()) {
    for (const hpo::v1::Metric& m : experiment.metrics()) {
      if (m.name() == name) return std::vector<WatchedMetric>{{m.name(), Maximize(m)}};
    }
    return absl::InvalidArgumentError(
        absl::StrCat("pruner.metric '", name, "' is not a metric of the experiment"));
  }
  for (const hpo::v1::Metric& m : experiment.metrics()) {
    if (IsOptimized(m)) watched.push_back({m.name(), Maximize(m)});
  }
  if (watched.empty()) {
    return absl::InvalidArgumentError("the experiment has no optimized metric for the pruner");
  }
  if (watched.size() > 2) {
    return absl::InvalidArgumentError("pruning supports at most two optimized metrics");
  }
  return watched;
}

std::optional<double> MetricValueOf(const hpo::v1::Checkpoint& checkpoint, absl::string_view name) {
  for (const hpo::v1::MetricValue& v : checkpoint.metrics()) {
    if (v.name() == name) return v.value();
  }
  return std::nullopt;
}

std::vector<CurvePoint> CurvePoints(const TrialCurve& trial,
                                    const std::vector<WatchedMetric>& metrics) {
  std::vector<CurvePoint> points;
  points.reserve(trial.checkpoints.size());
  for (const hpo::v1::Checkpoint& c : trial.checkpoints) {
    CurvePoint p;
    p.step = c.step();
    for (const WatchedMetric& m : metrics) {
      std::optional<double> v = MetricValueOf(c, m.name);
      if (!v) break;
      p.values.push_back(*v);
    }
    if (p.values.size() == metrics.size()) points.push_back(std::move(p));
  }
  return points;
}

const CurvePoint* PointForStep(const std::vector<CurvePoint>& points, int64_t step) {
  // First point with step > `step`.
  auto after = std::upper_bound(points.begin(), points.end(), step,
                                [](int64_t s, const CurvePoint& p) { return s < p.step; });
  if (after == points.begin()) return nullptr;  // starts after `step`
  const CurvePoint* at_or_before = &*(after - 1);
  if (at_or_before->step == step) return at_or_before;
  if (after == points.end()) return nullptr;  // ended before `step`
  return at_or_before;
}

double BestOf(const std::vector<double>& values, bool maximize) {
  double best = std::numeric_limits<double>::quiet_NaN();
  for (double v : values) {
    if (std::isnan(v)) continue;
    if (std::isnan(best) || Better(v, best, maximize)) best = v;
  }
  return best;
}

double NanPercentile(std::vector<double> values, double q) {
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }),
               values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  // numpy's default "linear" method: virtual index q/100 * (n - 1).
  const double index = q / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(index));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double frac = index - static_cast<double>(lo);
  if (frac == 0.0 || lo == hi) return values[lo];
  return values[lo] + (values[hi] - values[lo]) * frac;
}

bool Dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<WatchedMetric>& metrics) {
  bool strictly = false;
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (Better(b[i], a[i], metrics[i].maximize)) return false;
    if (Better(a[i], b[i], metrics[i].maximize)) strictly = true;
  }
  return strictly;
}

std::vector<int> ParetoRanks(const std::vector<std::vector<double>>& points,
                             const std::vector<WatchedMetric>& metrics) {
  const size_t n = points.size();
  std::vector<int> dominated_by(n, 0);            // how many points dominate i
  std::vector<std::vector<size_t>> dominates(n);  // the points i dominates
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      if (i != j && Dominates(points[i], points[j], metrics)) {
        dominates[i].push_back(j);
        ++dominated_by[j];
      }
    }
  }
  std::vector<int> ranks(n, -1);
  std::vector<size_t> front;
  for (size_t i = 0; i < n; ++i) {
    if (dominated_by[i] == 0) front.push_back(i);
  }
  for (int rank = 0; !front.empty(); ++rank) {
    std::vector<size_t> next;
    for (size_t i : front) {
      ranks[i] = rank;
      for (size_t j : dominates[i]) {
        if (--dominated_by[j] == 0) next.push_back(j);
      }
    }
    front = std::move(next);
  }
  return ranks;
}

std::vector<double> CrowdingDistances(const std::vector<std::vector<double>>& points,
                                      const std::vector<int>& ranks) {
  const size_t n = points.size();
  std::vector<double> distance(n, 0.0);
  if (n == 0) return distance;
  const size_t dims = points[0].size();
  const int max_rank = *std::max_element(ranks.begin(), ranks.end());
  constexpr double kInf = std::numeric_limits<double>::infinity();
  for (int rank = 0; rank <= max_rank; ++rank) {
    std::vector<size_t> front;
    for (size_t i = 0; i < n; ++i) {
      if (ranks[i] == rank) front.push_back(i);
    }
    if (front.size() <= 2) {
      for (size_t i : front) distance[i] = kInf;
      continue;
    }
    for (size_t d = 0; d < dims; ++d) {
      std::vector<size_t> order = front;
      std::stable_sort(order.begin(), order.end(),
                       [&](size_t a, size_t b) { return points[a][d] < points[b][d]; });
      const double lo = points[order.front()][d];
      const double hi = points[order.back()][d];
      distance[order.front()] = kInf;
      distance[order.back()] = kInf;
      if (hi == lo) continue;
      for (size_t k = 1; k + 1 < order.size(); ++k) {
        distance[order[k]] += (points[order[k + 1]][d] - points[order[k - 1]][d]) / (hi - lo);
      }
    }
  }
  return distance;
}

uint32_t Crc32(absl::string_view data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xFFFFFFFFu;
}

std::string FormatValue(double value) { return absl::StrFormat("%.6g", value); }

std::string FormatValues(const std::vector<WatchedMetric>& metrics,
                         const std::vector<double>& values) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < metrics.size() && i < values.size(); ++i) {
    parts.push_back(absl::StrCat(metrics[i].name, " ", FormatValue(values[i])));
  }
  if (parts.size() == 1) return parts[0];
  return absl::StrCat("(", absl::StrJoin(parts, ", "), ")");
}

bool IsFirstInInterval(int64_t step, int64_t previous_step, int64_t warmup_steps,
                       int64_t interval_steps) {
  const int64_t nearest_lower_pruning_step =
      (step - warmup_steps) / interval_steps * interval_steps + warmup_steps;
  return previous_step < nearest_lower_pruning_step;
}

}  // namespace hpo::pruning
