#include "server/optimizer/random_search.h"

#include "server/space/rng.h"

namespace hpo::optimizer {

RandomSearch::RandomSearch(const hpo::v1::Experiment& experiment)
    : SamplingOptimizer(experiment, kName) {}

std::vector<double> RandomSearch::SequencePoint(int64_t index) const {
  space::Rng rng(space::MixSeed({seed(), static_cast<uint64_t>(index), 0x52414E44ULL}));
  std::vector<double> u(codec().dimension());
  for (double& x : u) x = rng.Uniform();
  return u;
}

}  // namespace hpo::optimizer
