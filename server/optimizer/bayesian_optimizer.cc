#include "server/optimizer/bayesian_optimizer.h"

namespace hpo::optimizer {

BayesianOptimizer::BayesianOptimizer(const hpo::v1::Experiment& experiment)
    : experiment_(experiment), initial_design_(experiment) {}

absl::StatusOr<std::vector<Proposal>> BayesianOptimizer::Suggest(const History& history,
                                                                 int count) {
  absl::StatusOr<std::vector<Proposal>> proposals = initial_design_.Suggest(history, count);
  if (proposals.ok()) {
    for (Proposal& p : *proposals) p.source = "initial_design";
  }
  return proposals;
}

}  // namespace hpo::optimizer
