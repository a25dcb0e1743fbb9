#include "server/optimizer/bayesian_optimizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/optimizer/acquisition.h"
#include "server/optimizer/gaussian_process.h"
#include "server/optimizer/halton.h"
#include "server/optimizer/lbfgs.h"
#include "server/optimizer/sampling_optimizer.h"
#include "server/space/feasibility.h"
#include "server/space/rng.h"
#include "server/space/search_space.h"
#include "server/space/validation.h"

namespace hpo::optimizer {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

constexpr double kInf = std::numeric_limits<double>::infinity();
// Floating-point work allowed for one hyperparameter fit, and for one candidate screen.
constexpr double kFitFlops = 1.5e9;
constexpr double kScreenFlops = 3e8;
// Candidates refined by L-BFGS, and its evaluations per refinement.
constexpr int kRefinedCandidates = 5;
constexpr int kRefineEvaluations = 40;
// Feature-space distance a parallel proposal keeps from pending points when it can.
constexpr double kMinSeparation = 0.02;

bool Maximize(const hpo::v1::Metric& m) { return m.objective() != hpo::v1::OBJECTIVE_MINIMIZE; }

// The value (and stddev, if reported) of `name` in an observation.
const hpo::v1::MetricValue* FindValue(const hpo::v1::Observation& o, const std::string& name) {
  for (const hpo::v1::MetricValue& v : o.values()) {
    if (v.name() == name) return &v;
  }
  return nullptr;
}

// Warps (log when right-skewed) and standardizes targets to minimize; `noise` (variances on the
// raw scale, may be empty) is mapped through the warp's slope and the scale.
void Standardize(VectorXd* y, VectorXd* noise) {
  const int n = static_cast<int>(y->size());
  if (n >= 4) {
    const double mean = y->mean();
    const double var = (y->array() - mean).square().mean();
    const double skew = var > 0 ? (y->array() - mean).cube().mean() / std::pow(var, 1.5) : 0.0;
    if (skew > 1.0) {
      std::vector<double> sorted(y->data(), y->data() + n);
      std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.end());
      const double min = y->minCoeff();
      const double offset = std::max(0.1 * (sorted[n / 2] - min), 1e-12 * (1.0 + std::fabs(min)));
      const VectorXd shifted = (y->array() - min + offset).matrix();
      if (noise->size() == n) *noise = noise->cwiseQuotient(shifted.cwiseAbs2());
      *y = shifted.array().log().matrix();
    }
  }
  const double mean = y->mean();
  double sd = std::sqrt((y->array() - mean).square().mean());
  if (!(sd > 1e-12)) sd = 1.0;
  *y = ((y->array() - mean) / sd).matrix();
  if (noise->size() == n) *noise /= sd * sd;
}

// Indices of at most `max` rows: all if there are few, else the best max/2 by `score` (lower
// is better; none if `score` is empty) and then the most recent.
std::vector<int> Subset(int n, int max, const VectorXd& score) {
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  if (n <= max) return all;
  std::vector<char> take(n, 0);
  int taken = 0;
  if (score.size() == n) {
    std::vector<int> order = all;
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return score[a] < score[b]; });
    for (int i = 0; i < max / 2; ++i) take[order[i]] = 1, ++taken;
  }
  for (int i = n - 1; i >= 0 && taken < max; --i) {
    if (!take[i]) take[i] = 1, ++taken;
  }
  std::vector<int> out;
  for (int i = 0; i < n; ++i) {
    if (take[i]) out.push_back(i);
  }
  return out;
}

MatrixXd Rows(const MatrixXd& x, const std::vector<int>& rows) {
  MatrixXd out(rows.size(), x.cols());
  for (size_t i = 0; i < rows.size(); ++i) out.row(i) = x.row(rows[i]);
  return out;
}
VectorXd Rows(const VectorXd& v, const std::vector<int>& rows) {
  if (v.size() == 0) return v;
  VectorXd out(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) out[i] = v[rows[i]];
  return out;
}

