#include "server/space/linear_program.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace hpo::space {

std::optional<LpSolution> SolveStandardLp(const std::vector<std::vector<double>>& a,
                                          const std::vector<double>& b,
                                          const std::vector<double>& c, WorkBudget* budget) {
  constexpr double kEps = 1e-12;
  const int m = static_cast<int>(a.size());
  const int n = static_cast<int>(c.size());
  const int cols = n + m + 1;  // variables, slacks, right-hand side
  const int rhs = n + m;
  const int64_t tableau_cells = static_cast<int64_t>(m + 1) * cols;
  if (budget != nullptr && !budget->Charge(tableau_cells)) return std::nullopt;
  std::vector<std::vector<double>> t(m + 1, std::vector<double>(cols, 0.0));
  std::vector<int> basis(m);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) t[i][j] = a[i][j];
    t[i][n + i] = 1.0;
    t[i][rhs] = std::max(0.0, b[i]);
    basis[i] = n + i;
  }
  for (int j = 0; j < n; ++j) t[m][j] = -c[j];

  // Bland's rule: smallest improving column, ties in the ratio test broken by the smallest
  // basic variable. Guarantees termination; the cap only guards against numerical trouble.
  const int max_iterations = 50 * (n + m) + 1000;
  for (int iter = 0;; ++iter) {
    if (iter >= max_iterations) return std::nullopt;
    if (budget != nullptr && !budget->Charge(tableau_cells)) return std::nullopt;
    int enter = -1;
    for (int j = 0; j < n + m; ++j) {
      if (t[m][j] < -kEps) {
        enter = j;
        break;
      }
    }
    if (enter < 0) break;
    int leave = -1;
    double best = std::numeric_limits<double>::infinity();
    for (int i = 0; i < m; ++i) {
      if (t[i][enter] > kEps) {
        const double ratio = t[i][rhs] / t[i][enter];
        if (ratio < best - 1e-15 ||
            (ratio <= best + 1e-15 && leave >= 0 && basis[i] < basis[leave])) {
          best = std::min(best, ratio);
          leave = i;
        }
      }
    }
    if (leave < 0) return std::nullopt;  // unbounded
    const double pivot = t[leave][enter];
    for (int j = 0; j < cols; ++j) t[leave][j] /= pivot;
    for (int i = 0; i <= m; ++i) {
      if (i == leave) continue;
      const double f = t[i][enter];
      if (f == 0.0) continue;
      for (int j = 0; j < cols; ++j) t[i][j] -= f * t[leave][j];
    }
    basis[leave] = enter;
  }
  LpSolution solution;
  solution.z.assign(n, 0.0);
  for (int i = 0; i < m; ++i) {
    if (basis[i] < n) solution.z[basis[i]] = std::max(0.0, t[i][rhs]);
  }
  solution.objective = t[m][rhs];
  return solution;
}

std::optional<SlackSolution> MaxMinSlack(const std::vector<double>& lo,
                                         const std::vector<double>& hi,
                                         const std::vector<std::vector<double>>& g,
                                         const std::vector<double>& h, WorkBudget* budget) {
  const int n = static_cast<int>(lo.size());
  std::vector<int> free_vars;
  for (int j = 0; j < n; ++j) {
    if (hi[j] > lo[j]) free_vars.push_back(j);
  }
  const int nf = static_cast<int>(free_vars.size());

  // Substitute x_j = lo_j + w_j u_j with u_j in [0, 1] and t = s - big, so that u = 0, s = 0
  // is feasible (all right-hand sides >= 0) and a single-phase simplex suffices:
  //   maximize s  s.t.  g'_i·u + |g'_i| s <= r_i + |g'_i| big,  u_j <= 1,  s <= big + 1.
  SlackSolution result;
  result.min_slack = 1.0;
  std::vector<std::vector<double>> rows;
  std::vector<double> r;
  std::vector<double> norms;
  for (size_t i = 0; i < g.size(); ++i) {
    double constant = 0.0;
    double constant_abs = 0.0;
    std::vector<double> row(nf);
    double norm2 = 0.0;
    for (int j = 0; j < n; ++j) {
      constant += g[i][j] * lo[j];
      constant_abs += std::fabs(g[i][j] * lo[j]);
    }
    for (int k = 0; k < nf; ++k) {
      const int j = free_vars[k];
      row[k] = g[i][j] * (hi[j] - lo[j]);
      norm2 += row[k] * row[k];
    }
    const double ri = h[i] - constant;
    const double norm = std::sqrt(norm2);
    const double scale = std::max({1.0, std::fabs(h[i]), constant_abs});
    if (norm <= 1e-300 || norm < 1e-14 * scale) {
      if (ri < -1e-9 * scale) result.min_slack = std::min(result.min_slack, ri / scale - 1e-6);
      continue;
    }
    rows.push_back(std::move(row));
    r.push_back(ri);
    norms.push_back(norm);
  }
  double big = 0.0;
  for (size_t i = 0; i < rows.size(); ++i) big = std::max(big, -r[i] / norms[i]);
  big += 1.0;

  const int m = static_cast<int>(rows.size());
  std::vector<std::vector<double>> a;
  std::vector<double> b;
  a.reserve(m + nf + 1);
  for (int i = 0; i < m; ++i) {
    std::vector<double> row(nf + 1);
    for (int k = 0; k < nf; ++k) row[k] = rows[i][k] / norms[i];
    row[nf] = 1.0;
    a.push_back(std::move(row));
    b.push_back(r[i] / norms[i] + big);
  }
  for (int k = 0; k < nf; ++k) {
    std::vector<double> row(nf + 1, 0.0);
    row[k] = 1.0;
    a.push_back(std::move(row));
    b.push_back(1.0);
  }
  {
    std::vector<double> row(nf + 1, 0.0);
    row[nf] = 1.0;
    a.push_back(std::move(row));
    b.push_back(big + 1.0);
  }
  std::vector<double> c(nf + 1, 0.0);
  c[nf] = 1.0;
  std::optional<LpSolution> lp = SolveStandardLp(a, b, c, budget);
  if (!lp.has_value()) return std::nullopt;
  result.min_slack = std::min(result.min_slack, lp->z[nf] - big);
  result.x = lo;
  for (int k = 0; k < nf; ++k) {
    const int j = free_vars[k];
    const double u = std::clamp(lp->z[k], 0.0, 1.0);
    result.x[j] = std::clamp(lo[j] + (hi[j] - lo[j]) * u, lo[j], hi[j]);
  }
  return result;
}

}  // namespace hpo::space
