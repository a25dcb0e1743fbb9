// File: server/space/feasibility.h
//
// Reasoning about the linear constraints of a search space as a whole: whether any assignment
// satisfies them (checked at CreateExperiment), and how to move the constrained parameters of
// a given assignment onto a feasible point (used by the optimizers as a fallback when
// rejection sampling fails in thin feasible regions).
//
// Model. Only double and int parameters without log transformation may appear in constraints
// (validation.h enforces this). A term whose parameter is inactive contributes 0. For each
// combination of values of the conditionals that gate constrained parameters, the active
// constrained parameters span a box (bounds, or [min grid, max grid]); the constraints are
// checked on that box with a small LP (linear_program.h) using the continuous relaxation of
// int and grid parameters, and then a point with exact integer/grid values is searched for by
// "diving" (fix one discrete parameter at a time to the nearest value that keeps the LP
// feasible). The space is feasible if at least one combination yields an exact point.
// If there are more than kMaxEnumeratedBranches combinations, each gated parameter instead
// ranges over the hull of its box and 0 (a relaxation: infeasibility is then certain, while
// feasibility is only likely; the optimizers still never emit a violating point).
// The search can cost many LPs (branches x discrete parameters x candidates), so every
// ConstraintFeasibility runs under one WorkBudget (work_budget.h) shared by all its calls.
#ifndef HPO_SERVER_SPACE_FEASIBILITY_H_
#define HPO_SERVER_SPACE_FEASIBILITY_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "hpo/v1/search_space.pb.h"
#include "server/space/work_budget.h"

namespace hpo::space {

// Largest number of conditional-value combinations CheckFeasible enumerates exactly.
inline constexpr int kMaxEnumeratedBranches = 4096;

// Analyzes the linear constraints of one search space. `space` must outlive the object and
// must otherwise be valid (ValidateSearchSpace without the feasibility rule): constraint terms
// name existing numeric, non-log parameters with finite bounds or grids.
// Not thread-safe (it caches per-branch LP results); construct one per use. All calls together
// stay within `limits`: once the budget is spent, CheckFeasible fails and BranchFeasible and
// Repair return false.
class ConstraintFeasibility {
 public:
  explicit ConstraintFeasibility(const hpo::v1::SearchSpace& space,
                                 WorkLimits limits = WorkLimits());

  // True if the space has at least one linear constraint.
  bool has_constraints() const { return !vars_.empty() || space_.linear_constraints_size() > 0; }

  // OK if some assignment (some combination of conditional values, exact integer and grid
  // values) satisfies every linear constraint. Otherwise INVALID_ARGUMENT with a message that
  // explains why (without a field prefix); RESOURCE_EXHAUSTED if the work or time limit was
  // reached first, CANCELLED if the caller's deadline passed or it cancelled (messages say
  // which, without a field prefix).
  absl::Status CheckFeasible();

  // After an OK CheckFeasible that enumerated branches: the values of the gating conditionals
  // (only those) of a branch known to be feasible. nullopt if there are no gating
  // conditionals or CheckFeasible fell back to the hull relaxation.
  const std::optional<hpo::v1::Assignment>& feasible_conditionals() const {
    return feasible_conditionals_;
  }

  // True if the continuous relaxation of the constraints is feasible for the parameters that
  // are active under `assignment`'s conditional values.
  bool BranchFeasible(const hpo::v1::Assignment& assignment);

  // Rewrites the active constrained parameters of `assignment` (every conditional set, every
  // active parameter present) so that every linear constraint holds. Discrete values are
  // chosen near their current values; continuous ones are kept if already feasible, otherwise
  // drawn by a few hit-and-run steps (seeded by `seed`) from the max-slack centre of the
  // feasible region. Other parameters are untouched. Returns false, leaving `assignment`
  // unchanged, if the branch has no feasible point or none was found.
  bool Repair(hpo::v1::Assignment* assignment, uint64_t seed);

 private:
  // A condition of a constrained parameter, with its values as a set (a condition may list
  // up to every value of its conditional, and is checked once per enumerated combination).
  struct Condition {
    const std::string* conditional;                 // its name, in space_
    absl::flat_hash_set<absl::string_view> values;  // into space_
  };
  struct Var {
    int param_index;
    double lo;
    double hi;
    bool is_int;
    bool gated;                  // has conditions
    std::vector<double> grid;    // sorted; empty unless the parameter has a grid
    std::vector<Condition> conditions;
  };
  bool Discrete(const Var& v) const { return v.is_int || !v.grid.empty(); }
  std::vector<bool> ActiveMask(const hpo::v1::Assignment& assignment) const;
  // Candidate discrete values of var `k`, nearest to `target` first, at most `limit`.
  std::vector<double> Candidates(int k, double target, int limit) const;
  // Dives to an exact point for the given mask; `targets` are preferred values (NaN = none).
  bool Dive(const std::vector<bool>& mask, const std::vector<double>& targets,
            std::vector<double>* lo, std::vector<double>* hi, std::vector<double>* center);

  // The status of a search stopped by the budget.
  absl::Status BudgetStatus() const;

  const hpo::v1::SearchSpace& space_;
  WorkBudget budget_;
  std::vector<Var> vars_;
  std::vector<std::vector<double>> g_;  // rows over vars_, as g·x <= h
  std::vector<double> h_;
  std::map<std::vector<bool>, bool> branch_cache_;
  std::optional<hpo::v1::Assignment> feasible_conditionals_;
};

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_FEASIBILITY_H_
