// File: server/optimizer/bayesian_optimizer.h
//
// The "bayesian" optimizer: a Gaussian-process model of the history with a log expected
// improvement acquisition (see the implementation notes in bayesian_optimizer.cc).
// Not thread-safe; Suggest does not change the object.
#ifndef HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_
#define HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_

#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"
#include "server/optimizer/optimizer.h"
#include "server/optimizer/quasi_random.h"

namespace hpo::optimizer {

class BayesianOptimizer : public Optimizer {
 public:
  static constexpr char kName[] = "bayesian";

  // `experiment` must be valid; it is copied.
  explicit BayesianOptimizer(const hpo::v1::Experiment& experiment);

  // See Optimizer::Suggest.
  absl::StatusOr<std::vector<Proposal>> Suggest(const History& history, int count) override;

 private:
  hpo::v1::Experiment experiment_;
  QuasiRandom initial_design_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_BAYESIAN_OPTIMIZER_H_
