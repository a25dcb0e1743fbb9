#include "server/pruning/threshold_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve;
using ::hpo::pruning::testing::MakeSteps;
using ::hpo::pruning::testing::RunSequential;
using ::testing::ElementsAre;

ThresholdPrunerOptions Bounds(double lower, double upper, int64_t warmup = 0,
                              int64_t interval = 1) {
  ThresholdPrunerOptions o;
  o.lower = lower;
  o.upper = upper;
  o.warmup_steps = warmup;
  o.interval_steps = interval;
  return o;
}

constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(ThresholdPrunerTest, LowerBound) {
  ThresholdPruner pruner({"auc", true}, Bounds(0.5, kInf));
  const Decision d = pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.9, 0.4}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "threshold");
  EXPECT_EQ(d.reason, "threshold: auc 0.4 at step 1 is below the lower bound 0.5");
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5}), {}).stop);
}

TEST(ThresholdPrunerTest, UpperBoundIgnoresDirection) {
  ThresholdPruner pruner({"loss", true}, Bounds(-kInf, 2.0));
  const Decision d = pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {2.5}, "loss"), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.reason, "threshold: loss 2.5 at step 0 is above the upper bound 2");
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {2.0}, "loss"), {}).stop);
}

TEST(ThresholdPrunerTest, NanStops) {
  ThresholdPruner pruner({"auc", true}, Bounds(0.0, 1.0));
  EXPECT_TRUE(
      pruner
          .ShouldPrune(
              MakeSteps(1, TrialState::kRunning, {std::numeric_limits<double>::quiet_NaN()}), {})
          .stop);
}

TEST(ThresholdPrunerTest, WarmupAndInterval) {
  ThresholdPruner pruner({"auc", true}, Bounds(0.5, kInf, /*warmup=*/2, /*interval=*/3));
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0, 0}), {}).stop);
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0, 0, 0}), {}).stop);
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0, 0, 0, 0}), {}).stop);
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0, 0, 0, 0, 0, 0}), {}).stop);
  EXPECT_TRUE(pruner.ShouldPrune(MakeCurve(1, TrialState::kRunning, {{0, 0}, {7, 0}}), {}).stop);
}

// Expected prune steps computed with Optuna 3.1 (ThresholdPruner(lower=0.3, n_warmup_steps=2)).
TEST(ThresholdPrunerTest, MatchesOptuna) {
  EXPECT_THAT(RunSequential(ThresholdPruner({"auc", true}, Bounds(0.3, kInf, 2)), 12, 16, 1),
              ElementsAre(-1, -1, 2, -1, -1, -1, -1, 2, -1, -1, -1, 2));
}

}  // namespace
}  // namespace hpo::pruning
