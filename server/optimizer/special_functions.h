// File: server/optimizer/special_functions.h
//
// The few special functions the samplers need to turn a uniform coordinate into a draw from a
// prior: the standard normal CDF and quantile, and the regularized incomplete beta function
// and its inverse. Accuracy is about 1e-12 absolute in the quantiles, far beyond what
// sampling needs. Pure functions; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_SPECIAL_FUNCTIONS_H_
#define HPO_SERVER_OPTIMIZER_SPECIAL_FUNCTIONS_H_

namespace hpo::optimizer {

// P(Z <= x) for a standard normal Z.
double NormalCdf(double x);

// The x with NormalCdf(x) == p, for p in (0, 1). Returns -inf / +inf for p <= 0 / p >= 1.
double NormalQuantile(double p);

// Regularized incomplete beta I_x(a, b) for a, b > 0 and x in [0, 1] (clamped).
double RegularizedIncompleteBeta(double a, double b, double x);

// The x in [0, 1] with RegularizedIncompleteBeta(a, b, x) == p, for p in [0, 1]: the quantile
// of a Beta(a, b) distribution. Found by bisection refined with Newton steps.
double InverseRegularizedIncompleteBeta(double a, double b, double p);

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_SPECIAL_FUNCTIONS_H_
