// File: server/optimizer/random_search.h
//
// The "random" optimizer: independent uniform draws in the encoded unit cube (see
// search_space_codec.h, so log parameters are log-uniform and priors are honoured). The point
// of sequence index n is drawn from a generator seeded by (experiment seed, n), so results
// are deterministic for a given seed and history and successive calls never repeat draws.
// Not thread-safe (see SamplingOptimizer).
#ifndef HPO_SERVER_OPTIMIZER_RANDOM_SEARCH_H_
#define HPO_SERVER_OPTIMIZER_RANDOM_SEARCH_H_

#include "server/optimizer/sampling_optimizer.h"

namespace hpo::optimizer {

class RandomSearch : public SamplingOptimizer {
 public:
  static constexpr char kName[] = "random";

  // `experiment` must be valid.
  explicit RandomSearch(const hpo::v1::Experiment& experiment);

 protected:
  std::vector<double> SequencePoint(int64_t index) const override;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_RANDOM_SEARCH_H_
