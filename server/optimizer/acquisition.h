// File: server/optimizer/acquisition.h
//
// Numerically stable building blocks of the acquisition functions, all in log space so that
// products (EI times probabilities of feasibility) become sums and nothing underflows far from
// the incumbent. The log-EI follows Ament et al., "Unexpected Improvements to Expected
// Improvement for Bayesian Optimization" (NeurIPS 2023): with h(z) = phi(z) + z Phi(z),
//   log h(z) = log(phi(z) + z Phi(z))                                   for z > -1,
//            = -z^2/2 - log(2 pi)/2 + log1mexp(log(erfcx(-z/sqrt2)|z|) + log(pi/2)/2)
//                                                                       for -1/sqrt(eps) < z <= -1,
//            = -z^2/2 - log(2 pi)/2 - 2 log|z|                          below,
// which is finite and smooth for every finite z. Pure functions; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_ACQUISITION_H_
#define HPO_SERVER_OPTIMIZER_ACQUISITION_H_

namespace hpo::optimizer {

// The scaled complementary error function exp(x^2) erfc(x), for any finite x (relative
// accuracy about 1e-13; for x < 0 it grows like 2 exp(x^2), +inf past overflow).
double Erfcx(double x);

// log(1 - exp(a)) for a < 0 (Maechler's switch between log(-expm1(a)) and log1p(-exp(a))).
double Log1mExp(double a);

// log Phi(z), the log of the standard normal CDF, stable for very negative z.
double LogNormalCdf(double z);

// d/dz log Phi(z) = phi(z) / Phi(z), stable for every z (about -z for z -> -inf).
double LogNormalCdfDerivative(double z);

// log h(z) with h(z) = phi(z) + z Phi(z): the log of the expected improvement of a standard
// normal over -z. Finite for every finite z. If `derivative` is non-null, *derivative is
// d log h / dz = Phi(z) / h(z) (>= 0).
double LogH(double z, double* derivative = nullptr);

// The log expected improvement of a normal(mean, sigma^2) prediction over the incumbent `best`
// when minimizing: log E[max(best - f, 0)] = log h((best - mean) / sigma) + log sigma.
// sigma must be > 0. If `d_mean` / `d_sigma` are non-null, receives the partial derivatives.
double LogExpectedImprovement(double mean, double sigma, double best, double* d_mean = nullptr,
                              double* d_sigma = nullptr);

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_ACQUISITION_H_
