#include "server/pruning/hyperband_pruner.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/pruning/successive_halving_pruner.h"

namespace hpo::pruning {

HyperbandPruner::HyperbandPruner(std::vector<WatchedMetric> metrics, HyperbandPrunerOptions options)
    : metrics_(std::move(metrics)), options_(options) {}

int HyperbandPruner::BracketCount(int64_t max_resource) const {
  // Same floating-point expression as Optuna's math.log(max / min, eta).
  const double ratio =
      static_cast<double>(max_resource) / static_cast<double>(options_.min_resource);
  const double brackets =
      std::floor(std::log(ratio) / std::log(static_cast<double>(options_.reduction_factor))) + 1;
  return brackets < 1 ? 0 : static_cast<int>(brackets);
}

int HyperbandPruner::BracketOf(int64_t trial_id, int64_t max_resource) const {
  const int n_brackets = BracketCount(max_resource);
  if (n_brackets < 1) return -1;
  std::vector<int64_t> budgets;
  int64_t total = 0;
  for (int b = 0; b < n_brackets; ++b) {
    const int s = n_brackets - 1 - b;
    const double budget = std::ceil(
        n_brackets * std::pow(static_cast<double>(options_.reduction_factor), s) / (s + 1));
    budgets.push_back(static_cast<int64_t>(budget));
    total += budgets.back();
  }
  int64_t n = static_cast<int64_t>(Crc32(absl::StrCat(options_.experiment_id, "_", trial_id)) %
                                   static_cast<uint64_t>(total));
  for (int b = 0; b < n_brackets; ++b) {
    n -= budgets[b];
    if (n < 0) return b;
  }
  return n_brackets - 1;  // unreachable
}

Decision HyperbandPruner::ShouldPrune(const TrialCurve& trial,
                                      absl::Span<const TrialCurve> others) const {
  int64_t max_resource = options_.max_resource;
  if (max_resource <= 0) max_resource = options_.max_steps;
  if (max_resource <= 0) {
    int64_t last_step = -1;
    for (const TrialCurve& t : others) {
      if (t.state == TrialState::kCompleted && !t.checkpoints.empty()) {
        last_step = std::max(last_step, t.checkpoints.back().step());
      }
    }
    if (last_step < 0) return {};
    max_resource = last_step + 1;
  }
  const int bracket = BracketOf(trial.trial_id, max_resource);
  if (bracket < 0) return {};
  std::vector<const TrialCurve*> peers;
  for (const TrialCurve& t : others) {
    if (BracketOf(t.trial_id, max_resource) == bracket) peers.push_back(&t);
  }
  return SuccessiveHalvingDecision(
      trial, peers, metrics_, options_.min_resource, options_.reduction_factor, bracket,
      "hyperband",
      absl::StrCat("hyperband (bracket ", bracket, " of ", BracketCount(max_resource), ")"));
}

}  // namespace hpo::pruning