// Fits hyperparameters within the kFitFlops budget (more starts for small data).
GpHyperparameters FitWithinBudget(const MatrixXd& x, const VectorXd& y, const VectorXd& noise,
                                  uint64_t seed) {
  const double n = static_cast<double>(x.rows()), d = static_cast<double>(x.cols());
  const double cost = n * n * n * (4.0 / 3.0) + 4.0 * n * n * d + 1.0;
  const int total = static_cast<int>(std::clamp(kFitFlops / cost, 24.0, 300.0));
  GpFitOptions options;
  options.starts = n <= 80 ? 3 : (n <= 160 ? 2 : 1);
  options.max_evaluations = std::max(12, std::min(100, total / options.starts));
  options.seed = seed;
  return FitHyperparameters(x, y, noise, options);
}

// The GP of `y` (raw targets to minimize) on the rows `rows` of x; standardized in place.
absl::StatusOr<GaussianProcess> FitModel(const MatrixXd& x, VectorXd y, VectorXd noise,
                                         uint64_t seed, const GpHyperparameters* reuse,
                                         VectorXd* standardized) {
  Standardize(&y, &noise);
  if (standardized != nullptr) *standardized = y;
  GpHyperparameters h = reuse != nullptr ? *reuse : FitWithinBudget(x, y, noise, seed);
  return GaussianProcess::Create(x, y, noise, h);
}

// The log acquisition of the file comment, in feature space.
struct Acquisition {
  const GaussianProcess* objective = nullptr;  // null: feasibility only
  double best = 0;                              // standardized incumbent
  struct Constraint {
    GaussianProcess gp;
    double threshold;  // standardized; feasible when below
  };
  std::vector<Constraint> constraints;
  std::optional<GaussianProcess> success;  // GP on +-1 labels

  double Value(const VectorXd& f, VectorXd* grad) const {
    double total = 0;
    if (grad != nullptr) grad->setZero(f.size());
    VectorXd dm, dv;
    double var = 0;
    VectorXd* pdm = grad != nullptr ? &dm : nullptr;
    VectorXd* pdv = grad != nullptr ? &dv : nullptr;
    if (objective != nullptr) {
      const double mean = objective->Predict(f, &var, pdm, pdv);
      const double sigma = std::sqrt(var);
      double d_mean = 0, d_sigma = 0;
      total += LogExpectedImprovement(mean, sigma, best, &d_mean, &d_sigma);
      if (grad != nullptr) *grad += d_mean * dm + d_sigma * dv / (2 * sigma);
    }
    for (const Constraint& c : constraints) {
      const double mean = c.gp.Predict(f, &var, pdm, pdv);
      const double sigma = std::sqrt(var);
      const double z = (c.threshold - mean) / sigma;
      total += LogNormalCdf(z);
      if (grad != nullptr) {
        const VectorXd dsigma = dv / (2 * sigma);
        *grad += LogNormalCdfDerivative(z) * (-dm - z * dsigma) / sigma;
      }
    }
    if (success.has_value()) {
      const double mean = success->Predict(f, &var, pdm, pdv);
      const double s = std::sqrt(0.25 + var);
      const double z = mean / s;
      total += LogNormalCdf(z);
      if (grad != nullptr) {
        *grad += LogNormalCdfDerivative(z) * (dm / s - mean * dv / (2 * s * s * s));
      }
    }
    return total;
  }

  VectorXd Batch(const MatrixXd& fs) const {
    VectorXd total = VectorXd::Zero(fs.rows());
    VectorXd mean, var;
    if (objective != nullptr) {
      objective->PredictBatch(fs, &mean, &var);
      for (int i = 0; i < fs.rows(); ++i) {
        total[i] += LogExpectedImprovement(mean[i], std::sqrt(var[i]), best);
      }
    }
    for (const Constraint& c : constraints) {
      c.gp.PredictBatch(fs, &mean, &var);
      for (int i = 0; i < fs.rows(); ++i) {
        total[i] += LogNormalCdf((c.threshold - mean[i]) / std::sqrt(var[i]));
      }
    }
    if (success.has_value()) {
      success->PredictBatch(fs, &mean, &var);
      for (int i = 0; i < fs.rows(); ++i) {
        total[i] += LogNormalCdf(mean[i] / std::sqrt(0.25 + var[i]));
      }
    }
    return total;
  }
};

