#include "server/pruning/successive_halving_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve;
using ::hpo::pruning::testing::MakeCurve2;
using ::hpo::pruning::testing::RunSequential;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<WatchedMetric> kMaxAuc = {{"auc", true}};
const std::vector<WatchedMetric> kMinAuc = {{"auc", false}};
const std::vector<WatchedMetric> kTwo = {{"auc", true}, {"logloss", false}};

SuccessiveHalvingPrunerOptions Options(int64_t min_resource, int eta, int rate = 0) {
  SuccessiveHalvingPrunerOptions o;
  o.min_resource = min_resource;
  o.reduction_factor = eta;
  o.min_early_stopping_rate = rate;
  return o;
}

// Peers that reported `values` at step 1 (rung 0 with min_resource 1).
std::vector<TrialCurve> RungZeroPeers(const std::vector<double>& values) {
  std::vector<TrialCurve> peers;
  for (size_t i = 0; i < values.size(); ++i) {
    peers.push_back(
        MakeCurve(static_cast<int64_t>(i) + 1, TrialState::kRunning, {{0, 0.0}, {1, values[i]}}));
  }
  return peers;
}

TEST(SuccessiveHalvingPrunerTest, RungSteps) {
  EXPECT_EQ(RungStep(1, 4, 0, 0), 1);
  EXPECT_EQ(RungStep(1, 4, 0, 2), 16);
  EXPECT_EQ(RungStep(10, 3, 1, 1), 90);
  EXPECT_EQ(RungStep(1, 4, 0, 100), std::numeric_limits<int64_t>::max());
}

TEST(SuccessiveHalvingPrunerTest, NoDecisionBeforeFirstRung) {
  SuccessiveHalvingPruner pruner(kMaxAuc, Options(10, 4));
  std::vector<TrialCurve> peers = {MakeCurve(1, TrialState::kCompleted, {{10, 0.9}})};
  EXPECT_FALSE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{9, 0.1}}), peers).stop);
  EXPECT_TRUE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{9, 0.1}, {10, 0.1}}), peers).stop);
}

TEST(SuccessiveHalvingPrunerTest, FirstArrivalsMustBeBestThenTopFraction) {
  SuccessiveHalvingPruner pruner(kMaxAuc, Options(1, 4));
  const TrialCurve mid = MakeCurve(9, TrialState::kRunning, {{0, 0.0}, {1, 0.5}});
  EXPECT_FALSE(pruner.ShouldPrune(mid, {}).stop);  // alone at the rung
  // n = 4 < 2 * eta: only the best goes on (Optuna's rule for early arrivals).
  const Decision d = pruner.ShouldPrune(mid, RungZeroPeers({0.6, 0.1, 0.2}));
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "asha");
  EXPECT_EQ(d.reason,
            "asha: auc 0.5 at step 1 (rung 0, step 1) is not in the top 1 of 4 trials at that "
            "rung (the best is 0.6)");
  EXPECT_FALSE(pruner.ShouldPrune(mid, RungZeroPeers({0.4, 0.1, 0.2})).stop);
  EXPECT_FALSE(pruner.ShouldPrune(mid, RungZeroPeers({0.5, 0.1, 0.2})).stop);  // ties go on
  // n = 8: the top 2 go on.
  EXPECT_FALSE(pruner.ShouldPrune(mid, RungZeroPeers({0.6, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3})).stop);
  const Decision third =
      pruner.ShouldPrune(mid, RungZeroPeers({0.6, 0.7, 0.2, 0.3, 0.1, 0.2, 0.3}));
  EXPECT_TRUE(third.stop);
  EXPECT_THAT(third.reason,
              HasSubstr("not in the top 2 of 8 trials at that rung (the 2nd best is 0.6)"));
}

