#include "server/space/feasibility.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/space/linear_program.h"
#include "server/space/rng.h"
#include "server/space/search_space.h"

namespace hpo::space {
namespace {

constexpr int kCandidatesPerTarget = 8;
// Budget units (see WorkLimits::max_work) of one hashed lookup of a string.
constexpr int64_t kUnitsPerLookup = 16;
constexpr int kHitAndRunSteps = 16;

bool Feasible(const std::optional<SlackSolution>& s) {
  return s.has_value() && s->min_slack >= -kSlackTolerance;
}

}  // namespace

ConstraintFeasibility::ConstraintFeasibility(const hpo::v1::SearchSpace& space, WorkLimits limits)
    : space_(space), budget_(std::move(limits)) {
  std::map<std::string, int> var_of;
  for (const hpo::v1::LinearConstraint& c : space.linear_constraints()) {
    for (const hpo::v1::LinearConstraintTerm& term : c.terms()) {
      if (var_of.count(term.name())) continue;
      const int index = ParameterIndex(space, term.name());
      if (index < 0) continue;
      const hpo::v1::Parameter& p = space.parameters(index);
      Var v;
      v.param_index = index;
      v.is_int = p.type() == hpo::v1::PARAMETER_TYPE_INT;
      v.gated = p.conditions_size() > 0;
      for (const hpo::v1::Condition& c : p.conditions()) {
        Condition& condition = v.conditions.emplace_back();
        condition.conditional = &c.name();
        condition.values.insert(c.values().begin(), c.values().end());
      }
      if (p.grid_size() > 0) {
        v.grid.assign(p.grid().begin(), p.grid().end());
        std::sort(v.grid.begin(), v.grid.end());
        v.grid.erase(std::unique(v.grid.begin(), v.grid.end()), v.grid.end());
        v.lo = v.grid.front();
        v.hi = v.grid.back();
      } else {
        v.lo = p.bounds().min();
        v.hi = p.bounds().max();
      }
      var_of[term.name()] = static_cast<int>(vars_.size());
      vars_.push_back(std::move(v));
    }
  }
  for (const hpo::v1::LinearConstraint& c : space.linear_constraints()) {
    double sign;
    if (c.type() == hpo::v1::CONSTRAINT_TYPE_LESS_THAN) {
      sign = 1.0;
    } else if (c.type() == hpo::v1::CONSTRAINT_TYPE_GREATER_THAN) {
      sign = -1.0;
    } else {
      continue;
    }
    std::vector<double> row(vars_.size(), 0.0);
    for (const hpo::v1::LinearConstraintTerm& term : c.terms()) {
      auto it = var_of.find(term.name());
      if (it != var_of.end()) row[it->second] += sign * term.weight();
    }
    g_.push_back(std::move(row));
    h_.push_back(sign * c.threshold());
  }
}

std::vector<bool> ConstraintFeasibility::ActiveMask(const hpo::v1::Assignment& assignment) const {
  // IsActive (search_space.h), with the condition values as sets.
  std::vector<bool> mask(vars_.size(), true);
  for (size_t k = 0; k < vars_.size(); ++k) {
    for (const Condition& c : vars_[k].conditions) {
      auto it = assignment.values().find(*c.conditional);
      if (it == assignment.values().end() ||
          it->second.kind_case() != hpo::v1::ParameterValue::kStringValue ||
          !c.values.contains(it->second.string_value())) {
        mask[k] = false;
        break;
      }
    }
  }
  return mask;
}

std::vector<double> ConstraintFeasibility::Candidates(int k, double target, int limit) const {
  const Var& v = vars_[k];
  std::vector<double> out;
  if (!v.grid.empty()) {
    out = v.grid;
    std::stable_sort(out.begin(), out.end(), [target](double a, double b) {
      return std::fabs(a - target) < std::fabs(b - target);
    });
    if (static_cast<int>(out.size()) > limit) out.resize(limit);
    return out;
  }
  const double r = std::clamp(std::round(target), v.lo, v.hi);
  out.push_back(r);
  for (int d = 1; static_cast<int>(out.size()) < limit; ++d) {
    const bool up_ok = r + d <= v.hi;
    const bool down_ok = r - d >= v.lo;
    if (!up_ok && !down_ok) break;
    // Try the side closer to the target first.
    const bool up_first = target >= r;
    if (up_first) {
      if (up_ok) out.push_back(r + d);
      if (down_ok && static_cast<int>(out.size()) < limit) out.push_back(r - d);
    } else {
      if (down_ok) out.push_back(r - d);
      if (up_ok && static_cast<int>(out.size()) < limit) out.push_back(r + d);
    }
  }
  return out;
}

bool ConstraintFeasibility::Dive(const std::vector<bool>& mask, const std::vector<double>& targets,
                                 std::vector<double>* lo, std::vector<double>* hi,
                                 std::vector<double>* center) {
  const size_t n = vars_.size();
  lo->assign(n, 0.0);
  hi->assign(n, 0.0);
  for (size_t k = 0; k < n; ++k) {
    if (mask[k]) {
      (*lo)[k] = vars_[k].lo;
      (*hi)[k] = vars_[k].hi;
    }
  }
  std::optional<SlackSolution> s = MaxMinSlack(*lo, *hi, g_, h_, &budget_);
  if (!Feasible(s)) return false;
  *center = s->x;
  for (size_t k = 0; k < n; ++k) {
    if (!mask[k] || !Discrete(vars_[k])) continue;
    std::vector<double> candidates;
    if (!std::isnan(targets[k])) candidates = Candidates(k, targets[k], kCandidatesPerTarget);
    for (double c : Candidates(k, (*center)[k], kCandidatesPerTarget)) {
      if (std::find(candidates.begin(), candidates.end(), c) == candidates.end()) {
        candidates.push_back(c);
      }
    }
    bool fixed = false;
    for (double c : candidates) {
      (*lo)[k] = (*hi)[k] = c;
      std::optional<SlackSolution> t = MaxMinSlack(*lo, *hi, g_, h_, &budget_);
      if (Feasible(t)) {
        *center = t->x;
        fixed = true;
        break;
      }
    }
    if (!fixed) return false;
  }
  return true;
}

bool ConstraintFeasibility::BranchFeasible(const hpo::v1::Assignment& assignment) {
  if (vars_.empty()) return true;
  const std::vector<bool> mask = ActiveMask(assignment);
  auto it = branch_cache_.find(mask);
  if (it != branch_cache_.end()) return it->second;
  std::vector<double> lo(vars_.size(), 0.0), hi(vars_.size(), 0.0);
  for (size_t k = 0; k < vars_.size(); ++k) {
    if (mask[k]) {
      lo[k] = vars_[k].lo;
      hi[k] = vars_[k].hi;
    }
  }
  const bool ok = Feasible(MaxMinSlack(lo, hi, g_, h_, &budget_));
  if (budget_.exhausted()) return false;  // undecided: not cached
  branch_cache_[mask] = ok;
  return ok;
}

absl::Status ConstraintFeasibility::CheckFeasible() {
  feasible_conditionals_.reset();
  if (vars_.empty()) return absl::OkStatus();
  // Conditionals that gate a constrained parameter, in first-use order.
  std::vector<const hpo::v1::Conditional*> gating;
  for (const Var& v : vars_) {
    for (const hpo::v1::Condition& c : space_.parameters(v.param_index).conditions()) {
      const hpo::v1::Conditional* conditional = FindConditional(space_, c.name());
      if (conditional != nullptr &&
          std::find(gating.begin(), gating.end(), conditional) == gating.end()) {
        gating.push_back(conditional);
      }
    }
  }
  double combos = 1.0;
  for (const hpo::v1::Conditional* c : gating) combos *= std::max(1, c->values_size());

  if (combos > kMaxEnumeratedBranches) {
    std::vector<double> lo(vars_.size()), hi(vars_.size());
    for (size_t k = 0; k < vars_.size(); ++k) {
      lo[k] = vars_[k].gated ? std::min(vars_[k].lo, 0.0) : vars_[k].lo;
      hi[k] = vars_[k].gated ? std::max(vars_[k].hi, 0.0) : vars_[k].hi;
    }
    std::optional<SlackSolution> s = MaxMinSlack(lo, hi, g_, h_, &budget_);
    if (budget_.exhausted()) return BudgetStatus();
    if (Feasible(s)) return absl::OkStatus();
    return absl::InvalidArgumentError(
        "the linear constraints cannot all hold for any parameter values within their bounds");
  }

  // Each combination costs lookups besides its LPs (few: most combinations share a branch), and
  // is charged for them so that the limits and cancellation are polled here too.
  int64_t lookups = static_cast<int64_t>(gating.size() + vars_.size());
  for (const Var& v : vars_) lookups += static_cast<int64_t>(v.conditions.size());
  const int64_t units_per_combination = kUnitsPerLookup * lookups;
  std::vector<int> digits(gating.size(), 0);
  std::set<std::vector<bool>> seen;
  bool relaxation_feasible = false;
  const std::vector<double> no_targets(vars_.size(), std::numeric_limits<double>::quiet_NaN());
  while (true) {
    if (!budget_.Charge(units_per_combination)) return BudgetStatus();
    hpo::v1::Assignment branch;
    for (size_t i = 0; i < gating.size(); ++i) {
      if (gating[i]->values_size() == 0) continue;
      (*branch.mutable_values())[gating[i]->name()].set_string_value(
          gating[i]->values(digits[i]));
    }
    const std::vector<bool> mask = ActiveMask(branch);
    if (seen.insert(mask).second && BranchFeasible(branch)) {
      relaxation_feasible = true;
      std::vector<double> lo, hi, center;
      if (Dive(mask, no_targets, &lo, &hi, &center)) {
        if (!gating.empty()) feasible_conditionals_ = branch;
        return absl::OkStatus();
      }
    }
    if (budget_.exhausted()) return BudgetStatus();
    // Next combination (mixed radix).
    size_t i = 0;
    for (; i < gating.size(); ++i) {
      if (++digits[i] < gating[i]->values_size()) break;
      digits[i] = 0;
    }
    if (i == gating.size()) break;
  }
  if (relaxation_feasible) {
    return absl::InvalidArgumentError(
        "the linear constraints admit no point with exact integer and grid values");
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "the linear constraints cannot all hold for any parameter values within their bounds%s",
      gating.empty() ? "" : " and any combination of conditional values"));
}