// Candidate feature vectors, best acquisition first: screened quasi-random and local points,
// the best kRefinedCandidates refined by L-BFGS on their continuous coordinates.
std::vector<VectorXd> RankedCandidates(const ModelSpace& ms, const Acquisition& acq,
                                       const std::vector<VectorXd>& anchors, int model_points,
                                       uint64_t seed, space::Rng* rng) {
  const int d = ms.dimension();
  const int total = ScreenedCandidates(d, model_points);
  const bool high_dim = d > 30;
  const int n_global = anchors.empty() ? total : (high_dim ? total / 4 : total / 2);
  std::vector<VectorXd> cands;
  cands.reserve(total);
  ScrambledHalton halton(ms.unit_dimension(), seed);
  for (int i = 0; i < n_global; ++i) {
    const std::vector<double> u = halton.Point(i + 1);
    VectorXd f = ms.FromUnit(u);
    if (ms.SatisfiesConstraints(f)) cands.push_back(std::move(f));
  }
  const double probability = std::min(1.0, (high_dim ? 5.0 : 10.0) / d);
  static constexpr double kSigmas[] = {0.01, 0.03, 0.1, 0.25};
  for (int i = 0; static_cast<int>(cands.size()) < total && i < 4 * total; ++i) {
    if (anchors.empty()) break;
    const VectorXd& a = anchors[i % anchors.size()];
    VectorXd f = ms.Perturb(a, kSigmas[(i / anchors.size()) % 4], probability, rng);
    if (ms.SatisfiesConstraints(f)) cands.push_back(std::move(f));
  }
  for (const VectorXd& a : anchors) {
    if (ms.SatisfiesConstraints(a)) cands.push_back(a);
  }
  if (cands.empty()) return cands;
  MatrixXd fs(cands.size(), d);
  for (size_t i = 0; i < cands.size(); ++i) fs.row(i) = cands[i];
  const VectorXd values = acq.Batch(fs);
  std::vector<int> order(cands.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    const double va = std::isnan(values[a]) ? -kInf : values[a];
    const double vb = std::isnan(values[b]) ? -kInf : values[b];
    return va > vb;
  });
  std::vector<std::pair<double, VectorXd>> refined;
  for (int r = 0; r < kRefinedCandidates && r < static_cast<int>(order.size()); ++r) {
    VectorXd start = cands[order[r]];
    const std::vector<int> free = ms.ContinuousFeatures(start);
    if (free.empty()) {
      refined.emplace_back(values[order[r]], start);
      continue;
    }
    VectorXd z0(free.size());
    for (size_t j = 0; j < free.size(); ++j) z0[j] = start[free[j]];
    const Objective objective = [&](const VectorXd& z, VectorXd* grad) {
      VectorXd f = start;
      for (size_t j = 0; j < free.size(); ++j) f[free[j]] = z[j];
      if (!ms.SatisfiesConstraints(f, 1e-7)) return kInf;
      VectorXd g;
      const double v = acq.Value(f, &g);
      grad->resize(free.size());
      for (size_t j = 0; j < free.size(); ++j) (*grad)[j] = -g[free[j]];
      return std::isfinite(v) ? -v : kInf;
    };
    LbfgsOptions options;
    options.max_evaluations = kRefineEvaluations;
    options.gradient_tolerance = 1e-7;
    const LbfgsResult result =
        MinimizeLbfgs(objective, z0, VectorXd::Zero(free.size()), VectorXd::Ones(free.size()),
                      options);
    VectorXd f = start;
    for (size_t j = 0; j < free.size(); ++j) f[free[j]] = result.x[j];
    const double v = std::isfinite(result.value) ? -result.value : values[order[r]];
    refined.emplace_back(std::max(v, values[order[r]]), v >= values[order[r]] ? f : start);
  }
  std::stable_sort(refined.begin(), refined.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  // Refined points first, then the screened ones; exact repeats (clamped perturbations) once.
  std::vector<VectorXd> ranked;
  std::set<std::vector<double>> distinct;
  auto add = [&](const VectorXd& f) {
    if (distinct.insert(std::vector<double>(f.data(), f.data() + f.size())).second) {
      ranked.push_back(f);
    }
  };
  for (auto& [v, f] : refined) add(f);
  for (size_t r = 0; r < order.size() && ranked.size() < 512; ++r) add(cands[order[r]]);
  return ranked;
}

}  // namespace

