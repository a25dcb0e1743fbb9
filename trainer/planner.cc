#include "trainer/planner.h"

#include <algorithm>
#include <numeric>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hpo::trainer {
namespace {

std::string MiB(int64_t bytes) { return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20)); }

// Places the tables not in `replicated` (a mask) greedily, as described in planner.h.
// Returns nullopt if some table fits on no rank within `budget` (0: unlimited).
std::optional<TablePlan> Place(const std::vector<int64_t>& bytes, const std::vector<double>& cost,
                               const std::vector<bool>& replicated, int w, int64_t budget) {
  const size_t n = bytes.size();
  TablePlan plan;
  plan.budget_bytes = budget;
  plan.owner.assign(n, TablePlan::kReplicated);
  plan.rank_bytes.assign(static_cast<size_t>(w), 0);
  plan.rank_lookup_cost.assign(static_cast<size_t>(w), 0.0);
  std::vector<size_t> sharded;
  for (size_t f = 0; f < n; ++f) {
    if (!replicated[f]) {
      sharded.push_back(f);
      continue;
    }
    for (int r = 0; r < w; ++r) {
      plan.rank_bytes[static_cast<size_t>(r)] += bytes[f];
      plan.rank_lookup_cost[static_cast<size_t>(r)] += cost[f] / w;
    }
  }
  if (budget > 0 && plan.rank_bytes[0] > budget) return std::nullopt;
  if (sharded.empty()) return plan;
  // Ideal per-rank shares of what is being placed, to put memory and cost on one scale.
  double total_bytes = 0, total_cost = 0;
  for (size_t f : sharded) {
    total_bytes += static_cast<double>(bytes[f]);
    total_cost += cost[f];
  }
  const double bytes_unit = std::max(total_bytes / w, 1.0), cost_unit = std::max(total_cost / w, 1e-12);
  std::stable_sort(sharded.begin(), sharded.end(), [&](size_t a, size_t b) {
    const double ka = static_cast<double>(bytes[a]) / bytes_unit + cost[a] / cost_unit;
    const double kb = static_cast<double>(bytes[b]) / bytes_unit + cost[b] / cost_unit;
    return ka > kb;
  });
  std::vector<double> placed_bytes(static_cast<size_t>(w), 0.0), placed_cost(static_cast<size_t>(w), 0.0);
  for (size_t f : sharded) {
    int best = 0;
    double best_score = 0, best_sum = 0;
    for (int r = 0; r < w; ++r) {
      const size_t rs = static_cast<size_t>(r);
      const double mb = (placed_bytes[rs] + static_cast<double>(bytes[f])) / bytes_unit;
      const double mc = (placed_cost[rs] + cost[f]) / cost_unit;
      const double score = std::max(mb, mc), sum = mb + mc;
      if (r == 0 || score < best_score - 1e-12 || (score < best_score + 1e-12 && sum < best_sum - 1e-12)) {
        best = r;
        best_score = score;
        best_sum = sum;
      }
    }
    if (budget > 0 && plan.rank_bytes[static_cast<size_t>(best)] + bytes[f] > budget) {
      // The balanced choice does not fit: the rank with the most free room (lowest on ties).
      best = static_cast<int>(std::min_element(plan.rank_bytes.begin(), plan.rank_bytes.end()) -
                              plan.rank_bytes.begin());
      if (plan.rank_bytes[static_cast<size_t>(best)] + bytes[f] > budget) return std::nullopt;
    }
    const size_t bs = static_cast<size_t>(best);
    plan.owner[f] = best;
    placed_bytes[bs] += static_cast<double>(bytes[f]);
    placed_cost[bs] += cost[f];
    plan.rank_bytes[bs] += bytes[f];
    plan.rank_lookup_cost[bs] += cost[f];
  }
  return plan;
}

}  // namespace

std::vector<int64_t> TablePlan::OwnedBy(int rank) const {
  std::vector<int64_t> out;
  for (size_t f = 0; f < owner.size(); ++f) {
    if (owner[f] == rank) out.push_back(static_cast<int64_t>(f));
  }
  return out;
}

std::vector<int64_t> TablePlan::Replicated() const { return OwnedBy(kReplicated); }

