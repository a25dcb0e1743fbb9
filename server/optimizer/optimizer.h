// File: server/optimizer/optimizer.h
//
// The seam between the service and the algorithms that propose assignments (Vizier's Designer,
// in C++). An optimizer sees plain data only: the experiment (search space, metrics, settings)
// and its history. It knows nothing of SQLite or gRPC, and is deterministic for a given
// experiment seed and history, so the service can rebuild it after a restart.
#ifndef HPO_SERVER_OPTIMIZER_OPTIMIZER_H_
#define HPO_SERVER_OPTIMIZER_OPTIMIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"

namespace hpo::optimizer {

// Everything an optimizer may use to decide the next assignments.
struct History {
  // Completed and failed observations, oldest first.
  std::vector<hpo::v1::Observation> observations;
  // Assignments issued but not yet observed (open, leased or queued), oldest first.
  std::vector<hpo::v1::Assignment> pending;
  // Number of suggestions this experiment has issued so far, from any source. Quasi-random
  // designs use it as their sequence index so successive calls continue the sequence.
  int64_t suggestion_count = 0;
};

// One proposed assignment and where it came from ("random", "quasi_random", ...).
struct Proposal {
  hpo::v1::Assignment assignment;
  std::string source;
};

// Proposes assignments for one experiment. Instances are cheap and not shared between threads.
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Returns `count` (>= 1) assignments that lie in the search space: every active parameter set,
  // inactive parameters absent, every conditional set, integer and grid values exact, and no
  // linear constraint violated. Does not change the optimizer's state.
  // Returns INTERNAL if no feasible point could be produced.
  virtual absl::StatusOr<std::vector<Proposal>> Suggest(const History& history, int count) = 0;
};

// Builds the optimizer named by experiment.optimizer().algorithm() ("" means the default,
// "bayesian"). The experiment must already be validated.
// Returns INVALID_ARGUMENT for an unknown algorithm name.
absl::StatusOr<std::unique_ptr<Optimizer>> CreateOptimizer(const hpo::v1::Experiment& experiment);

// Names accepted by CreateOptimizer, for validation and help texts.
std::vector<std::string> OptimizerNames();

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_OPTIMIZER_H_
