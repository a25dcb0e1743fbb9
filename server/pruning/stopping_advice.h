// File: server/pruning/stopping_advice.h
//
// Experiment-level stopping advice: whether running more trials is still worth it. Pure; the
// service shows it, it does not act on it.
//
//   budget:      observations.size() (failed ones included, as the budget counts them) >=
//                observation_budget > 0.
//   stagnation:  over the last `lookback` observations (default max(10, budget / 4)), none is an
//                improvement, where an observation improves when it is feasible (not failed,
//                every optimized metric reported, constraint thresholds met; for two optimized
//                metrics also their thresholds, as BestAssignments) and
//                - one optimized metric: strictly better than every earlier feasible one;
//                - two optimized metrics: no earlier feasible observation weakly dominates it
//                  (a new Pareto point when it arrived).
//                Needs at least `lookback` observations; when none of them is feasible the
//                advice is also to stop.
#ifndef HPO_SERVER_PRUNING_STOPPING_ADVICE_H_
#define HPO_SERVER_PRUNING_STOPPING_ADVICE_H_

#include <string>
#include <vector>

#include "hpo/v1/experiment.pb.h"

namespace hpo::pruning {

struct StoppingAdvice {
  bool should_stop = false;
  std::string reason;  // empty when should_stop is false
};

// `observations` oldest first; `lookback` <= 0 means the default.
StoppingAdvice Advise(const hpo::v1::Experiment& experiment,
                      const std::vector<hpo::v1::Observation>& observations, int lookback);

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_STOPPING_ADVICE_H_
