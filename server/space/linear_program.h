// File: server/space/linear_program.h
//
// A small dense linear-programming kernel used to reason about linear constraints over the
// box of numeric parameters (feasibility at CreateExperiment, feasible starting points for the
// optimizers). Sizes are tiny (at most a few hundred rows and columns), so a textbook tableau
// simplex with Bland's rule is enough and never cycles. Pure functions; thread-safe.
#ifndef HPO_SERVER_SPACE_LINEAR_PROGRAM_H_
#define HPO_SERVER_SPACE_LINEAR_PROGRAM_H_

#include <optional>
#include <vector>

#include "server/space/work_budget.h"

namespace hpo::space {

// Solution of a linear program.
struct LpSolution {
  double objective = 0.0;
  std::vector<double> z;  // the optimal point
};

// Maximizes c·z subject to A z <= b and z >= 0, where every b[i] >= 0 (so z = 0 is feasible
// and no phase 1 is needed). `a` has one row per constraint, each of size c.size().
// Returns nullopt if the problem is unbounded, the iteration cap is hit, or `budget` (if given;
// charged one unit per tableau cell touched) runs out; the caller's formulation must keep the
// problem bounded.
std::optional<LpSolution> SolveStandardLp(const std::vector<std::vector<double>>& a,
                                          const std::vector<double>& b,
                                          const std::vector<double>& c,
                                          WorkBudget* budget = nullptr);

// Result of MaxMinSlack.
struct SlackSolution {
  // max over x in the box of min_i (h_i - g_i·x) / |g_i|, with x measured in box-normalized
  // units (each free coordinate scaled to [0, 1]); capped at 1. Negative means infeasible.
  double min_slack = 0.0;
  // The maximizing point, in original units, inside the box.
  std::vector<double> x;
};

// Finds the point of the box lo <= x <= hi that maximizes the smallest normalized slack of the
// rows g_i·x <= h_i (the Chebyshev-centre idea restricted to the rows). Coordinates with
// lo == hi are fixed. Rows whose free part is zero are checked directly: if one is violated
// beyond a 1e-9 relative tolerance, min_slack is negative.
// The rows are feasible over the box iff min_slack >= -kSlackTolerance.
// Returns nullopt on a numerical failure of the simplex (not expected) or when `budget` (if
// given) runs out.
std::optional<SlackSolution> MaxMinSlack(const std::vector<double>& lo,
                                         const std::vector<double>& hi,
                                         const std::vector<std::vector<double>>& g,
                                         const std::vector<double>& h,
                                         WorkBudget* budget = nullptr);

// Tolerance on SlackSolution::min_slack for calling a set of rows feasible.
inline constexpr double kSlackTolerance = 1e-9;

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_LINEAR_PROGRAM_H_
