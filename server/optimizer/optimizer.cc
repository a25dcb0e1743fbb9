#include "server/optimizer/optimizer.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/optimizer/bayesian_optimizer.h"
#include "server/optimizer/grid_search.h"
#include "server/optimizer/quasi_random.h"
#include "server/optimizer/random_search.h"
#include "server/optimizer/sobol.h"

namespace hpo::optimizer {

absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(const hpo::v1::Experiment& experiment) {
  const std::string& name = experiment.optimizer().algorithm();
  if (name.empty() || name == BayesianOptimizer::kName) {
    return std::unique_ptr<Optimizer>(new BayesianOptimizer(experiment));
  }
  if (name == QuasiRandom::kName) {
    return std::unique_ptr<Optimizer>(new QuasiRandom(experiment));
  }
  if (name == RandomSearch::kName) return std::unique_ptr<Optimizer>(new RandomSearch(experiment));
  if (name == Sobol::kName) return std::unique_ptr<Optimizer>(new Sobol(experiment));
  if (name == GridSearch::kName) return std::unique_ptr<Optimizer>(new GridSearch(experiment));
  if (name == BayesianOptimizer::kName) {
    return std::unique_ptr<Optimizer>(new BayesianOptimizer(experiment));
  }
  return absl::InvalidArgumentError(absl::StrCat("optimizer.algorithm: unknown algorithm \"", name,
                                                 "\" (known: ", absl::StrJoin(OptimizerNames(), ", "),
                                                 ")"));
}

std::vector<std::string> OptimizerNames() {
  return {QuasiRandom::kName, RandomSearch::kName, BayesianOptimizer::kName, Sobol::kName,
          GridSearch::kName};
}

}  // namespace hpo::optimizer
