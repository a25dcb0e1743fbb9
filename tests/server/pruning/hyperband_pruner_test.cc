#include "server/pruning/hyperband_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve;
using ::hpo::pruning::testing::RunSequential;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<WatchedMetric> kMaxAuc = {{"auc", true}};

HyperbandPrunerOptions Options(int64_t max_resource) {
  HyperbandPrunerOptions o;
  o.experiment_id = 7;
  o.min_resource = 1;
  o.max_resource = max_resource;
  o.reduction_factor = 3;
  return o;
}

// Brackets and budgets from Optuna 3.1: HyperbandPruner(min_resource=1, max_resource=16,
// reduction_factor=3) in a study named "7" gives trials 0..11 brackets
// [0, 0, 0, 2, 0, 1, 1, 2, 0, 0, 1, 1] with 3 brackets (budgets 9, 5, 3); we hash
// "<experiment id>_<trial id>" as Optuna hashes "<study name>_<trial number>".
TEST(HyperbandPrunerTest, BracketAssignmentMatchesOptunaAndIsDeterministic) {
  HyperbandPruner pruner(kMaxAuc, Options(16));
  EXPECT_EQ(pruner.BracketCount(16), 3);
  std::vector<int> brackets;
  for (int64_t id = 0; id < 12; ++id) brackets.push_back(pruner.BracketOf(id, 16));
  EXPECT_THAT(brackets, ElementsAre(0, 0, 0, 2, 0, 1, 1, 2, 0, 0, 1, 1));
  for (int64_t id = 0; id < 12; ++id) EXPECT_EQ(pruner.BracketOf(id, 16), brackets[id]);
  EXPECT_EQ(pruner.BracketCount(9), 3);  // log3(9) = 2 exactly
  EXPECT_EQ(pruner.BracketCount(8), 2);
  EXPECT_EQ(pruner.BracketCount(1), 1);
}

TEST(HyperbandPrunerTest, CompetesOnlyWithinItsBracket) {
  HyperbandPruner pruner(kMaxAuc, Options(16));
  // Trials 0 and 1 share bracket 0 (rungs at 1, 3, 9); trial 5 is in bracket 1 (rungs at 3, 9).
  const TrialCurve t = MakeCurve(1, TrialState::kRunning, {{0, 0.0}, {1, 0.5}});
  EXPECT_FALSE(pruner.ShouldPrune(t, {MakeCurve(5, TrialState::kRunning, {{1, 0.9}})}).stop);
  const Decision d = pruner.ShouldPrune(t, {MakeCurve(0, TrialState::kRunning, {{1, 0.9}})});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "hyperband");
  EXPECT_THAT(d.reason,
              HasSubstr("hyperband (bracket 0 of 3): auc 0.5 at step 1 (rung 0, step 1)"));
  // Bracket 1 starts stopping at step 3.
  EXPECT_FALSE(pruner
                   .ShouldPrune(MakeCurve(6, TrialState::kRunning, {{1, 0.1}}),
                                {MakeCurve(5, TrialState::kRunning, {{1, 0.9}, {3, 0.9}})})
                   .stop);
  EXPECT_TRUE(pruner
                  .ShouldPrune(MakeCurve(6, TrialState::kRunning, {{1, 0.1}, {3, 0.1}}),
                               {MakeCurve(5, TrialState::kRunning, {{1, 0.9}, {3, 0.9}})})
                  .stop);
}

TEST(HyperbandPrunerTest, AutoMaxResource) {
  HyperbandPrunerOptions o = Options(0);
  HyperbandPruner pruner(kMaxAuc, o);
  const TrialCurve t = MakeCurve(1, TrialState::kRunning, {{0, 0.0}, {1, 0.5}});
  std::vector<TrialCurve> peers = {MakeCurve(0, TrialState::kRunning, {{1, 0.9}})};
  EXPECT_FALSE(pruner.ShouldPrune(t, peers).stop);  // nothing completed yet
  // A completed trial (of another bracket: the estimate uses every trial, as Optuna's) ending at
  // step 15: max_resource 16.
  peers.push_back(MakeCurve(100, TrialState::kCompleted, {{1, 0.1}, {15, 0.1}}));
  EXPECT_NE(pruner.BracketOf(100, 16), pruner.BracketOf(1, 16));
  EXPECT_TRUE(pruner.ShouldPrune(t, peers).stop);
  o.max_steps = 16;  // TrainingSpec.max_steps
  EXPECT_TRUE(HyperbandPruner(kMaxAuc, o).ShouldPrune(t, {peers[0]}).stop);
}

// Expected prune steps computed with Optuna 3.1 (/usr/bin/python3, HyperbandPruner(min_resource=1,
// max_resource=16, reduction_factor=3), study "7") on the same curves, trials run one after
// another.
TEST(HyperbandPrunerTest, MatchesOptuna) {
  EXPECT_THAT(RunSequential(HyperbandPruner(kMaxAuc, Options(16)), 12, 16, 1),
              ElementsAre(-1, -1, 1, -1, 1, -1, -1, 9, 1, 1, 9, 3));
}

}  // namespace
}  // namespace hpo::pruning
