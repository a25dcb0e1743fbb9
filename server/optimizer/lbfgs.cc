#include "server/optimizer/lbfgs.h"

#include <cmath>
#include <deque>
#include <limits>

namespace hpo::optimizer {
namespace {

// Gradient components that would push a variable at a bound outside the box are zeroed.
Eigen::VectorXd ProjectedGradient(const Eigen::VectorXd& x, const Eigen::VectorXd& g,
                                  const Eigen::VectorXd& lower, const Eigen::VectorXd& upper) {
  Eigen::VectorXd pg = g;
  for (int i = 0; i < x.size(); ++i) {
    if ((x[i] <= lower[i] && g[i] > 0) || (x[i] >= upper[i] && g[i] < 0)) pg[i] = 0;
  }
  return pg;
}

}  // namespace

LbfgsResult MinimizeLbfgs(const Objective& f, const Eigen::VectorXd& x0,
                          const Eigen::VectorXd& lower, const Eigen::VectorXd& upper,
                          const LbfgsOptions& options) {
  const int n = static_cast<int>(x0.size());
  LbfgsResult result;
  Eigen::VectorXd x = x0.cwiseMax(lower).cwiseMin(upper);
  Eigen::VectorXd g(n);
  double fx = f(x, &g);
  result.evaluations = 1;
  result.x = x;
  result.value = fx;
  if (!std::isfinite(fx)) return result;

  std::deque<Eigen::VectorXd> s_list, y_list;
  std::deque<double> rho_list;
  while (result.evaluations < options.max_evaluations) {
    Eigen::VectorXd pg = ProjectedGradient(x, g, lower, upper);
    if (pg.lpNorm<Eigen::Infinity>() < options.gradient_tolerance) break;
    // Two-loop recursion on the projected gradient.
    Eigen::VectorXd q = pg;
    std::vector<double> alpha(s_list.size());
    for (int i = static_cast<int>(s_list.size()) - 1; i >= 0; --i) {
      alpha[i] = rho_list[i] * s_list[i].dot(q);
      q -= alpha[i] * y_list[i];
    }
    double gamma = 1.0;
    if (!s_list.empty()) gamma = s_list.back().dot(y_list.back()) / y_list.back().squaredNorm();
    Eigen::VectorXd d = q * gamma;
    for (size_t i = 0; i < s_list.size(); ++i) {
      const double beta = rho_list[i] * y_list[i].dot(d);
      d += s_list[i] * (alpha[i] - beta);
    }
    d = -d;
    for (int i = 0; i < n; ++i) {
      if (pg[i] == 0) d[i] = 0;
    }
    double slope = d.dot(pg);
    if (!(slope < 0)) {  // not a descent direction: restart with steepest descent
      s_list.clear();
      y_list.clear();
      rho_list.clear();
      d = -pg;
      slope = d.dot(pg);
    }
    // First step of a fresh history: at most 1 unit in the max-norm.
    double step = 1.0;
    if (s_list.empty()) step = std::min(1.0, 1.0 / std::max(1e-12, d.lpNorm<Eigen::Infinity>()));
    bool accepted = false;
    Eigen::VectorXd x_new, g_new(n);
    double f_new = 0;
    for (int ls = 0; ls < 20 && result.evaluations < options.max_evaluations; ++ls) {
      x_new = (x + step * d).cwiseMax(lower).cwiseMin(upper);
      f_new = f(x_new, &g_new);
      ++result.evaluations;
      if (std::isfinite(f_new) && f_new <= fx + 1e-4 * (x_new - x).dot(pg)) {
        accepted = true;
        break;
      }
      step *= 0.3;
    }
    if (!accepted) break;
    const Eigen::VectorXd s = x_new - x;
    const Eigen::VectorXd y = g_new - g;
    const double sy = s.dot(y);
    if (sy > 1e-12) {
      s_list.push_back(s);
      y_list.push_back(y);
      rho_list.push_back(1.0 / sy);
      if (static_cast<int>(s_list.size()) > options.memory) {
        s_list.pop_front();
        y_list.pop_front();
        rho_list.pop_front();
      }
    }
    const double improvement = fx - f_new;
    x = x_new;
    g = g_new;
    fx = f_new;
    if (fx < result.value) {
      result.value = fx;
      result.x = x;
    }
    if (improvement < options.relative_tolerance * std::max(1.0, std::fabs(fx))) break;
  }
  return result;
}

}  // namespace hpo::optimizer
