#include "server/optimizer/grid_search.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/optimizer/sampling_optimizer.h"
#include "server/space/search_space.h"

namespace hpo::optimizer {
namespace {

using ::hpo::v1::Parameter;
using ::hpo::v1::ParameterValue;

ParameterValue Number(double v) {
  ParameterValue out;
  out.set_number_value(v);
  return out;
}
ParameterValue Int(int64_t v) {
  ParameterValue out;
  out.set_int_value(v);
  return out;
}

// `n` values evenly spaced from lo to hi inclusive, in log space when `log`.
std::vector<double> Spaced(double lo, double hi, int n, bool log) {
  std::vector<double> out;
  const double a = log ? std::log(lo) : lo, b = log ? std::log(hi) : hi;
  for (int i = 0; i < n; ++i) {
    // (b - a) is finite (validated); scaling it by a fraction <= 1 cannot overflow.
    const double t = a + (b - a) * (static_cast<double>(i) / (n - 1));
    out.push_back(log ? std::exp(t) : t);
  }
  out.front() = lo;  // exact ends despite exp(log(x))
  out.back() = hi;
  return out;
}

std::vector<ParameterValue> ParameterLevels(const Parameter& p) {
  std::vector<ParameterValue> levels;
  const bool log = p.transformation() == hpo::v1::TRANSFORMATION_LOG;
  const bool is_int = p.type() == hpo::v1::PARAMETER_TYPE_INT;
  if (p.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL) {
    for (const std::string& v : p.categorical_values()) {
      ParameterValue value;
      value.set_string_value(v);
      levels.push_back(value);
    }
  } else if (p.grid_size() > 0) {
    std::vector<double> grid(p.grid().begin(), p.grid().end());
    std::sort(grid.begin(), grid.end());
    for (double g : grid) levels.push_back(is_int ? Int(std::llround(g)) : Number(g));
  } else if (is_int) {
    const int64_t lo = std::llround(p.bounds().min()), hi = std::llround(p.bounds().max());
    if (hi - lo + 1 <= 2 * GridSearch::kDoubleLevels) {
      for (int64_t v = lo; v <= hi; ++v) levels.push_back(Int(v));
    } else {
      int64_t last = lo - 1;
      for (double v : Spaced(static_cast<double>(lo), static_cast<double>(hi),
                             GridSearch::kDoubleLevels, log)) {
        const int64_t r = std::clamp<int64_t>(std::llround(v), lo, hi);
        if (r != last) levels.push_back(Int(r));
        last = r;
      }
    }
  } else {
    for (double v : Spaced(p.bounds().min(), p.bounds().max(), GridSearch::kDoubleLevels, log)) {
      levels.push_back(Number(v));
    }
  }
  return levels;
}

}  // namespace

GridSearch::GridSearch(const hpo::v1::Experiment& experiment) : space_(experiment.search_space()) {
  for (const Parameter& p : space_.parameters()) levels_.push_back(ParameterLevels(p));
}

absl::StatusOr<std::vector<Proposal>> GridSearch::Suggest(const History& history, int count) {
  if (count < 1) return absl::InvalidArgumentError("count: must be >= 1");
  absl::flat_hash_set<std::string> used;
  for (const auto& o : history.observations) used.insert(AssignmentKey(o.assignment()));
  for (const auto& a : history.pending) used.insert(AssignmentKey(a));

  // Mixed-radix counter: conditionals first, then parameters. A digit of a parameter that is
  // inactive under the current conditional values must be 0 (one representative per point).
  const int nc = space_.conditionals_size();
  const int np = space_.parameters_size();
  std::vector<int> radix(nc + np), digit(nc + np, 0);
  for (int i = 0; i < nc; ++i) radix[i] = space_.conditionals(i).values_size();
  for (int i = 0; i < np; ++i) radix[nc + i] = static_cast<int>(levels_[i].size());

  std::vector<Proposal> out;
  for (int64_t visited = 0; visited < kMaxVisited; ++visited) {
    hpo::v1::Assignment a;
    auto& values = *a.mutable_values();
    for (int i = 0; i < nc; ++i) {
      values[space_.conditionals(i).name()].set_string_value(space_.conditionals(i).values(digit[i]));
    }
    bool canonical = true;
    for (int i = 0; i < np && canonical; ++i) {
      const Parameter& p = space_.parameters(i);
      if (space::IsActive(p, a)) {
        values[p.name()] = levels_[i][digit[nc + i]];
      } else if (digit[nc + i] != 0) {
        canonical = false;
      }
    }
    if (canonical && space::FirstViolatedConstraint(space_, a) < 0) {
      std::string key = AssignmentKey(a);
      if (used.insert(key).second) {
        out.push_back({std::move(a), kName});
        if (static_cast<int>(out.size()) == count) return out;
      }
    }
    // Increment the counter, last digit fastest; stop after the last point.
    int pos = nc + np - 1;
    while (pos >= 0 && ++digit[pos] == radix[pos]) digit[pos--] = 0;
    if (pos < 0) break;
  }
  if (!out.empty()) return out;
  return absl::FailedPreconditionError(absl::StrCat(
      "optimizer.algorithm: grid exhausted: every point of the grid has been suggested (",
      history.observations.size(), " observations, ", history.pending.size(), " pending)"));
}

}  // namespace hpo::optimizer