TEST(SuccessiveHalvingPrunerTest, MinimizeDirection) {
  SuccessiveHalvingPruner pruner(kMinAuc, Options(1, 2));
  const TrialCurve t = MakeCurve(9, TrialState::kRunning, {{1, 0.3}});
  EXPECT_FALSE(pruner.ShouldPrune(t, RungZeroPeers({0.4, 0.5, 0.6})).stop);  // best: n/2 = 2
  EXPECT_FALSE(pruner.ShouldPrune(t, RungZeroPeers({0.2, 0.5, 0.6})).stop);  // 2nd of 4
  EXPECT_TRUE(pruner.ShouldPrune(t, RungZeroPeers({0.2, 0.1, 0.6})).stop);   // 3rd of 4
}

TEST(SuccessiveHalvingPrunerTest, MinEarlyStoppingRateDelaysFirstRung) {
  SuccessiveHalvingPruner pruner(kMaxAuc, Options(1, 4, /*rate=*/1));
  std::vector<TrialCurve> peers = {MakeCurve(1, TrialState::kCompleted, {{1, 0.9}, {4, 0.9}})};
  EXPECT_FALSE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{1, 0.1}}), peers).stop);
  EXPECT_TRUE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{1, 0.1}, {4, 0.1}}), peers).stop);
}

TEST(SuccessiveHalvingPrunerTest, ChecksOnlyNewlyReachedRungs) {
  // Rung 0 at step 1 was passed at the previous checkpoint; rung 1 is at step 4.
  SuccessiveHalvingPruner pruner(kMaxAuc, Options(1, 4));
  std::vector<TrialCurve> peers = RungZeroPeers({0.9});
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{1, 0.1}, {2, 0.1}}), peers).stop);
  // A trial whose first report is at step 4 competes at rungs 0 and 1 with its step-4 value.
  EXPECT_TRUE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{4, 0.5}}), peers).stop);
}

TEST(SuccessiveHalvingPrunerTest, AutoMinResource) {
  SuccessiveHalvingPrunerOptions o = Options(0, 4);
  SuccessiveHalvingPruner pruner(kMaxAuc, o);
  const TrialCurve t = MakeCurve(9, TrialState::kRunning, {{5, 0.1}});
  // Nothing completed and no max_steps: no decision.
  std::vector<TrialCurve> peers = {MakeCurve(1, TrialState::kRunning, {{1, 0.9}, {5, 0.9}})};
  EXPECT_FALSE(pruner.ShouldPrune(t, peers).stop);
  // A completed trial with last step 500: min_resource 5.
  peers.push_back(MakeCurve(2, TrialState::kCompleted, {{5, 0.9}, {500, 0.9}}));
  EXPECT_TRUE(pruner.ShouldPrune(t, peers).stop);
  EXPECT_FALSE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{4, 0.1}}), peers).stop);
  // TrainingSpec.max_steps 1000: min_resource 10.
  o.max_steps = 1000;
  SuccessiveHalvingPruner with_max(kMaxAuc, o);
  EXPECT_FALSE(with_max.ShouldPrune(t, peers).stop);
  EXPECT_TRUE(with_max
                  .ShouldPrune(MakeCurve(9, TrialState::kRunning, {{10, 0.1}}),
                               {MakeCurve(1, TrialState::kRunning, {{10, 0.9}})})
                  .stop);
}

TEST(SuccessiveHalvingPrunerTest, PrunedPeerCountsOnlyAtTheRungWhereItStopped) {
  SuccessiveHalvingPruner pruner(kMaxAuc, Options(1, 2));  // rungs at 1, 2, 4
  // The peer jumped from step 0 to 4 and was stopped there: it competed at rung 0 only.
  std::vector<TrialCurve> peers = {MakeCurve(1, TrialState::kPruned, {{0, 0.0}, {4, 0.9}})};
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{1, 0.5}, {2, 0.5}}), peers).stop);
  // A running peer with the same curve has reached rung 1 (step 2) as well.
  peers[0].state = TrialState::kRunning;
  EXPECT_TRUE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{1, 0.5}, {2, 0.5}}), peers).stop);
}

