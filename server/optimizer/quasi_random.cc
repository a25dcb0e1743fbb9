#include "server/optimizer/quasi_random.h"

namespace hpo::optimizer {

QuasiRandom::QuasiRandom(const hpo::v1::Experiment& experiment)
    : SamplingOptimizer(experiment, kName),
      halton_(codec().dimension(), experiment.optimizer().seed()) {}

std::vector<double> QuasiRandom::SequencePoint(int64_t index) const {
  return halton_.Point(index);
}

}  // namespace hpo::optimizer
