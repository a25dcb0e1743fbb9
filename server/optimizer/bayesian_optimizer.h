// File: server/optimizer/bayesian_optimizer.h
//
// The "bayesian" optimizer: Gaussian-process Bayesian optimization (issue 3).
//
// Suggest(history, count):
// 1. Initial design. While fewer than n0 assignments were issued (observed + pending), with
//    n0 = optimizer.initial_design_size or, if 0, clamp(F + 1, 5, 10) for F model features,
//    or while fewer than 2 observations have values, proposals come from the "quasi_random"
//    sampler at the history's sequence index (priors and defaults honoured), source
//    "initial_design" ("default" for the defaults point).
// 2. Model. Observations (model_space.h features) with a value for every optimized metric,
//    oriented to minimization; with two optimized metrics, a ParEGO scalarization
//    max_i w_i f_i + 0.05 sum_i w_i f_i of the objectives normalized to [min, reference],
//    reference = the metric's threshold when set (region of interest), else the observed max,
//    with a fresh random weight per proposal. Outputs are log-warped when right-skewed
//    (skewness > 1), then standardized; an observation's stddev becomes per-point noise.
//    A Matérn-5/2 ARD GP (gaussian_process.h) is fitted by MAP with a cost-bounded number of
//    L-BFGS evaluations. Past kMaxModelPoints observations the model uses a subset: the best
//    half by value plus the most recent ones.
// 3. Acquisition: log EI (acquisition.h) over the incumbent min of the posterior mean at the
//    feasible observations ("plug-in" noisy EI; the best observed value when noise is tiny), plus
//    log P(feasible) for each constraint metric (a GP per metric, Phi((threshold - mean) / sd))
//    and, when some observations failed, log P(success) from a GP fitted to +-1 labels,
//    squashed with Phi(mean / sqrt(0.25 + var)). With no feasible observation yet, the
//    acquisition is the probability of feasibility alone.
// 4. Maximization: quasi-random candidates (scrambled Halton) plus perturbations of the best
//    observations (a trust region: few coordinates per perturbation past 30 features), as many
//    as ScreenedCandidates allows (a flop budget, and kCandidateBytes of candidate features),
//    the best few refined by L-BFGS over their continuous coordinates inside [0, 1] and the
//    linear constraints; decoded with exact int/grid/categorical values.
// 5. Every decoded proposal is checked: linear constraints (space::FirstViolatedConstraint),
//    validity, and distinctness from pending and earlier proposals; the next-ranked candidate
//    is tried otherwise, and if none passes, the quasi-random sampler gives a "fallback".
// 6. Parallel: pending assignments (history.pending) and the proposals already chosen in this
//    call enter the GP with its posterior mean as value (kriging believer), so the next
//    proposal's EI vanishes near them.
// Deterministic: all randomness comes from space::Rng seeded by (seed, observation count,
// pending count, suggestion_count). Not thread-safe; Suggest does not change the object.
#ifndef HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_
#define HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"
#include "server/optimizer/model_space.h"
#include "server/optimizer/optimizer.h"
#include "server/optimizer/quasi_random.h"

namespace hpo::optimizer {

// Bytes of candidate features one proposal may hold at once, and how many copies of the
// candidate set it holds (the screened vectors, their matrix, the kernel's scaled copy).
inline constexpr size_t kCandidateBytes = 32 << 20;
inline constexpr int kCandidateCopies = 3;

// Candidates screened per proposal for `features` model features and `model_points` GP points:
// 300 to 3000 by the flop budget, fewer when kCandidateBytes would not hold them (at least 32).
int ScreenedCandidates(int features, int model_points);

class BayesianOptimizer : public Optimizer {
 public:
  static constexpr char kName[] = "bayesian";
  // Largest number of observations a GP is conditioned on.
  static constexpr int kMaxModelPoints = 300;

  // `experiment` must be valid; it is copied.
  explicit BayesianOptimizer(const hpo::v1::Experiment& experiment);

  // See the file comment and Optimizer::Suggest. INVALID_ARGUMENT if count < 1.
  absl::StatusOr<std::vector<Proposal>> Suggest(const History& history, int count) override;

  // Number of initial-design points (see the file comment).
  int InitialDesignSize() const;

 private:
  hpo::v1::Experiment experiment_;
  ModelSpace model_space_;
  QuasiRandom initial_design_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_
