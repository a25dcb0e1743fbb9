// Shared fixtures for the sampling-optimizer tests (random_search_test, quasi_random_test,
// sampling_optimizer_test). Test-only.
#ifndef HPO_TESTS_SERVER_OPTIMIZER_SAMPLER_TEST_UTIL_H_
#define HPO_TESTS_SERVER_OPTIMIZER_SAMPLER_TEST_UTIL_H_

#include <string>
#include <vector>

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/optimizer/optimizer.h"
#include "server/space/validation.h"

namespace hpo::optimizer::testing {

// An experiment around `search_space_text` (text-format SearchSpace), validated.
inline hpo::v1::Experiment MakeExperiment(const std::string& search_space_text,
                                          const std::string& algorithm, uint64_t seed = 42) {
  hpo::v1::Experiment e;
  e.set_name("e");
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(search_space_text, e.mutable_search_space()));
  e.add_metrics()->set_name("m");
  e.set_observation_budget(10);
  e.mutable_optimizer()->set_algorithm(algorithm);
  e.mutable_optimizer()->set_seed(seed);
  absl::Status s = space::ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
  return e;
}

// Suggest(count) from a fresh optimizer with the given suggestion_count; fails the test on error.
inline std::vector<Proposal> SuggestOrDie(const hpo::v1::Experiment& e, int count,
                                          int64_t suggestion_count = 0,
                                          std::vector<hpo::v1::Assignment> pending = {}) {
  auto opt = CreateOptimizer(e);
  EXPECT_TRUE(opt.ok()) << opt.status();
  History history;
  history.suggestion_count = suggestion_count;
  history.pending = std::move(pending);
  auto proposals = (*opt)->Suggest(history, count);
  EXPECT_TRUE(proposals.ok()) << proposals.status();
  if (!proposals.ok()) return {};
  EXPECT_EQ(proposals->size(), static_cast<size_t>(count));
  return *std::move(proposals);
}

// Every proposal passes ValidateAssignment (domain, activity, linear constraints).
inline void ExpectAllValid(const hpo::v1::Experiment& e, const std::vector<Proposal>& proposals) {
  int invalid = 0;
  for (const Proposal& p : proposals) {
    absl::Status s = space::ValidateAssignment(e.search_space(), p.assignment, "proposal");
    if (!s.ok() && ++invalid <= 3) ADD_FAILURE() << s;
  }
  EXPECT_EQ(invalid, 0);
}

inline constexpr char kConditionalSpace[] = R"pb(
  parameters { name: "lr" type: PARAMETER_TYPE_DOUBLE bounds { min: 1e-5 max: 1 }
               transformation: TRANSFORMATION_LOG }
  parameters { name: "momentum" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 }
               conditions { name: "optimizer" values: "sgd" } }
  parameters { name: "beta2" type: PARAMETER_TYPE_DOUBLE grid: 0.99 grid: 0.999 grid: 0.9999
               conditions { name: "optimizer" values: "adam" } }
  parameters { name: "layers" type: PARAMETER_TYPE_INT bounds { min: 1 max: 4 } }
  conditionals { name: "optimizer" values: "sgd" values: "adam" }
)pb";

// x + y <= 1 with ints, a tilted band, and x - k >= 0.
inline constexpr char kConstrainedSpace[] = R"pb(
  parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 10 } }
  parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 10 } }
  parameters { name: "k" type: PARAMETER_TYPE_INT bounds { min: 0 max: 8 } }
  parameters { name: "g" type: PARAMETER_TYPE_DOUBLE grid: 0 grid: 1 grid: 2.5 }
  linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                       terms { name: "g" weight: 1 }
                       threshold: 10 type: CONSTRAINT_TYPE_LESS_THAN }
  linear_constraints { terms { name: "x" weight: 1 } terms { name: "k" weight: -1 }
                       threshold: 0.5 type: CONSTRAINT_TYPE_GREATER_THAN }
)pb";

// 0.9999 <= x + y + k <= 1 over x, y in [0, 1], k int in [0, 3]: a thin slab.
inline constexpr char kThinSpace[] = R"pb(
  parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  parameters { name: "k" type: PARAMETER_TYPE_INT bounds { min: 0 max: 3 } }
  parameters { name: "free" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                       terms { name: "k" weight: 1 }
                       threshold: 1 type: CONSTRAINT_TYPE_LESS_THAN }
  linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                       terms { name: "k" weight: 1 }
                       threshold: 0.9999 type: CONSTRAINT_TYPE_GREATER_THAN }
)pb";

}  // namespace hpo::optimizer::testing

#endif  // HPO_TESTS_SERVER_OPTIMIZER_SAMPLER_TEST_UTIL_H_