std::string TablePlan::Describe() const {
  const auto rep = Replicated();
  std::string out;
  for (size_t r = 0; r < rank_bytes.size(); ++r) {
    absl::StrAppend(&out, r == 0 ? "" : "; ", "rank ", r, ": tables [", absl::StrJoin(OwnedBy(static_cast<int>(r)), ","),
                    "] + ", rep.size(), " replicated, ", MiB(rank_bytes[r]),
                    budget_bytes > 0 ? absl::StrCat(" of ", MiB(budget_bytes), " budget") : std::string(),
                    absl::StrFormat(", lookup cost %.1f", rank_lookup_cost[r]));
  }
  if (!demoted.empty()) {
    absl::StrAppend(&out, "; tables [", absl::StrJoin(demoted, ","), "] model parallel (not replicated) to fit the budget");
  }
  return out;
}

absl::StatusOr<TablePlan> PlanTables(const std::vector<int64_t>& rows, const PlannerOptions& o) {
  if (o.world_size < 1) return absl::InvalidArgumentError("world_size must be >= 1");
  if (o.embedding_dim < 1) return absl::InvalidArgumentError("embedding_dim must be >= 1");
  if (o.bytes_per_value < 1) return absl::InvalidArgumentError("bytes_per_value must be >= 1");
  if (o.rank_memory_budget_bytes < 0) return absl::InvalidArgumentError("rank_memory_budget_bytes must be >= 0");
  if (!o.pooling.empty() && o.pooling.size() != rows.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pooling has ", o.pooling.size(), " entries for ", rows.size(), " tables"));
  }
  const size_t n = rows.size();
  std::vector<int64_t> bytes(n);
  std::vector<double> cost(n);
  int64_t total = 0;
  size_t largest = 0;
  for (size_t f = 0; f < n; ++f) {
    if (rows[f] < 1) return absl::InvalidArgumentError(absl::StrCat("table ", f, " has ", rows[f], " rows"));
    const double pool = o.pooling.empty() ? 1.0 : o.pooling[f];
    if (!(pool > 0)) return absl::InvalidArgumentError(absl::StrCat("pooling of table ", f, " must be > 0"));
    bytes[f] = rows[f] * o.embedding_dim * o.bytes_per_value;
    cost[f] = pool * static_cast<double>(o.embedding_dim);
    total += bytes[f];
    if (bytes[f] > bytes[largest]) largest = f;
  }
  const int w = o.world_size;
  const int64_t budget = o.rank_memory_budget_bytes;
  // One rank holds everything (marked replicated: nothing is exchanged).
  std::vector<bool> replicated(n);
  for (size_t f = 0; f < n; ++f) replicated[f] = w == 1 || rows[f] < o.replicate_below_rows;
  // Demotion order: the largest replicated table first (it frees the most room per rank).
  std::vector<size_t> demotable;
  if (w > 1) {
    for (size_t f = 0; f < n; ++f) {
      if (replicated[f]) demotable.push_back(f);
    }
    std::stable_sort(demotable.begin(), demotable.end(), [&](size_t a, size_t b) { return bytes[a] > bytes[b]; });
  }
  const bool single_too_large = budget > 0 && n > 0 && bytes[largest] > budget;
  if (!single_too_large) {
    for (size_t k = 0; k <= demotable.size(); ++k) {
      if (k > 0) replicated[demotable[k - 1]] = false;
      std::optional<TablePlan> plan = Place(bytes, cost, replicated, w, budget);
      if (!plan) continue;
      for (size_t i = 0; i < k; ++i) plan->demoted.push_back(static_cast<int64_t>(demotable[i]));
      std::sort(plan->demoted.begin(), plan->demoted.end());
      return *std::move(plan);
    }
  }
  const int64_t lower_bound = (total + budget - 1) / budget;
  std::string need;
  if (single_too_large) {
    need = "no number of ranks fits it (tables are not split across ranks)";
  } else if (lower_bound > w) {
    need = absl::StrCat("at least ", lower_bound, " ranks are needed (a lower bound)");
  } else {
    need = absl::StrCat("the greedy placement found no fit although ", lower_bound,
                        " ranks would hold the bytes; add ranks or budget");
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "embedding tables do not fit a per-rank memory budget of ", MiB(budget), " on ", w, w == 1 ? " rank" : " ranks",
      ": the tables total ", MiB(total), " (", o.bytes_per_value, " bytes per value), the largest is table ", largest,
      " (", rows[largest], " rows, ", MiB(bytes[largest]), "); ", need));
}

}  // namespace hpo::trainer
