#include "server/optimizer/gaussian_process.h"

#include <cmath>

#include "gtest/gtest.h"
#include "server/optimizer/lbfgs.h"

namespace hpo::optimizer {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

double Matern(double r) {
  return (1 + std::sqrt(5.0) * r + 5.0 / 3.0 * r * r) * std::exp(-std::sqrt(5.0) * r);
}

GpHyperparameters Hyper(VectorXd log_l, double log_s2, double log_noise) {
  GpHyperparameters h;
  h.log_lengthscales = std::move(log_l);
  h.log_outputscale = log_s2;
  h.log_noise = log_noise;
  return h;
}

TEST(GaussianProcess, ThreePointPosteriorMatchesHandComputation) {
  // x = 0, 0.5, 1 (1-D), y = 1, -1, 0.5, lengthscale 0.5, s2 = 2, noise 0.01.
  MatrixXd x(3, 1);
  x << 0, 0.5, 1;
  VectorXd y(3);
  y << 1, -1, 0.5;
  const double l = 0.5, s2 = 2.0, noise = 0.01;
  auto gp = GaussianProcess::Create(x, y, VectorXd(), Hyper(VectorXd::Constant(1, std::log(l)),
                                                            std::log(s2), std::log(noise)));
  ASSERT_TRUE(gp.ok()) << gp.status();
  // By hand: K_ij = s2 M(|xi - xj| / l) + noise delta_ij; the 3x3 inverse by cofactors.
  const double a = s2 * Matern(1.0), b = s2 * Matern(2.0), c = s2 + noise;
  const double k[3][3] = {{c, a, b}, {a, c, a}, {b, a, c}};
  const double det = k[0][0] * (k[1][1] * k[2][2] - k[1][2] * k[2][1]) -
                     k[0][1] * (k[1][0] * k[2][2] - k[1][2] * k[2][0]) +
                     k[0][2] * (k[1][0] * k[2][1] - k[1][1] * k[2][0]);
  double inv[3][3];
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      const int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
      inv[i][j] = (k[r0][c0] * k[r1][c1] - k[r0][c1] * k[r1][c0]) / det;
    }
  }
  const double xs = 0.3;
  const double ks[3] = {s2 * Matern(0.3 / l), s2 * Matern(0.2 / l), s2 * Matern(0.7 / l)};
  double mean = 0, quad = 0;
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      mean += ks[i] * inv[i][j] * y[j];
      quad += ks[i] * inv[i][j] * ks[j];
    }
  }
  double var = 0;
  VectorXd q(1);
  q << xs;
  EXPECT_NEAR(gp->Predict(q, &var), mean, 1e-8);  // Create adds 1e-9 s2 jitter
  EXPECT_NEAR(var, s2 - quad, 1e-8);
  VectorXd bm, bv;
  gp->PredictBatch(q.transpose(), &bm, &bv);
  EXPECT_NEAR(bm[0], mean, 1e-8);
  EXPECT_NEAR(bv[0], s2 - quad, 1e-8);
}

MatrixXd RandomPoints(int n, int d, unsigned seed) {
  std::srand(seed);
  return (MatrixXd::Random(n, d).array() * 0.5 + 0.5).matrix();
}

TEST(GaussianProcess, PredictGradientsMatchFiniteDifferences) {
  const MatrixXd x = RandomPoints(12, 3, 1);
  VectorXd y(12);
  for (int i = 0; i < 12; ++i) y[i] = std::sin(3 * x(i, 0)) + x(i, 1) * x(i, 2);
  VectorXd log_l(3);
  log_l << -1.0, -0.5, 0.2;
  auto gp = GaussianProcess::Create(x, y, VectorXd(), Hyper(log_l, 0.3, -5));
  ASSERT_TRUE(gp.ok());
  VectorXd p(3);
  p << 0.31, 0.72, 0.45;
  double var;
  VectorXd dm, dv;
  gp->Predict(p, &var, &dm, &dv);
  const double h = 1e-6;
  for (int j = 0; j < 3; ++j) {
    VectorXd a = p, b = p;
    a[j] += h;
    b[j] -= h;
    double va, vb;
    const double ma = gp->Predict(a, &va), mb = gp->Predict(b, &vb);
    EXPECT_NEAR(dm[j], (ma - mb) / (2 * h), 1e-5) << j;
    EXPECT_NEAR(dv[j], (va - vb) / (2 * h), 1e-5) << j;
  }
}

