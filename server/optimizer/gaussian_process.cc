#include "server/optimizer/gaussian_process.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "server/optimizer/lbfgs.h"
#include "server/space/rng.h"

namespace hpo::optimizer {
namespace {

constexpr double kSqrt5 = 2.23606797749978969641;
constexpr double kLog2Pi = 1.83787706640934548356;

// Prior and box of the log hyperparameters.
constexpr double kLengthscalePriorSd = 1.7320508075688772;  // sqrt(3)
constexpr double kOutputscalePriorMean = 0.0, kOutputscalePriorSd = 1.5;
constexpr double kNoisePriorMean = -6.907755278982137, kNoisePriorSd = 2.5;  // log 1e-3
constexpr double kMinLogLengthscale = -6.9, kMaxLogLengthscale = 6.9;      // 1e-3 .. 1e3
constexpr double kMinLogOutputscale = -9.2, kMaxLogOutputscale = 4.6;      // 1e-4 .. 1e2
constexpr double kMinLogNoise = -16.1, kMaxLogNoise = 0.7;                  // 1e-7 .. 2

double LengthscalePriorMean(int dimension) {
  return 1.4142135623730951 + 0.5 * std::log(std::max(1, dimension));
}

// Squared scaled distances between the rows of a and b (already divided by the lengthscales).
Eigen::MatrixXd SquaredDistances(const Eigen::MatrixXd& as, const Eigen::MatrixXd& bs) {
  Eigen::MatrixXd d2 = -2.0 * as * bs.transpose();
  d2.colwise() += as.rowwise().squaredNorm();
  d2.rowwise() += bs.rowwise().squaredNorm().transpose();
  return d2.cwiseMax(0.0);
}

Eigen::VectorXd InverseLengthscales(const GpHyperparameters& h) {
  return (-h.log_lengthscales.array()).exp().matrix();
}

}  // namespace

Eigen::VectorXd GpHyperparameters::Pack() const {
  Eigen::VectorXd v(log_lengthscales.size() + 2);
  v << log_lengthscales, log_outputscale, log_noise;
  return v;
}

GpHyperparameters GpHyperparameters::Unpack(const Eigen::VectorXd& packed) {
  GpHyperparameters h;
  const int d = static_cast<int>(packed.size()) - 2;
  h.log_lengthscales = packed.head(d);
  h.log_outputscale = packed[d];
  h.log_noise = packed[d + 1];
  return h;
}

Eigen::MatrixXd Matern52Kernel(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b,
                               const GpHyperparameters& h) {
  const Eigen::VectorXd inv_l = InverseLengthscales(h);
  const Eigen::MatrixXd r = SquaredDistances(a * inv_l.asDiagonal(), b * inv_l.asDiagonal())
                                .cwiseSqrt();
  const double s2 = std::exp(h.log_outputscale);
  return (s2 * (1.0 + kSqrt5 * r.array() + (5.0 / 3.0) * r.array().square()) *
          (-kSqrt5 * r.array()).exp())
      .matrix();
}

double LogMarginalLikelihood(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                             const Eigen::VectorXd& fixed_noise, const GpHyperparameters& h,
                             Eigen::VectorXd* gradient) {
  const int n = static_cast<int>(x.rows());
  const int d = static_cast<int>(x.cols());
  const Eigen::VectorXd inv_l = InverseLengthscales(h);
  const Eigen::MatrixXd xs = x * inv_l.asDiagonal();
  const Eigen::ArrayXXd r = SquaredDistances(xs, xs).cwiseSqrt().array();
  const Eigen::ArrayXXd e = (-kSqrt5 * r).exp();
  const double s2 = std::exp(h.log_outputscale);
  const double noise = std::exp(h.log_noise);
  Eigen::MatrixXd k = (s2 * (1.0 + kSqrt5 * r + (5.0 / 3.0) * r.square()) * e).matrix();
  const Eigen::MatrixXd kf = gradient != nullptr ? k : Eigen::MatrixXd();
  k.diagonal().array() += noise + 1e-9 * s2;
  if (fixed_noise.size() == n) k.diagonal() += fixed_noise;
  Eigen::LLT<Eigen::MatrixXd> llt(k);
  if (llt.info() != Eigen::Success) return -std::numeric_limits<double>::infinity();
  const Eigen::VectorXd alpha = llt.solve(y);
  const double log_det = 2.0 * llt.matrixLLT().diagonal().array().log().sum();
  const double value = -0.5 * y.dot(alpha) - 0.5 * log_det - 0.5 * n * kLog2Pi;
  if (!std::isfinite(value)) return -std::numeric_limits<double>::infinity();
  if (gradient != nullptr) {
    // d/dtheta = 0.5 tr(W dK/dtheta) with W = alpha alpha^T - K^-1.
    Eigen::MatrixXd w = llt.solve(Eigen::MatrixXd::Identity(n, n));
    w = alpha * alpha.transpose() - w;
    gradient->resize(d + 2);
    (*gradient)[d] = 0.5 * (w.array() * kf.array()).sum();
    (*gradient)[d + 1] = 0.5 * noise * w.trace();
    // dK_ij/dlog l_d = s2 5/3 (1 + sqrt5 r) exp(-sqrt5 r) (xs_id - xs_jd)^2.
    const Eigen::MatrixXd g =
        (w.array() * (s2 * (5.0 / 3.0) * (1.0 + kSqrt5 * r) * e)).matrix();
    const Eigen::VectorXd row_sums = g.rowwise().sum();
    const Eigen::MatrixXd gx = g * xs;
    for (int j = 0; j < d; ++j) {
      (*gradient)[j] = 0.5 * (2.0 * xs.col(j).array().square().matrix().dot(row_sums) -
                              2.0 * xs.col(j).dot(gx.col(j)));
    }
  }
  return value;
}

double LogHyperprior(const GpHyperparameters& h, Eigen::VectorXd* gradient) {
  const int d = static_cast<int>(h.log_lengthscales.size());
  const double mu_l = LengthscalePriorMean(d);
  const double var_l = kLengthscalePriorSd * kLengthscalePriorSd;
  const Eigen::ArrayXd dl = h.log_lengthscales.array() - mu_l;
  const double dz = h.log_outputscale - kOutputscalePriorMean;
  const double dn = h.log_noise - kNoisePriorMean;
  const double var_s = kOutputscalePriorSd * kOutputscalePriorSd;
  const double var_n = kNoisePriorSd * kNoisePriorSd;
  if (gradient != nullptr) {
    gradient->resize(d + 2);
    gradient->head(d) = (-dl / var_l).matrix();
    (*gradient)[d] = -dz / var_s;
    (*gradient)[d + 1] = -dn / var_n;
  }
  return -0.5 * (dl.square().sum() / var_l + dz * dz / var_s + dn * dn / var_n);
}

GpHyperparameters FitHyperparameters(const Eigen::MatrixXd& x, const Eigen::VectorXd& y,
                                     const Eigen::VectorXd& fixed_noise,
                                     const GpFitOptions& options) {
  const int d = static_cast<int>(x.cols());
  Eigen::VectorXd lower(d + 2), upper(d + 2);
  lower << Eigen::VectorXd::Constant(d, kMinLogLengthscale), kMinLogOutputscale, kMinLogNoise;
  upper << Eigen::VectorXd::Constant(d, kMaxLogLengthscale), kMaxLogOutputscale, kMaxLogNoise;
  const Objective objective = [&](const Eigen::VectorXd& theta, Eigen::VectorXd* grad) {
    const GpHyperparameters h = GpHyperparameters::Unpack(theta);
    Eigen::VectorXd g_lml, g_prior;
    const double lml = LogMarginalLikelihood(x, y, fixed_noise, h, &g_lml);
    if (!std::isfinite(lml)) return std::numeric_limits<double>::infinity();
    const double prior = LogHyperprior(h, &g_prior);
    *grad = -(g_lml + g_prior);
    return -(lml + prior);
  };
  GpHyperparameters centre;
  // The prior's median lengthscale is long (smooth functions); start a bit shorter, which
  // fits the small data sets typical of hyperparameter tuning better.
  centre.log_lengthscales = Eigen::VectorXd::Constant(d, LengthscalePriorMean(d) - 1.0);
  centre.log_outputscale = 0.0;
  centre.log_noise = kNoisePriorMean;
  space::Rng rng(space::MixSeed({options.seed, 0x47504649ULL}));
  LbfgsOptions lbfgs;
  lbfgs.max_evaluations = options.max_evaluations;
  LbfgsResult best;
  best.value = std::numeric_limits<double>::infinity();
  best.x = centre.Pack();
  for (int s = 0; s < std::max(1, options.starts); ++s) {
    Eigen::VectorXd theta0 = centre.Pack();
    if (s > 0) {
      for (int j = 0; j < d; ++j) {
        theta0[j] = LengthscalePriorMean(d) - 1.0 + kLengthscalePriorSd * 0.7 * rng.Gaussian();
      }
      theta0[d] = 0.5 * rng.Gaussian();
      theta0[d + 1] = kNoisePriorMean + 1.5 * rng.Gaussian();
    }
    LbfgsResult r = MinimizeLbfgs(objective, theta0, lower, upper, lbfgs);
    if (r.value < best.value) best = std::move(r);
  }
  return GpHyperparameters::Unpack(best.x.cwiseMax(lower).cwiseMin(upper));
}

absl::StatusOr<GaussianProcess> GaussianProcess::Create(Eigen::MatrixXd x, Eigen::VectorXd y,
                                                        Eigen::VectorXd fixed_noise,
                                                        GpHyperparameters h) {
  GaussianProcess gp;
  const int n = static_cast<int>(x.rows());
  gp.inv_sq_lengthscales_ = (-2.0 * h.log_lengthscales.array()).exp().matrix();
  Eigen::MatrixXd k = Matern52Kernel(x, x, h);
  const double s2 = std::exp(h.log_outputscale);
  k.diagonal().array() += std::exp(h.log_noise);
  if (fixed_noise.size() == n) k.diagonal() += fixed_noise;
  double jitter = 1e-9 * s2;
  for (int attempt = 0; attempt < 6; ++attempt, jitter *= 100) {
    Eigen::MatrixXd kj = k;
    kj.diagonal().array() += jitter;
    gp.llt_.compute(kj);
    if (gp.llt_.info() == Eigen::Success) break;
  }
  if (gp.llt_.info() != Eigen::Success) {
    return absl::InternalError("GP covariance is not positive definite");
  }
  gp.alpha_ = gp.llt_.solve(y);
  gp.x_ = std::move(x);
  gp.y_ = std::move(y);
  gp.fixed_noise_ = std::move(fixed_noise);
  gp.h_ = std::move(h);
  return gp;
}

absl::StatusOr<GaussianProcess> GaussianProcess::WithObservations(
    const Eigen::MatrixXd& x_new, const Eigen::VectorXd& y_new) const {
  const int n = size(), m = static_cast<int>(x_new.rows());
  Eigen::MatrixXd x(n + m, x_.cols());
  x << x_, x_new;
  Eigen::VectorXd y(n + m);
  y << y_, y_new;
  Eigen::VectorXd noise;
  if (fixed_noise_.size() == n) {
    noise.resize(n + m);
    noise << fixed_noise_, Eigen::VectorXd::Zero(m);
  }
  return Create(std::move(x), std::move(y), std::move(noise), h_);
}

double GaussianProcess::Predict(const Eigen::VectorXd& x, double* variance,
                                Eigen::VectorXd* d_mean, Eigen::VectorXd* d_variance) const {
  const int n = size();
  const double s2 = std::exp(h_.log_outputscale);
  // r_j and the kernel column k_j.
  const Eigen::ArrayXd r =
      ((x_.rowwise() - x.transpose()).array().square().matrix() * inv_sq_lengthscales_)
          .array()
          .sqrt();
  const Eigen::ArrayXd e = (-kSqrt5 * r).exp();
  const Eigen::VectorXd k = (s2 * (1.0 + kSqrt5 * r + (5.0 / 3.0) * r.square()) * e).matrix();
  const double mean = k.dot(alpha_);
  Eigen::VectorXd w;
  if (variance != nullptr || d_variance != nullptr) {
    Eigen::VectorXd v = llt_.matrixL().solve(k);
    if (variance != nullptr) *variance = std::max(s2 - v.squaredNorm(), 1e-12 * s2);
    if (d_variance != nullptr) w = llt_.matrixU().solve(v);  // K^-1 k
  }
  if (d_mean != nullptr || d_variance != nullptr) {
    // dk_j/dx = -c_j (x - x_j) / l^2 with c_j = s2 5/3 (1 + sqrt5 r_j) exp(-sqrt5 r_j).
    const Eigen::VectorXd c = (s2 * (5.0 / 3.0) * (1.0 + kSqrt5 * r) * e).matrix();
    auto weighted = [&](const Eigen::VectorXd& a) -> Eigen::VectorXd {
      const Eigen::VectorXd ac = a.cwiseProduct(c);
      Eigen::VectorXd out = ac.sum() * x - x_.transpose() * ac;
      return -out.cwiseProduct(inv_sq_lengthscales_);
    };
    if (d_mean != nullptr) *d_mean = weighted(alpha_);
    if (d_variance != nullptr) *d_variance = -2.0 * weighted(w);
  }
  (void)n;
  return mean;
}

void GaussianProcess::PredictBatch(const Eigen::MatrixXd& xs, Eigen::VectorXd* mean,
                                   Eigen::VectorXd* variance) const {
  const Eigen::MatrixXd ks = Matern52Kernel(xs, x_, h_);  // m x n
  *mean = ks * alpha_;
  if (variance != nullptr) {
    const double s2 = std::exp(h_.log_outputscale);
    const Eigen::MatrixXd v = llt_.matrixL().solve(ks.transpose());
    *variance = (s2 - v.colwise().squaredNorm().array()).max(1e-12 * s2).matrix().transpose();
  }
}

}  // namespace hpo::optimizer
