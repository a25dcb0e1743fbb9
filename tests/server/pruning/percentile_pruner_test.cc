#include "server/pruning/percentile_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve;
using ::hpo::pruning::testing::MakeCurve2;
using ::hpo::pruning::testing::MakeSteps;
using ::hpo::pruning::testing::RunSequential;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<WatchedMetric> kMaxAuc = {{"auc", true}};
const std::vector<WatchedMetric> kMinLoss = {{"auc", false}};
const std::vector<WatchedMetric> kTwo = {{"auc", true}, {"logloss", false}};

PercentilePrunerOptions Median(int startup = 5, int64_t warmup = 0, int64_t interval = 1) {
  PercentilePrunerOptions o;
  o.percentile = 50;
  o.startup_trials = startup;
  o.warmup_steps = warmup;
  o.interval_steps = interval;
  o.rule = "median";
  return o;
}

PercentilePrunerOptions Percentile(double p, int startup, int64_t warmup = 0) {
  PercentilePrunerOptions o = Median(startup, warmup);
  o.percentile = p;
  o.rule = "percentile";
  return o;
}

// Completed peers with values 0.1 .. 0.5 at steps 0..2.
std::vector<TrialCurve> FivePeers() {
  std::vector<TrialCurve> peers;
  for (int i = 1; i <= 5; ++i) {
    const double v = 0.1 * i;
    peers.push_back(MakeSteps(i, TrialState::kCompleted, {v, v, v}));
  }
  return peers;
}

TEST(PercentilePrunerTest, MedianStopsBelowMedianWithReason) {
  PercentilePruner pruner(kMaxAuc, Median());
  const Decision d =
      pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.2, 0.25}), FivePeers());
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "median");
  EXPECT_EQ(d.reason,
            "median: best auc 0.25 up to step 1 is worse than the median 0.3 of 5 completed trials "
            "at that step");
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.2, 0.31}), FivePeers()).stop);
}

TEST(PercentilePrunerTest, UsesBestValueOverStepsAsOptuna) {
  PercentilePruner pruner(kMaxAuc, Median());
  // Current 0.1 is bad but the trial reached 0.35 earlier.
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.35, 0.1}), FivePeers()).stop);
}

TEST(PercentilePrunerTest, StartupTrialsCountOnlyCompletedTrials) {
  std::vector<TrialCurve> peers = FivePeers();
  peers[4].state = TrialState::kPruned;
  PercentilePruner pruner(kMaxAuc, Median(/*startup=*/5));
  const TrialCurve bad = MakeSteps(9, TrialState::kRunning, {0.0});
  EXPECT_FALSE(pruner.ShouldPrune(bad, peers).stop);  // 4 completed < 5
  PercentilePruner four(kMaxAuc, Median(/*startup=*/4));
  EXPECT_TRUE(four.ShouldPrune(bad, peers).stop);
  EXPECT_FALSE(PercentilePruner(kMaxAuc, Median(0)).ShouldPrune(bad, {}).stop);  // none completed
}

TEST(PercentilePrunerTest, WarmupSteps) {
  PercentilePruner pruner(kMaxAuc, Median(5, /*warmup=*/2));
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0, 0}), FivePeers()).stop);
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0, 0, 0}), FivePeers()).stop);
}

TEST(PercentilePrunerTest, IntervalStepsCheckFirstReportOfEachInterval) {
  std::vector<TrialCurve> peers;
  for (int i = 1; i <= 5; ++i) {
    std::vector<double> v(12, 0.1 * i);
    peers.push_back(MakeSteps(i, TrialState::kCompleted, v));
  }
  PercentilePruner pruner(kMaxAuc, Median(5, /*warmup=*/1, /*interval=*/4));
  // Checks at steps 1, 5, 9 when every step is reported.
  for (int64_t step = 0; step < 12; ++step) {
    std::vector<double> values(static_cast<size_t>(step) + 1, 0.0);
    const bool checked = step == 1 || step == 5 || step == 9;
    EXPECT_EQ(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, values), peers).stop, checked)
        << step;
  }
  // Reporting only at steps 0, 3, 7: step 3 is the first report at or after 1, 7 after 5.
  EXPECT_TRUE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{0, 0}, {3, 0}}), peers).stop);
  EXPECT_TRUE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{0, 0}, {3, 0}, {7, 0}}), peers).stop);
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{0, 0}, {6, 0}, {7, 0}}), peers).stop);
}