int ScreenedCandidates(int features, int model_points) {
  const double per_candidate = static_cast<double>(model_points) * (features + model_points) + 1.0;
  const double by_flops = std::clamp(kScreenFlops / per_candidate, 300.0, 3000.0);
  const double by_memory =
      static_cast<double>(kCandidateBytes) / (kCandidateCopies * sizeof(double) * std::max(1, features));
  return static_cast<int>(std::max(32.0, std::min(by_flops, by_memory)));
}

BayesianOptimizer::BayesianOptimizer(const hpo::v1::Experiment& experiment)
    : experiment_(experiment),
      model_space_(experiment.search_space()),
      initial_design_(experiment) {}

int BayesianOptimizer::InitialDesignSize() const {
  if (experiment_.optimizer().initial_design_size() > 0) {
    return experiment_.optimizer().initial_design_size();
  }
  return std::clamp(model_space_.dimension() + 1, 5, 10);
}

absl::StatusOr<std::vector<Proposal>> BayesianOptimizer::Suggest(const History& history,
                                                                 int count) {
  if (count < 1) return absl::InvalidArgumentError(absl::StrCat("count must be >= 1 (got ", count, ")"));
  const hpo::v1::SearchSpace& space = experiment_.search_space();
  const ModelSpace& ms = model_space_;
  const uint64_t seed = experiment_.optimizer().seed();

  // Metrics.
  std::vector<const hpo::v1::Metric*> objectives, constraint_metrics;
  for (const hpo::v1::Metric& m : experiment_.metrics()) {
    if (m.strategy() == hpo::v1::METRIC_STRATEGY_CONSTRAINT) {
      if (m.has_threshold()) constraint_metrics.push_back(&m);
    } else if (m.strategy() != hpo::v1::METRIC_STRATEGY_STORE) {
      objectives.push_back(&m);
    }
  }
  const int m_obj = static_cast<int>(objectives.size());

  // Objective rows: non-failed observations with every optimized metric.
  std::vector<int> obj_rows;
  for (size_t i = 0; i < history.observations.size(); ++i) {
    const hpo::v1::Observation& o = history.observations[i];
    if (o.failed() || m_obj == 0) continue;
    bool all = true;
    for (const hpo::v1::Metric* m : objectives) all = all && FindValue(o, m->name()) != nullptr;
    if (all) obj_rows.push_back(static_cast<int>(i));
  }

  std::vector<Proposal> proposals;
  const int64_t issued = static_cast<int64_t>(history.observations.size() + history.pending.size());
  int n_initial = static_cast<int>(std::clamp<int64_t>(InitialDesignSize() - issued, 0, count));
  if (obj_rows.size() < 2) n_initial = count;
  if (n_initial > 0) {
    absl::StatusOr<std::vector<Proposal>> initial = initial_design_.Suggest(history, n_initial);
    if (!initial.ok()) return initial.status();
    for (Proposal& p : *initial) {
      if (p.source != "default") p.source = "initial_design";
      proposals.push_back(std::move(p));
    }
    if (n_initial == count) return proposals;
  }

  History augmented = history;
  for (const Proposal& p : proposals) augmented.pending.push_back(p.assignment);
  augmented.suggestion_count += n_initial;
  const int remaining = count - n_initial;
  auto fallback = [&](const History& h, int k) -> absl::StatusOr<std::vector<Proposal>> {
    absl::StatusOr<std::vector<Proposal>> more = initial_design_.Suggest(h, k);
    if (!more.ok()) return more.status();
    for (Proposal& p : *more) {
      p.source = "fallback";
      proposals.push_back(std::move(p));
    }
    return proposals;
  };

  space::Rng rng(space::MixSeed({seed, static_cast<uint64_t>(history.observations.size()),
                                 static_cast<uint64_t>(history.pending.size()),
                                 static_cast<uint64_t>(history.suggestion_count), 0x42415945ULL}));

  // Features of every observation.
  const int n_all = static_cast<int>(history.observations.size());
  MatrixXd x_all(n_all, ms.dimension());
  for (int i = 0; i < n_all; ++i) x_all.row(i) = ms.Encode(history.observations[i].assignment());

  // Objective data, oriented to minimize.
  int n = static_cast<int>(obj_rows.size());
  MatrixXd x_obj = Rows(x_all, obj_rows);
  MatrixXd y_obj(n, m_obj);
  VectorXd noise_obj;  // raw-scale variances; single objective with some stddev only
  bool any_stddev = false;
  for (int i = 0; i < n; ++i) {
    const hpo::v1::Observation& o = history.observations[obj_rows[i]];
    for (int k = 0; k < m_obj; ++k) {
      const hpo::v1::MetricValue* v = FindValue(o, objectives[k]->name());
      y_obj(i, k) = Maximize(*objectives[k]) ? -v->value() : v->value();
      any_stddev = any_stddev || v->has_stddev();
    }
  }
  // Failed observations enter the objective model with the worst value seen (as SMAC and
  // Optuna do), which lowers EI around them; the classifier below adds a smooth penalty.
  std::vector<int> failed_rows;
  for (int i = 0; i < n_all; ++i) {
    if (history.observations[i].failed()) failed_rows.push_back(i);
  }
  if (!failed_rows.empty() && n > 0) {
    const int n_ok = n;
    n += static_cast<int>(failed_rows.size());
    MatrixXd x2(n, ms.dimension());
    x2 << x_obj, Rows(x_all, failed_rows);
    x_obj = std::move(x2);
    MatrixXd y2(n, m_obj);
    y2.topRows(n_ok) = y_obj;
    for (int i = n_ok; i < n; ++i) y2.row(i) = y_obj.colwise().maxCoeff();
    y_obj = std::move(y2);
    for (int r : failed_rows) obj_rows.push_back(r);
  }
  if (m_obj == 1 && any_stddev) {
    noise_obj = VectorXd::Zero(n);
    for (int i = 0; i < n; ++i) {
      const hpo::v1::MetricValue* v =
          FindValue(history.observations[obj_rows[i]], objectives[0]->name());
      if (v != nullptr && v->has_stddev()) noise_obj[i] = v->stddev() * v->stddev();
    }
  }

  // Feasibility of each objective row under the constraint metrics (missing counts as met).
  std::vector<char> feasible(n, 1);
  for (int i = 0; i < n; ++i) feasible[i] = !history.observations[obj_rows[i]].failed();
  Acquisition acq;
  for (size_t c = 0; c < constraint_metrics.size(); ++c) {
    const hpo::v1::Metric& m = *constraint_metrics[c];
    const double sign = Maximize(m) ? -1.0 : 1.0;
    std::vector<int> rows;
    std::vector<double> vals;
    for (int i = 0; i < n_all; ++i) {
      const hpo::v1::Observation& o = history.observations[i];
      if (o.failed()) continue;
      const hpo::v1::MetricValue* v = FindValue(o, m.name());
      if (v == nullptr) continue;
      rows.push_back(i);
      vals.push_back(sign * v->value());
    }
    for (int i = 0; i < n; ++i) {
      const hpo::v1::MetricValue* v = FindValue(history.observations[obj_rows[i]], m.name());
      if (v != nullptr && sign * v->value() > sign * m.threshold()) feasible[i] = 0;
    }
    if (rows.size() < 2) continue;
    std::vector<int> keep = Subset(static_cast<int>(rows.size()), kMaxModelPoints, VectorXd());
    VectorXd g(keep.size());
    std::vector<int> keep_rows;
    for (size_t i = 0; i < keep.size(); ++i) {
      g[i] = vals[keep[i]];
      keep_rows.push_back(rows[keep[i]]);
    }
    const double mean = g.mean();
    double sd = std::sqrt((g.array() - mean).square().mean());
    if (!(sd > 1e-12)) sd = std::max(1.0, std::fabs(mean));
    g = ((g.array() - mean) / sd).matrix();
    const MatrixXd xc = Rows(x_all, keep_rows);
    const GpHyperparameters h = FitWithinBudget(xc, g, VectorXd(), seed + 17 * (c + 1));
    absl::StatusOr<GaussianProcess> gp = GaussianProcess::Create(xc, g, VectorXd(), h);
    if (!gp.ok()) return fallback(augmented, remaining);
    acq.constraints.push_back({*std::move(gp), (sign * m.threshold() - mean) / sd});
  }

  // Failure classifier.
  bool any_failed = false;
  for (const hpo::v1::Observation& o : history.observations) any_failed = any_failed || o.failed();
  if (any_failed) {
    std::vector<int> keep = Subset(n_all, kMaxModelPoints, VectorXd());
    VectorXd labels(keep.size());
    for (size_t i = 0; i < keep.size(); ++i) {
      labels[i] = history.observations[keep[i]].failed() ? -1.0 : 1.0;
    }
    const MatrixXd xs = Rows(x_all, keep);
    const GpHyperparameters h = FitWithinBudget(xs, labels, VectorXd(), seed + 5);
    absl::StatusOr<GaussianProcess> gp = GaussianProcess::Create(xs, labels, VectorXd(), h);
    if (!gp.ok()) return fallback(augmented, remaining);
    acq.success = *std::move(gp);
  }

  // Pending points (kriging believer), in features.
  std::vector<VectorXd> believers;
  for (const hpo::v1::Assignment& a : augmented.pending) believers.push_back(ms.Encode(a));

  // Model proposals never repeat a pending or observed assignment.
  std::set<std::string> seen;
  for (const hpo::v1::Assignment& a : augmented.pending) seen.insert(AssignmentKey(a));
  for (const hpo::v1::Observation& o : history.observations) seen.insert(AssignmentKey(o.assignment()));
  space::ConstraintFeasibility repair(space);

  std::optional<GpHyperparameters> hypers;
  for (int p = 0; p < remaining; ++p) {
    // Targets: the objective, or a ParEGO scalarization.
    VectorXd y(n);
    if (m_obj == 1) {
      y = y_obj.col(0);
    } else {
      const double u = rng.Uniform();
      const double w[2] = {u, 1.0 - u};
      y.setZero();
      VectorXd sum = VectorXd::Zero(n);
      for (int k = 0; k < m_obj && k < 2; ++k) {
        const double lo = y_obj.col(k).minCoeff();
        double ref = y_obj.col(k).maxCoeff();
        if (objectives[k]->has_threshold()) {
          const double t = Maximize(*objectives[k]) ? -objectives[k]->threshold()
                                                      : objectives[k]->threshold();
          if (t > lo) ref = t;
        }
        const double scale = ref - lo > 1e-12 ? ref - lo : 1.0;
        const VectorXd norm = ((y_obj.col(k).array() - lo) / scale).matrix();
        y = k == 0 ? (w[k] * norm).eval() : y.cwiseMax(w[k] * norm);
        sum += w[k] * norm;
      }
      y += 0.05 * sum;
    }
    const std::vector<int> keep = Subset(n, kMaxModelPoints, y);
    VectorXd y_std;
    absl::StatusOr<GaussianProcess> base =
        FitModel(Rows(x_obj, keep), Rows(y, keep), Rows(noise_obj, keep), seed,
                 hypers.has_value() ? &*hypers : nullptr, &y_std);
    if (!base.ok()) return fallback(augmented, remaining - p);
    hypers = base->hyperparameters();
    // Incumbent ("plug-in" EI, robust to noise): the lowest posterior mean at a feasible
    // observation, standardized; it equals the best observed value when the fitted noise is tiny,
    // and does not chase a lucky noisy observation otherwise. Anchors for local candidates: the
    // best feasible observations by observed value.
    VectorXd mu_keep;
    base->PredictBatch(base->x(), &mu_keep, nullptr);
    double best = kInf;
    std::vector<int> order(keep.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return y_std[a] < y_std[b]; });
    std::vector<VectorXd> anchors;
    for (int i : order) {
      if (!feasible[keep[i]]) continue;
      best = std::min(best, mu_keep[i]);
      if (anchors.size() < 5) anchors.push_back(x_obj.row(keep[i]).transpose());
    }
    std::optional<GaussianProcess> model;
    if (!believers.empty()) {
      MatrixXd xb(believers.size(), ms.dimension());
      for (size_t i = 0; i < believers.size(); ++i) xb.row(i) = believers[i];
      VectorXd mb;
      base->PredictBatch(xb, &mb, nullptr);
      absl::StatusOr<GaussianProcess> with = base->WithObservations(xb, mb);
      if (!with.ok()) return fallback(augmented, remaining - p);
      model = *std::move(with);
    } else {
      model = *std::move(base);
    }
    acq.objective = std::isfinite(best) ? &*model : nullptr;
    acq.best = best;
    if (acq.objective == nullptr && acq.constraints.empty()) acq.objective = &*model;
    if (!std::isfinite(acq.best)) acq.best = y_std.minCoeff();
    const uint64_t call_seed = space::MixSeed({seed, static_cast<uint64_t>(n_all),
                                               static_cast<uint64_t>(augmented.pending.size()),
                                               static_cast<uint64_t>(p)});
    const std::vector<VectorXd> ranked =
        RankedCandidates(ms, acq, anchors, model->size(), call_seed, &rng);

    // Kriging believer alone leaves some EI next to a believer when the fitted noise is not
    // tiny, so the first pass also keeps kMinSeparation (features) from pending points.
    std::optional<hpo::v1::Assignment> chosen;
    for (int pass = 0; pass < 2 && !chosen.has_value(); ++pass)
    for (const VectorXd& f : ranked) {
      if (pass == 0) {
        bool close = false;
        for (const VectorXd& b : believers) close = close || (b - f).norm() < kMinSeparation;
        if (close) continue;
      }
      hpo::v1::Assignment a = ms.Decode(f);
      if (space::FirstViolatedConstraint(space, a) >= 0 &&
          !repair.Repair(&a, space::MixSeed({call_seed, 0x52ULL}))) {
        continue;
      }
      if (space::FirstViolatedConstraint(space, a) >= 0) continue;
      if (!space::ValidateAssignment(space, a, "proposal").ok()) continue;
      if (seen.count(AssignmentKey(a))) continue;
      chosen = std::move(a);
      break;
    }
    if (!chosen.has_value()) {
      History h = augmented;
      h.suggestion_count += p;
      for (const Proposal& q : proposals) {
        if (q.source != "initial_design") h.pending.push_back(q.assignment);
      }
      absl::StatusOr<std::vector<Proposal>> one = initial_design_.Suggest(h, 1);
      if (!one.ok()) return one.status();
      (*one)[0].source = "fallback";
      chosen = (*one)[0].assignment;
      proposals.push_back((*one)[0]);
    } else {
      proposals.push_back(Proposal{*chosen, kName});
    }
    seen.insert(AssignmentKey(*chosen));
    believers.push_back(ms.Encode(*chosen));
  }
  return proposals;
}

}  // namespace hpo::optimizer
