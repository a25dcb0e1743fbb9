// File: server/optimizer/lbfgs.h
//
// A small box-constrained L-BFGS minimizer for smooth objectives of a few hundred variables at
// most (GP hyperparameters). Projected steps with Armijo backtracking: each iterate is clamped
// to [lower, upper], and the quasi-Newton direction is taken on the free variables only.
// Deterministic; no state; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_LBFGS_H_
#define HPO_SERVER_OPTIMIZER_LBFGS_H_

#include <functional>

#include <Eigen/Dense>

namespace hpo::optimizer {

// Value of the objective at x; writes its gradient to *gradient (same size as x). May return
// +inf or NaN for points it cannot evaluate (the line search then backtracks).
using Objective = std::function<double(const Eigen::VectorXd& x, Eigen::VectorXd* gradient)>;

struct LbfgsOptions {
  int max_evaluations = 100;  // objective calls, including line-search trials
  int memory = 7;
  double gradient_tolerance = 1e-5;  // stop when the projected gradient's max-norm is below
  double relative_tolerance = 1e-9;  // stop when the value improves less than this, relatively
};

struct LbfgsResult {
  Eigen::VectorXd x;
  double value = 0;
  int evaluations = 0;
};

// Minimizes `f` from `x0` (clamped into the box). `lower` and `upper` have the size of x0.
// Returns the best point evaluated (x0 itself if nothing better was found).
LbfgsResult MinimizeLbfgs(const Objective& f, const Eigen::VectorXd& x0,
                          const Eigen::VectorXd& lower, const Eigen::VectorXd& upper,
                          const LbfgsOptions& options = {});

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_LBFGS_H_
