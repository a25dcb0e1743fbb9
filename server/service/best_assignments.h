// File: server/service/best_assignments.h
//
// Picks the best observations of an experiment: pure function over plain data.
#ifndef HPO_SERVER_SERVICE_BEST_ASSIGNMENTS_H_
#define HPO_SERVER_SERVICE_BEST_ASSIGNMENTS_H_

#include <vector>

#include "hpo/v1/experiment.pb.h"

namespace hpo::service {

// True when `observation` is not failed and meets every constraint metric's threshold
// (>= for maximize, <= for minimize). With two optimized metrics their thresholds, if set, bound
// the region of interest and must be met too; a single optimized metric's threshold is a target
// and filters nothing.
bool IsFeasible(const hpo::v1::Experiment& experiment, const hpo::v1::Observation& observation);

// For one optimized metric: the best feasible observation (earliest on ties), or none.
// For two: the Pareto set of feasible observations (none dominated by another), ordered from
// best to worst on the first metric. Observations missing an optimized value are ignored.
std::vector<hpo::v1::Observation> BestAssignments(
    const hpo::v1::Experiment& experiment, const std::vector<hpo::v1::Observation>& observations);

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_BEST_ASSIGNMENTS_H_