// Expected prune steps computed with Optuna 3.1 (/usr/bin/python3, SuccessiveHalvingPruner) on
// the same curves (pruning_test_util.h CurveValue), trials run one after another.
TEST(SuccessiveHalvingPrunerTest, MatchesOptuna) {
  EXPECT_THAT(RunSequential(SuccessiveHalvingPruner(kMaxAuc, Options(1, 2)), 12, 16, 1),
              ElementsAre(-1, -1, 1, -1, 1, 1, 1, 1, -1, 2, 2, 1));
  EXPECT_THAT(RunSequential(SuccessiveHalvingPruner(kMinAuc, Options(1, 4, 1)), 12, 16, 1, -1.0),
              ElementsAre(-1, -1, 4, -1, 4, 4, 4, 4, -1, 4, 4, 4));
  // Reports every 3 steps: rungs 2, 4, 8 are reached at steps 3, 6, 9.
  EXPECT_THAT(RunSequential(SuccessiveHalvingPruner(kMaxAuc, Options(2, 2)), 12, 16, 3),
              ElementsAre(-1, -1, 3, 6, 3, 3, 6, 3, 6, 3, 6, 3));
}

TEST(SuccessiveHalvingPrunerTest, TwoMetricsKeepsTheFirstFront) {
  SuccessiveHalvingPruner pruner(kTwo, Options(1, 4));
  std::vector<TrialCurve> peers = {
      MakeCurve2(1, TrialState::kRunning, {{1, 0.9, 0.5}}),
      MakeCurve2(2, TrialState::kRunning, {{1, 0.8, 0.4}}),
      MakeCurve2(3, TrialState::kRunning, {{1, 0.7, 0.3}}),
  };
  // n = 4 keeps 1, but a non-dominated trial always goes on.
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{1, 0.95, 0.6}}), peers).stop);
  // Dominated by (0.8, 0.4): rank 1 and three trials are ahead of it.
  const Decision d =
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{1, 0.75, 0.45}}), peers);
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason,
            "asha: (auc 0.75, logloss 0.45) at step 1 (rung 0, step 1) is on Pareto front 2 and "
            "behind 3 of 4 trials at that rung by Pareto rank and crowding (the top 1 go on)");
}

TEST(SuccessiveHalvingPrunerTest, TwoMetricsCrowdingBreaksTiesWithinAFront) {
  SuccessiveHalvingPruner pruner(kTwo, Options(1, 2));
  // Front 0: one point (1.0, 0.0). Front 1 (the trial's): extremes (0.9, 0.5) and (0.5, 0.1) have
  // infinite crowding; the trial is an interior point. n = 8 keeps 4: 1 + 2 extremes + interior
  // points with larger crowding.
  std::vector<TrialCurve> peers = {
      MakeCurve2(1, TrialState::kRunning, {{1, 1.0, 0.0}}),
      MakeCurve2(2, TrialState::kRunning, {{1, 0.9, 0.5}}),
      MakeCurve2(3, TrialState::kRunning, {{1, 0.5, 0.1}}),
      MakeCurve2(4, TrialState::kRunning, {{1, 0.6, 0.2}}),
      MakeCurve2(5, TrialState::kRunning, {{1, 0.85, 0.45}}),
      MakeCurve2(6, TrialState::kRunning, {{1, 0.3, 0.9}}),
      MakeCurve2(7, TrialState::kRunning, {{1, 0.2, 0.95}}),
  };
  // (0.75, 0.35) sits in the widest gap of front 1: only front 0 and the two extremes are ahead.
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{1, 0.75, 0.35}}), peers).stop);
  // (0.87, 0.47) is crowded between (0.9, 0.5) and (0.85, 0.45): (0.6, 0.2) and (0.85, 0.45) are
  // less crowded, so 5 are ahead of it.
  EXPECT_TRUE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{1, 0.87, 0.47}}), peers).stop);
}

}  // namespace
}  // namespace hpo::pruning