TEST(PercentilePrunerTest, PercentileThresholdMaximize) {
  // Keep the top 25%: reference = 75th percentile of {0.1..0.5} = 0.4.
  PercentilePruner pruner(kMaxAuc, Percentile(25, 5));
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.39}), FivePeers()).stop);
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.4}), FivePeers()).stop);
  // Keep the top 80%: reference = 20th percentile = 0.18.
  PercentilePruner loose(kMaxAuc, Percentile(80, 5));
  EXPECT_TRUE(loose.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.17}), FivePeers()).stop);
  EXPECT_FALSE(loose.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.19}), FivePeers()).stop);
}

TEST(PercentilePrunerTest, PercentileThresholdMinimize) {
  // Minimize, keep the top 25%: reference = 25th percentile of {0.1..0.5} = 0.2.
  PercentilePruner pruner(kMinLoss, Percentile(25, 5));
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.21}), FivePeers()).stop);
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.2}), FivePeers()).stop);
  PercentilePruner median(kMinLoss, Median());
  EXPECT_TRUE(median.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.31}), FivePeers()).stop);
  EXPECT_FALSE(median.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.29}), FivePeers()).stop);
}

TEST(PercentilePrunerTest, PeersAtDifferentCadenceUseLastEarlierStep) {
  // Peers report at steps 0, 10, 20; the trial at step 15 is compared with their step-10 values;
  // a peer that ended at step 10 says nothing about step 15 (Optuna leaves it out).
  std::vector<TrialCurve> peers;
  for (int i = 1; i <= 4; ++i) {
    peers.push_back(MakeCurve(i, TrialState::kCompleted, {{0, 0}, {10, 0.1 * i}, {20, 0.9}}));
  }
  peers.push_back(MakeCurve(5, TrialState::kCompleted, {{0, 0}, {10, 0.0}}));
  PercentilePruner pruner(kMaxAuc, Median(5));
  // Median of {0.1, 0.2, 0.3, 0.4} = 0.25.
  const Decision d = pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{15, 0.24}}), peers);
  EXPECT_TRUE(d.stop);
  EXPECT_THAT(d.reason, HasSubstr("the median 0.25 of 4 completed trials"));
  EXPECT_FALSE(pruner.ShouldPrune(MakeCurve(9, TrialState::kRunning, {{15, 0.26}}), peers).stop);
}

TEST(PercentilePrunerTest, IgnoresCheckpointWithoutWatchedMetric) {
  PercentilePruner pruner(kMaxAuc, Median());
  TrialCurve t = MakeSteps(9, TrialState::kRunning, {0.0, 0.0});
  t.checkpoints.back().mutable_metrics(0)->set_name("other");
  EXPECT_FALSE(pruner.ShouldPrune(t, FivePeers()).stop);
}

TEST(PercentilePrunerTest, AllNanStops) {
  PercentilePruner pruner(kMaxAuc, Median());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {nan}), FivePeers()).stop);
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.5, nan}), FivePeers()).stop);
}

// Expected prune steps computed with Optuna 3.1 (/usr/bin/python3, optuna.pruners) on the same
// curves (pruning_test_util.h CurveValue), trials run one after another.
TEST(PercentilePrunerTest, MatchesOptunaMedianDefaults) {
  PercentilePruner pruner(kMaxAuc, Median());
  EXPECT_THAT(RunSequential(pruner, 12, 16, 1),
              ElementsAre(-1, -1, -1, -1, -1, 0, 1, 0, -1, 0, 0, 0));
}

