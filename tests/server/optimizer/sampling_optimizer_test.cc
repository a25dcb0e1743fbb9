#include "server/optimizer/sampling_optimizer.h"

#include <set>

#include "gtest/gtest.h"
#include "tests/server/optimizer/sampler_test_util.h"

namespace hpo::optimizer {
namespace {

using testing::ExpectAllValid;
using testing::MakeExperiment;
using testing::SuggestOrDie;

constexpr char kSmallDiscrete[] = R"pb(
  parameters { name: "c" type: PARAMETER_TYPE_CATEGORICAL categorical_values: "a"
               categorical_values: "b" categorical_values: "c" }
)pb";

TEST(SamplingOptimizer, ProposalsWithinOneCallAreDistinct) {
  for (const char* algorithm : {"random", "quasi_random"}) {
    std::vector<Proposal> proposals = SuggestOrDie(MakeExperiment(kSmallDiscrete, algorithm), 3);
    std::set<std::string> values;
    for (const Proposal& p : proposals) values.insert(p.assignment.values().at("c").string_value());
    EXPECT_EQ(values.size(), 3u) << algorithm;
  }
}

TEST(SamplingOptimizer, AvoidsPendingAssignments) {
  hpo::v1::Assignment pending_a, pending_b;
  (*pending_a.mutable_values())["c"].set_string_value("a");
  (*pending_b.mutable_values())["c"].set_string_value("b");
  for (const char* algorithm : {"random", "quasi_random"}) {
    std::vector<Proposal> proposals =
        SuggestOrDie(MakeExperiment(kSmallDiscrete, algorithm), 1, 3, {pending_a, pending_b});
    EXPECT_EQ(proposals[0].assignment.values().at("c").string_value(), "c") << algorithm;
  }
}

TEST(SamplingOptimizer, AcceptsDuplicatesWhenSpaceIsExhausted) {
  std::vector<Proposal> proposals = SuggestOrDie(MakeExperiment(kSmallDiscrete, "random"), 5);
  EXPECT_EQ(proposals.size(), 5u);
}

TEST(SamplingOptimizer, FirstSuggestionUsesDefaults) {
  hpo::v1::Experiment e = MakeExperiment(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 }
                 default_value { number_value: 0.25 } }
    parameters { name: "c" type: PARAMETER_TYPE_CATEGORICAL categorical_values: "a"
                 categorical_values: "b" default_value { string_value: "b" } }
  )pb", "quasi_random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 2);
  EXPECT_EQ(proposals[0].source, "default");
  EXPECT_EQ(proposals[0].assignment.values().at("x").number_value(), 0.25);
  EXPECT_EQ(proposals[0].assignment.values().at("c").string_value(), "b");
  EXPECT_EQ(proposals[1].source, "quasi_random");
  // Only at the very first suggestion.
  EXPECT_EQ(SuggestOrDie(e, 1, 1)[0].source, "quasi_random");
}

TEST(SamplingOptimizer, NoDefaultsWhenSomeParameterLacksOne) {
  hpo::v1::Experiment e = MakeExperiment(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 }
                 default_value { number_value: 0.25 } }
    parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  )pb", "random");
  EXPECT_EQ(SuggestOrDie(e, 1)[0].source, "random");
}

TEST(SamplingOptimizer, MovesToFeasibleBranch) {
  // With c = "on", y in [2, 3] makes x + y <= 1.5 impossible; only c = "off" is feasible.
  hpo::v1::Experiment e = MakeExperiment(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
    parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 2 max: 3 }
                 conditions { name: "c" values: "on" } }
    conditionals { name: "c" values: "on" values: "off" }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                         threshold: 1.5 type: CONSTRAINT_TYPE_LESS_THAN }
  )pb", "quasi_random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 200);
  ExpectAllValid(e, proposals);
  for (const Proposal& p : proposals) EXPECT_EQ(p.assignment.values().at("c").string_value(), "off");
}

TEST(SamplingOptimizer, EqualityConstraintWithIntsAndGrid) {
  // x + g == 7 exactly: every proposal must hit the line with exact values.
  hpo::v1::Experiment e = MakeExperiment(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 } }
    parameters { name: "g" type: PARAMETER_TYPE_DOUBLE grid: 0 grid: 1.5 grid: 2 grid: 3 }
    parameters { name: "z" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "g" weight: 1 }
                         threshold: 7 type: CONSTRAINT_TYPE_LESS_THAN }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "g" weight: 1 }
                         threshold: 7 type: CONSTRAINT_TYPE_GREATER_THAN }
  )pb", "random");
  std::vector<Proposal> proposals = SuggestOrDie(e, 300);
  ExpectAllValid(e, proposals);
  std::set<int64_t> xs;
  for (const Proposal& p : proposals) xs.insert(p.assignment.values().at("x").int_value());
  EXPECT_EQ(xs, (std::set<int64_t>{4, 5, 7}));
}

}  // namespace
}  // namespace hpo::optimizer
