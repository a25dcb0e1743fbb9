// File: server/optimizer/grid_search.h
//
// The "grid" optimizer: exhaustive search over a finite grid, in lexicographic order.
//
// Levels per parameter: categorical values; `grid` values (sorted); ints with at most
// kDoubleLevels * 2 values in range: every value, otherwise kDoubleLevels values evenly spaced
// (in log space with a log transformation) and rounded; doubles: kDoubleLevels values evenly
// spaced from min to max inclusive (in log space with a log transformation). Give `grid` values
// for finer control. Conditionals enumerate all their values; a parameter inactive in a point
// contributes one level only, so no point repeats; points violating a linear constraint are
// skipped.
//
// Suggest proposes the first points in that order that are neither observed nor pending, so
// it is a pure function of the history. Once every point is used it returns
// FAILED_PRECONDITION ("grid exhausted").
#ifndef HPO_SERVER_OPTIMIZER_GRID_SEARCH_H_
#define HPO_SERVER_OPTIMIZER_GRID_SEARCH_H_

#include <vector>

#include "server/optimizer/optimizer.h"

namespace hpo::optimizer {

class GridSearch : public Optimizer {
 public:
  static constexpr char kName[] = "grid";
  static constexpr int kDoubleLevels = 5;
  // Points visited per Suggest call before giving up (huge grids with tiny feasible parts).
  static constexpr int64_t kMaxVisited = 5'000'000;

  explicit GridSearch(const hpo::v1::Experiment& experiment);

  absl::StatusOr<std::vector<Proposal>> Suggest(const History& history, int count) override;

  // Levels of parameter `i` of the search space (exposed for tests).
  const std::vector<hpo::v1::ParameterValue>& Levels(int i) const { return levels_[i]; }

 private:
  hpo::v1::SearchSpace space_;
  std::vector<std::vector<hpo::v1::ParameterValue>> levels_;  // per parameter
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_GRID_SEARCH_H_