TEST(PercentilePrunerTest, MatchesOptunaMedianWarmupInterval) {
  PercentilePruner pruner(kMaxAuc, Median(2, 3, 2));
  EXPECT_THAT(RunSequential(pruner, 12, 16, 1), ElementsAre(-1, -1, 3, -1, 3, 3, 3, 3, 7, 3, 3, 3));
}

TEST(PercentilePrunerTest, MatchesOptunaPercentile) {
  PercentilePruner min25(kMinLoss, Percentile(25, 3));
  EXPECT_THAT(RunSequential(min25, 12, 16, 1, /*sign=*/-1.0),
              ElementsAre(-1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0));
  PercentilePruner max75(kMaxAuc, Percentile(75, 3, 2));
  EXPECT_THAT(RunSequential(max75, 12, 16, 1),
              ElementsAre(-1, -1, -1, -1, -1, 2, -1, 2, -1, 2, -1, 2));
}

// Two metrics: auc (maximize) and logloss (minimize).
std::vector<TrialCurve> FrontPeers() {
  return {
      MakeCurve2(1, TrialState::kCompleted, {{0, 0.9, 0.5}}),
      MakeCurve2(2, TrialState::kCompleted, {{0, 0.8, 0.4}}),
      MakeCurve2(3, TrialState::kCompleted, {{0, 0.7, 0.3}}),
      MakeCurve2(4, TrialState::kCompleted, {{0, 0.6, 0.2}}),
      MakeCurve2(5, TrialState::kCompleted, {{0, 0.5, 0.1}}),
  };
}

TEST(PercentilePrunerTest, TwoMetricsNeverStopsAParetoOptimalTrial) {
  PercentilePruner pruner(kTwo, Median());
  // Worse than the per-metric medians (0.7, 0.3) in both, but nobody dominates it.
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.95, 0.55}}), FrontPeers())
          .stop);
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.65, 0.35}}), FrontPeers())
          .stop);
}

TEST(PercentilePrunerTest, TwoMetricsStopsWhenMostPeersDominate) {
  PercentilePruner pruner(kTwo, Median());
  // (0.55, 0.55) is dominated by every peer but (0.5, 0.1): 4 of 5 > 50%.
  const Decision d =
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.55, 0.55}}), FrontPeers());
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason,
            "median: best (auc 0.55, logloss 0.55) up to step 0 is Pareto-dominated by 4 of 5 "
            "completed trials at that step (more than 50% of them)");
  // (0.75, 0.45): dominated by peers 1? no (0.9, 0.5) has worse logloss; by 2 (0.8, 0.4) only.
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.75, 0.45}}), FrontPeers())
          .stop);
  // Keep the top 25%: stopped when more than 25% of peers (2 of 5) dominate it.
  PercentilePruner strict(kTwo, Percentile(25, 5));
  EXPECT_TRUE(
      strict.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.65, 0.45}}),
                         FrontPeers())
          .stop);  // dominated by 2 (0.8, 0.4) and 3 (0.7, 0.3)
  EXPECT_FALSE(
      strict.ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.75, 0.45}}),
                         FrontPeers())
          .stop);  // dominated by 2 only
}

TEST(PercentilePrunerTest, TwoMetricsUsesPerMetricBestOverSteps) {
  PercentilePruner pruner(kTwo, Median());
  std::vector<TrialCurve> peers = FrontPeers();
  for (auto& p : peers) {
    hpo::v1::Checkpoint c = p.checkpoints[0];
    c.set_step(1);
    p.checkpoints.push_back(c);
  }
  // At step 1 its point is (0.55, 0.55) but its bests are (0.95, 0.55): on the front.
  EXPECT_FALSE(
      pruner
          .ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.95, 0.9}, {1, 0.55, 0.55}}),
                       peers)
          .stop);
}

}  // namespace
}  // namespace hpo::pruning