absl::Status ConstraintFeasibility::BudgetStatus() const {
  switch (budget_.stop()) {
    case WorkBudget::Stop::kCancelled:
      return absl::CancelledError(
          "the feasibility search of the linear constraints was abandoned: the caller cancelled "
          "or its deadline passed");
    case WorkBudget::Stop::kTime:
      return absl::ResourceExhaustedError(absl::StrCat(
          "feasibility could not be decided within the budget (", absl::FormatDuration(
              budget_.limits().max_time), " of search)"));
    default:
      return absl::ResourceExhaustedError(absl::StrCat(
          "feasibility could not be decided within the budget (", budget_.limits().max_work,
          " units of LP work)"));
  }
}

bool ConstraintFeasibility::Repair(hpo::v1::Assignment* assignment, uint64_t seed) {
  if (vars_.empty()) return FirstViolatedConstraint(space_, *assignment) < 0;
  const std::vector<bool> mask = ActiveMask(*assignment);
  if (!BranchFeasible(*assignment)) return false;
  const size_t n = vars_.size();
  std::vector<double> targets(n, std::numeric_limits<double>::quiet_NaN());
  for (size_t k = 0; k < n; ++k) {
    if (!mask[k]) continue;
    auto it = assignment->values().find(space_.parameters(vars_[k].param_index).name());
    if (it == assignment->values().end()) continue;
    std::optional<double> v = NumericValue(it->second);
    if (v.has_value()) targets[k] = *v;
  }
  std::vector<double> lo, hi, center;
  if (!Dive(mask, targets, &lo, &hi, &center)) return false;

  auto write = [&](hpo::v1::Assignment* a, const std::vector<double>& x, bool continuous) {
    for (size_t k = 0; k < n; ++k) {
      if (!mask[k] || Discrete(vars_[k]) == continuous) continue;
      const hpo::v1::Parameter& p = space_.parameters(vars_[k].param_index);
      hpo::v1::ParameterValue& value = (*a->mutable_values())[p.name()];
      if (vars_[k].is_int) {
        value.set_int_value(std::llround(x[k]));
      } else {
        value.set_number_value(x[k]);
      }
    }
  };
  hpo::v1::Assignment candidate = *assignment;
  write(&candidate, lo, /*continuous=*/false);  // discrete ones are fixed: lo == hi
  bool all_continuous_present = true;
  for (size_t k = 0; k < n; ++k) {
    if (mask[k] && !Discrete(vars_[k]) && std::isnan(targets[k])) all_continuous_present = false;
  }
  if (all_continuous_present && FirstViolatedConstraint(space_, candidate) < 0) {
    *assignment = std::move(candidate);
    return true;
  }

  // Hit-and-run over the continuous coordinates, from the max-slack centre. Directions are
  // scaled by the box widths so that wide and narrow parameters mix equally fast.
  Rng rng(seed);
  std::vector<double> x = center;
  for (int step = 0; step < kHitAndRunSteps; ++step) {
    std::vector<double> d(n, 0.0);
    for (size_t k = 0; k < n; ++k) {
      if (hi[k] > lo[k]) d[k] = (hi[k] - lo[k]) * rng.Gaussian();
    }
    double tmin = -std::numeric_limits<double>::infinity();
    double tmax = std::numeric_limits<double>::infinity();
    for (size_t k = 0; k < n; ++k) {
      if (d[k] > 0) {
        tmax = std::min(tmax, (hi[k] - x[k]) / d[k]);
        tmin = std::max(tmin, (lo[k] - x[k]) / d[k]);
      } else if (d[k] < 0) {
        tmax = std::min(tmax, (lo[k] - x[k]) / d[k]);
        tmin = std::max(tmin, (hi[k] - x[k]) / d[k]);
      }
    }
    for (size_t i = 0; i < g_.size(); ++i) {
      double alpha = 0.0, gx = 0.0;
      for (size_t k = 0; k < n; ++k) {
        alpha += g_[i][k] * d[k];
        gx += g_[i][k] * x[k];
      }
      const double beta = std::max(0.0, h_[i] - gx);
      if (alpha > 0) {
        tmax = std::min(tmax, beta / alpha);
      } else if (alpha < 0) {
        tmin = std::max(tmin, beta / alpha);
      }
    }
    if (!(tmin <= tmax) || !std::isfinite(tmin) || !std::isfinite(tmax)) continue;
    const double t = tmin + rng.Uniform() * (tmax - tmin);
    for (size_t k = 0; k < n; ++k) x[k] = std::clamp(x[k] + t * d[k], lo[k], hi[k]);
  }
  write(&candidate, x, /*continuous=*/true);
  if (FirstViolatedConstraint(space_, candidate) >= 0) {
    write(&candidate, center, /*continuous=*/true);
    if (FirstViolatedConstraint(space_, candidate) >= 0) return false;
  }
  *assignment = std::move(candidate);
  return true;
}

}  // namespace hpo::space