TEST(GaussianProcess, MarginalLikelihoodGradientMatchesFiniteDifferences) {
  const MatrixXd x = RandomPoints(15, 4, 2);
  VectorXd y(15);
  for (int i = 0; i < 15; ++i) y[i] = std::cos(4 * x(i, 0)) - x(i, 3);
  VectorXd noise = VectorXd::Constant(15, 0.01);
  VectorXd log_l(4);
  log_l << -0.7, 0.1, -1.2, 0.5;
  const GpHyperparameters h = Hyper(log_l, 0.2, -3.0);
  VectorXd grad, prior_grad;
  LogMarginalLikelihood(x, y, noise, h, &grad);
  LogHyperprior(h, &prior_grad);
  const VectorXd theta = h.Pack();
  const double eps = 1e-6;
  for (int j = 0; j < theta.size(); ++j) {
    VectorXd a = theta, b = theta;
    a[j] += eps;
    b[j] -= eps;
    const double fd = (LogMarginalLikelihood(x, y, noise, GpHyperparameters::Unpack(a)) -
                       LogMarginalLikelihood(x, y, noise, GpHyperparameters::Unpack(b))) /
                      (2 * eps);
    EXPECT_NEAR(grad[j], fd, 1e-5 * std::max(1.0, std::fabs(fd))) << j;
    const double fdp = (LogHyperprior(GpHyperparameters::Unpack(a)) -
                        LogHyperprior(GpHyperparameters::Unpack(b))) /
                       (2 * eps);
    EXPECT_NEAR(prior_grad[j], fdp, 1e-6) << j;
  }
}

TEST(GaussianProcess, FitFindsRelevantDimension) {
  // y depends on dimension 0 only: its lengthscale must come out shorter than the other's.
  const MatrixXd x = RandomPoints(30, 2, 3);
  VectorXd y(30);
  for (int i = 0; i < 30; ++i) y[i] = std::sin(6 * x(i, 0));
  y = (y.array() - y.mean()) / std::sqrt((y.array() - y.mean()).square().mean());
  GpFitOptions options;
  const GpHyperparameters h = FitHyperparameters(x, y, VectorXd(), options);
  EXPECT_LT(h.log_lengthscales[0] + 1.0, h.log_lengthscales[1]);
  EXPECT_LT(h.log_noise, std::log(0.05));
  // The fit improves on the starting point.
  GpHyperparameters start = Hyper(VectorXd::Constant(2, 1.41 + 0.5 * std::log(2.0) - 1.0), 0, -6.9);
  EXPECT_GT(LogMarginalLikelihood(x, y, VectorXd(), h) + LogHyperprior(h),
            LogMarginalLikelihood(x, y, VectorXd(), start) + LogHyperprior(start));
}

TEST(Lbfgs, MinimizesRosenbrockInsideBox) {
  const Objective f = [](const VectorXd& z, VectorXd* g) {
    const double a = 1 - z[0], b = z[1] - z[0] * z[0];
    g->resize(2);
    (*g)[0] = -2 * a - 400 * z[0] * b;
    (*g)[1] = 200 * b;
    return a * a + 100 * b * b;
  };
  LbfgsOptions options;
  options.max_evaluations = 500;
  LbfgsResult r = MinimizeLbfgs(f, VectorXd::Constant(2, -1.0), VectorXd::Constant(2, -2.0),
                                VectorXd::Constant(2, 2.0), options);
  EXPECT_NEAR(r.x[0], 1.0, 1e-3);
  EXPECT_NEAR(r.x[1], 1.0, 2e-3);
  // With the optimum outside the box, the result sits on the bound.
  r = MinimizeLbfgs(f, VectorXd::Constant(2, 0.0), VectorXd::Constant(2, -2.0),
                    VectorXd::Constant(2, 0.5), options);
  EXPECT_NEAR(r.x[0], 0.5, 1e-6);
}

}  // namespace
}  // namespace hpo::optimizer
