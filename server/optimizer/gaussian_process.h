// File: server/optimizer/gaussian_process.h
//
// Exact Gaussian-process regression with a Matérn-5/2 ARD kernel, for inputs in (roughly) the
// unit cube and standardized outputs:
//   k(a, b) = s2 (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r),  r^2 = sum_d (a_d - b_d)^2 / l_d^2,
// zero prior mean, homoscedastic noise variance `noise` plus optional known per-point noise
// variances (observation stddev). Hyperparameters live in log space and are fitted by
// maximizing log p(y | X, theta) + log p(theta) with L-BFGS (lbfgs.h) from several starts, with
// analytic gradients. Priors (log-normal, i.e. normal on the log):
// - lengthscales: log l_d ~ N(sqrt2 + log(D)/2, 3) (Hvarfner et al. 2024, "Vanilla Bayesian
//   optimization performs great in high dimensions": scales with the dimension D),
// - outputscale: log s2 ~ N(0, 1.5^2) (outputs are standardized),
// - noise: log noise ~ N(log 1e-3, 2.5^2), bounded below by 1e-7.
// Everything is deterministic (the extra starts are drawn from a seeded space::Rng).
// Instances are immutable after construction and thread-compatible.
#ifndef HPO_SERVER_OPTIMIZER_GAUSSIAN_PROCESS_H_
#define HPO_SERVER_OPTIMIZER_GAUSSIAN_PROCESS_H_

#include <cstdint>

#include <Eigen/Dense>

#include "absl/status/statusor.h"

namespace hpo::optimizer {

struct GpHyperparameters {
  Eigen::VectorXd log_lengthscales;  // one per input dimension
  double log_outputscale = 0.0;      // log s2
  double log_noise = -6.9;           // log of the homoscedastic noise variance

  // Packed as [log_lengthscales..., log_outputscale, log_noise] (the L-BFGS variable).
  Eigen::VectorXd Pack() const;
  static GpHyperparameters Unpack(const Eigen::VectorXd& packed);
};

// The covariance matrix k(a_i, b_j) between the rows of a (n x D) and b (m x D), noise-free.
Eigen::MatrixXd Matern52Kernel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                               const GpHyperparameters& h);

// log p(y | x, h) of the GP with noise variance exp(h.log_noise) + fixed_noise[i] on point i
// (fixed_noise may be empty). If `gradient` is non-null, receives d/d h.Pack(). Returns -inf if
// the covariance is not positive definite.
double LogMarginalLikelihood(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const Eigen::VectorXd& fixed_noise, const GpHyperparameters& h,
                             Eigen::VectorXd* gradient = nullptr);

// log p(h) under the priors of the file comment (up to a constant; D = lengthscale count),
// with its gradient w.r.t. h.Pack() if `gradient` is non-null.
double LogHyperprior(const GpHyperparameters& h, Eigen::VectorXd* gradient = nullptr);

struct GpFitOptions {
  int starts = 3;              // the prior's centre plus starts - 1 random draws from the prior
  int max_evaluations = 120;   // L-BFGS objective calls per start
  uint64_t seed = 0;           // for the random starts
};

// The maximum a posteriori hyperparameters: argmax LogMarginalLikelihood + LogHyperprior.
// x is n x D with n >= 1.
GpHyperparameters FitHyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                     const Eigen::VectorXd& fixed_noise,
                                     const GpFitOptions& options);

class GaussianProcess {
 public:
  // Conditions the GP on (x, y) with hyperparameters h (see LogMarginalLikelihood for noise).
  // Adds growing jitter if the covariance is numerically singular; INTERNAL if that fails.
  static absl::StatusOr<GaussianProcess> Create(Eigen::MatrixXd x, Eigen::VectorXd y,
                                                Eigen::VectorXd fixed_noise,
                                                GpHyperparameters h);

  // The same GP with extra observations (noise as the homoscedastic noise): used for the
  // kriging believer (y_new = posterior mean at x_new).
  absl::StatusOr<GaussianProcess> WithObservations(const Eigen::MatrixXd& x_new,
                                                   const Eigen::VectorXd& y_new) const;

  // Posterior mean of the latent function at x (size D); *variance (if non-null) receives the
  // posterior variance (>= 1e-12 * s2, noise-free). If d_mean / d_variance are non-null they
  // receive the gradients w.r.t. x.
  double Predict(const Eigen::VectorXd& x, double* variance = nullptr,
                 Eigen::VectorXd* d_mean = nullptr, Eigen::VectorXd* d_variance = nullptr) const;

  // Posterior means and variances at the rows of xs.
  void PredictBatch(const Eigen::MatrixXd& xs, Eigen::VectorXd* mean,
                    Eigen::VectorXd* variance) const;

  const GpHyperparameters& hyperparameters() const { return h_; }
  const Eigen::MatrixXd& x() const { return x_; }
  const Eigen::VectorXd& y() const { return y_; }
  int size() const { return static_cast<int>(x_.rows()); }

 private:
  GaussianProcess() = default;

  Eigen::MatrixXd x_;
  Eigen::VectorXd y_;
  Eigen::VectorXd fixed_noise_;
  GpHyperparameters h_;
  Eigen::VectorXd inv_sq_lengthscales_;  // 1 / l^2
  Eigen::LLT<Eigen::MatrixXd> llt_;
  Eigen::VectorXd alpha_;  // K^-1 y
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_GAUSSIAN_PROCESS_H_
