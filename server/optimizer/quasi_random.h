// File: server/optimizer/quasi_random.h
//
// The "quasi_random" optimizer (the default): the scrambled Halton sequence of halton.h in the
// encoded unit cube (search_space_codec.h), permutations seeded by the experiment seed. The
// point of suggestion n is Halton point n, so successive Suggest calls continue the sequence
// (History::suggestion_count) and cover the space more evenly than independent draws.
// Points rejected by linear constraints are replaced by seeded uniform redraws
// (SamplingOptimizer), which keeps the sequence index aligned with suggestion_count.
// Not thread-safe (see SamplingOptimizer).
#ifndef HPO_SERVER_OPTIMIZER_QUASI_RANDOM_H_
#define HPO_SERVER_OPTIMIZER_QUASI_RANDOM_H_

#include "server/optimizer/halton.h"
#include "server/optimizer/sampling_optimizer.h"

namespace hpo::optimizer {

class QuasiRandom : public SamplingOptimizer {
 public:
  static constexpr char kName[] = "quasi_random";

  // `experiment` must be valid.
  explicit QuasiRandom(const hpo::v1::Experiment& experiment);

 protected:
  std::vector<double> SequencePoint(int64_t index) const override;

 private:
  ScrambledHalton halton_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_QUASI_RANDOM_H_
