#include "trainer/planner.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace hpo::trainer {

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
                    "] + ", rep.size(), " replicated, ", absl::StrFormat("%.2f MB, lookup cost %.1f", rank_bytes[r] / 1e6,
                                                                        rank_lookup_cost[r]));
  }
  return out;
}

absl::StatusOr<TablePlan> PlanTables(const std::vector<int64_t>& rows, const PlannerOptions& o) {
  if (o.world_size < 1) return absl::InvalidArgumentError("world_size must be >= 1");
  if (o.embedding_dim < 1) return absl::InvalidArgumentError("embedding_dim must be >= 1");
  if (!o.pooling.empty() && o.pooling.size() != rows.size()) {
    return absl::InvalidArgumentError(absl::StrCat("pooling has ", o.pooling.size(), " entries for ", rows.size(), " tables"));
  }
  const size_t n = rows.size();
  std::vector<int64_t> bytes(n);
  std::vector<double> cost(n);
  for (size_t f = 0; f < n; ++f) {
    if (rows[f] < 1) return absl::InvalidArgumentError(absl::StrCat("table ", f, " has ", rows[f], " rows"));
    const double pool = o.pooling.empty() ? 1.0 : o.pooling[f];
    if (!(pool > 0)) return absl::InvalidArgumentError(absl::StrCat("pooling of table ", f, " must be > 0"));
    bytes[f] = rows[f] * o.embedding_dim * 4;
    cost[f] = pool * static_cast<double>(o.embedding_dim);
  }
  const int w = o.world_size;
  TablePlan plan;
  plan.owner.assign(n, TablePlan::kReplicated);
  plan.rank_bytes.assign(static_cast<size_t>(w), 0);
  plan.rank_lookup_cost.assign(static_cast<size_t>(w), 0.0);
  std::vector<size_t> sharded;
  for (size_t f = 0; f < n; ++f) {
    if (w > 1 && rows[f] >= o.replicate_below_rows) {
      sharded.push_back(f);
    } else {
      for (int r = 0; r < w; ++r) {
        plan.rank_bytes[static_cast<size_t>(r)] += bytes[f];
        plan.rank_lookup_cost[static_cast<size_t>(r)] += cost[f] / w;
      }
    }
    if (w == 1) plan.owner[f] = TablePlan::kReplicated;
  }
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
    const size_t bs = static_cast<size_t>(best);
    plan.owner[f] = best;
    placed_bytes[bs] += static_cast<double>(bytes[f]);
    placed_cost[bs] += cost[f];
    plan.rank_bytes[bs] += bytes[f];
    plan.rank_lookup_cost[bs] += cost[f];
  }
  return plan;
}

}  // namespace hpo::trainer
