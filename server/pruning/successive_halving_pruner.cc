#include "server/pruning/successive_halving_pruner.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace hpo::pruning {
namespace {

constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// The first rung whose step is after `step`.
int64_t FirstRungAfter(int64_t step, int64_t min_resource, int32_t eta, int32_t rate) {
  int64_t rung = 0;
  while (RungStep(min_resource, eta, rate, rung) <= step) ++rung;
  return rung;
}

// The value a peer recorded at `rung`, if it reached it.
const CurvePoint* RungPoint(const TrialCurve& peer, const std::vector<CurvePoint>& points,
                            int64_t rung, int64_t min_resource, int32_t eta, int32_t rate) {
  const int64_t rung_step = RungStep(min_resource, eta, rate, rung);
  auto it = std::lower_bound(points.begin(), points.end(), rung_step,
                             [](const CurvePoint& p, int64_t s) { return p.step < s; });
  if (it == points.end()) return nullptr;
  if (peer.state == TrialState::kPruned && it + 1 == points.end()) {
    // Stopped at its last checkpoint: it competed at the first rung it reached there only.
    const int64_t previous = points.size() >= 2 ? points[points.size() - 2].step : -1;
    if (rung != FirstRungAfter(previous, min_resource, eta, rate)) return nullptr;
  }
  return &*it;
}

std::string Ordinal(int64_t n) {
  const char* suffix = "th";
  if (n % 100 < 11 || n % 100 > 13) {
    if (n % 10 == 1) suffix = "st";
    if (n % 10 == 2) suffix = "nd";
    if (n % 10 == 3) suffix = "rd";
  }
  return absl::StrCat(n, suffix);
}

}  // namespace

int64_t RungStep(int64_t min_resource, int32_t reduction_factor, int32_t min_early_stopping_rate,
                 int64_t rung) {
  int64_t step = min_resource;
  for (int64_t i = 0; i < min_early_stopping_rate + rung; ++i) {
    if (step > kMaxInt64 / reduction_factor) return kMaxInt64;
    step *= reduction_factor;
  }
  return step;
}

Decision SuccessiveHalvingDecision(const TrialCurve& trial,
                                   const std::vector<const TrialCurve*>& peers,
                                   const std::vector<WatchedMetric>& metrics, int64_t min_resource,
                                   int32_t eta, int32_t rate, const std::string& rule,
                                   const std::string& context) {
  if (trial.checkpoints.empty()) return {};
  const std::vector<CurvePoint> points = CurvePoints(trial, metrics);
  if (points.empty() || points.back().step != trial.checkpoints.back().step()) return {};
  const int64_t step = points.back().step;
  const std::vector<double>& value = points.back().values;
  const int64_t previous = points.size() >= 2 ? points[points.size() - 2].step : -1;

  std::vector<std::vector<CurvePoint>> peer_points;
  peer_points.reserve(peers.size());
  for (const TrialCurve* p : peers) peer_points.push_back(CurvePoints(*p, metrics));

  for (int64_t rung = FirstRungAfter(previous, min_resource, eta, rate);; ++rung) {
    const int64_t rung_step = RungStep(min_resource, eta, rate, rung);
    if (step < rung_step) return {};
    for (size_t m = 0; m < metrics.size(); ++m) {
      if (std::isnan(value[m])) {
        return {true,
                absl::StrCat(context, ": ", metrics[m].name, " is NaN at step ", step, " (rung ",
                             rung, ")"),
                rule};
      }
    }
    std::vector<std::vector<double>> competing;
    for (size_t i = 0; i < peers.size(); ++i) {
      if (const CurvePoint* p =
              RungPoint(*peers[i], peer_points[i], rung, min_resource, eta, rate)) {
        competing.push_back(p->values);
      }
    }
    competing.push_back(value);  // the trial itself is last
    const size_t n = competing.size();
    const size_t keep = std::max<size_t>(n / static_cast<size_t>(eta), 1);
    const std::string where = absl::StrCat(FormatValues(metrics, value), " at step ", step,
                                           " (rung ", rung, ", step ", rung_step, ")");

    if (metrics.size() == 1) {
      const bool maximize = metrics[0].maximize;
      size_t better = 0;
      for (const auto& c : competing) better += Better(c[0], value[0], maximize) ? 1 : 0;
      if (better >= keep) {
        std::vector<double> sorted;
        for (const auto& c : competing) sorted.push_back(c[0]);
        std::sort(sorted.begin(), sorted.end(),
                  [&](double a, double b) { return Better(a, b, maximize); });
        return {true,
                absl::StrCat(context, ": ", where, " is not in the top ", keep, " of ", n,
                             " trials at that rung (the ",
                             keep == 1 ? std::string()
                                       : absl::StrCat(Ordinal(static_cast<int64_t>(keep)), " "),
                             "best is ", FormatValue(sorted[keep - 1]), ")"),
                rule};
      }
      continue;
    }

    const std::vector<int> ranks = ParetoRanks(competing, metrics);
    const std::vector<double> crowding = CrowdingDistances(competing, ranks);
    const size_t self = n - 1;
    if (ranks[self] == 0) continue;  // nobody dominates it
    size_t ahead = 0;
    for (size_t j = 0; j < self; ++j) {
      if (ranks[j] < ranks[self] || (ranks[j] == ranks[self] && crowding[j] > crowding[self])) {
        ++ahead;
      }
    }
    if (ahead >= keep) {
      return {true,
              absl::StrCat(context, ": ", where, " is on Pareto front ", ranks[self] + 1,
                           " and behind ", ahead, " of ", n,
                           " trials at that rung by Pareto rank and crowding (the top ", keep,
                           " go on)"),
              rule};
    }
  }
}

SuccessiveHalvingPruner::SuccessiveHalvingPruner(std::vector<WatchedMetric> metrics,
                                                 SuccessiveHalvingPrunerOptions options)
    : metrics_(std::move(metrics)), options_(options) {}

Decision SuccessiveHalvingPruner::ShouldPrune(const TrialCurve& trial,
                                              absl::Span<const TrialCurve> others) const {
  int64_t min_resource = options_.min_resource;
  if (min_resource <= 0 && options_.max_steps > 0) {
    min_resource = std::max<int64_t>(options_.max_steps / 100, 1);
  }
  if (min_resource <= 0) {
    int64_t last_step = -1;
    for (const TrialCurve& t : others) {
      if (t.state == TrialState::kCompleted && !t.checkpoints.empty()) {
        last_step = std::max(last_step, t.checkpoints.back().step());
      }
    }
    if (last_step < 0) return {};
    min_resource = std::max<int64_t>(last_step / 100, 1);
  }
  std::vector<const TrialCurve*> peers;
  peers.reserve(others.size());
  for (const TrialCurve& t : others) peers.push_back(&t);
  return SuccessiveHalvingDecision(trial, peers, metrics_, min_resource, options_.reduction_factor,
                                   options_.min_early_stopping_rate, "asha", "asha");
}

}  // namespace hpo::pruning
