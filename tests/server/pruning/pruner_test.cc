#include "server/pruning/pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <memory>
#include <vector>

#include "tests/server/pruning/pruning_test_util.h"
#include "tests/testing/status_matchers.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCheckpoint;
using ::hpo::pruning::testing::MakeCurve2;
using ::hpo::pruning::testing::MakeExperiment;
using ::hpo::pruning::testing::MakeMetric;
using ::hpo::pruning::testing::MakeSteps;
using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<Pruner> Create(const hpo::v1::Experiment& e) {
  auto pruner = CreatePruner(e);
  EXPECT_TRUE(pruner.ok()) << pruner.status();
  return pruner.ok() ? *std::move(pruner) : nullptr;
}

std::vector<TrialCurve> FivePeers() {
  std::vector<TrialCurve> peers;
  for (int i = 1; i <= 5; ++i)
    peers.push_back(MakeSteps(i, TrialState::kCompleted, {0.1 * i, 0.1 * i}));
  return peers;
}

TEST(CreatePrunerTest, NoKindNeverStopsButRegulatorRuns) {
  hpo::v1::Experiment e = MakeExperiment();
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  EXPECT_FALSE(
      pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.0, 0.0}), FivePeers()).stop);
  const Decision d = pruner->ShouldPrune(
      MakeSteps(9, TrialState::kRunning, {0.0, std::numeric_limits<double>::quiet_NaN()}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "anomaly");
}

TEST(CreatePrunerTest, MedianWithDefaults) {
  hpo::v1::Experiment e = MakeExperiment();
  e.mutable_pruner()->mutable_median();
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  const Decision d =
      pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.0, 0.0}), FivePeers());
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "median");
  // startup_trials defaults to 5.
  std::vector<TrialCurve> four = FivePeers();
  four.pop_back();
  EXPECT_FALSE(pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.0, 0.0}), four).stop);
}

TEST(CreatePrunerTest, RegulatorDecisionsWin) {
  hpo::v1::Experiment e = MakeExperiment();
  e.mutable_pruner()->mutable_median();
  e.mutable_pruner()->mutable_regulator()->set_plateau_patience(1);
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  EXPECT_EQ(pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.0, 0.0}), FivePeers()).rule,
            "plateau");
}

TEST(CreatePrunerTest, PatienceWrapsThePruner) {
  hpo::v1::Experiment e = MakeExperiment();
  e.mutable_pruner()->mutable_median();
  e.mutable_pruner()->set_patience(1);
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  // Below the median but still improving: patience holds the median back.
  EXPECT_FALSE(
      pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.0, 0.01}), FivePeers()).stop);
  hpo::v1::Experiment alone = MakeExperiment();
  alone.mutable_pruner()->set_patience(1);
  auto patience = Create(alone);
  ASSERT_NE(patience, nullptr);
  EXPECT_EQ(patience->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0.5, 0.4, 0.3}), {}).rule,
            "patience");
}

TEST(CreatePrunerTest, WatchesPrunerMetricWithItsDirection) {
  hpo::v1::Experiment e = MakeExperiment();
  *e.add_metrics() =
      MakeMetric("loss", hpo::v1::OBJECTIVE_MINIMIZE, hpo::v1::METRIC_STRATEGY_STORE);
  e.mutable_pruner()->set_metric("loss");
  e.mutable_pruner()->mutable_threshold()->set_upper(1.0);
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  const Decision d = pruner->ShouldPrune(MakeSteps(9, TrialState::kRunning, {2.0}, "loss"), {});
  EXPECT_TRUE(d.stop);
  EXPECT_THAT(d.reason, HasSubstr("loss 2 at step 0 is above the upper bound 1"));
  e.mutable_pruner()->set_metric("nope");
  EXPECT_THAT(CreatePruner(e).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(CreatePrunerTest, TwoOptimizedMetricsPruneOnlyDominatedTrials) {
  hpo::v1::Experiment e = MakeExperiment();
  *e.add_metrics() = MakeMetric("logloss", hpo::v1::OBJECTIVE_MINIMIZE);
  e.mutable_pruner()->mutable_median()->set_startup_trials(2);
  auto pruner = Create(e);
  ASSERT_NE(pruner, nullptr);
  std::vector<TrialCurve> peers = {MakeCurve2(1, TrialState::kCompleted, {{0, 0.9, 0.5}}),
                                   MakeCurve2(2, TrialState::kCompleted, {{0, 0.6, 0.2}})};
  EXPECT_FALSE(
      pruner->ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.95, 0.9}}), peers).stop);
  EXPECT_TRUE(
      pruner->ShouldPrune(MakeCurve2(9, TrialState::kRunning, {{0, 0.5, 0.9}}), peers).stop);
}

TEST(CreatePrunerTest, AshaAndHyperbandDefaultsAndMaxSteps) {
  hpo::v1::Experiment e = MakeExperiment();
  e.mutable_training()->set_max_steps(400);  // min_resource 4, reduction factor 4
  e.mutable_pruner()->mutable_successive_halving();
  auto asha = Create(e);
  ASSERT_NE(asha, nullptr);
  std::vector<TrialCurve> peers = {MakeSteps(1, TrialState::kRunning, {0.9, 0.9, 0.9, 0.9, 0.9})};
  EXPECT_FALSE(asha->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0, 0, 0, 0}), peers).stop);
  EXPECT_EQ(asha->ShouldPrune(MakeSteps(9, TrialState::kRunning, {0, 0, 0, 0, 0}), peers).rule,
            "asha");
  e.mutable_pruner()->mutable_hyperband();
  EXPECT_NE(Create(e), nullptr);
}

TEST(CreatePrunerTest, RejectsUnusableSettings) {
  auto invalid = [](auto mutate) {
    hpo::v1::Experiment e = MakeExperiment();
    mutate(e.mutable_pruner());
    return CreatePruner(e).status();
  };
  const auto kInvalid = StatusIs(absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(invalid([](auto* p) { p->mutable_median()->set_startup_trials(-1); }), kInvalid);
  EXPECT_THAT(invalid([](auto* p) { p->mutable_percentile(); }), kInvalid);  // percentile 0
  EXPECT_THAT(invalid([](auto* p) { p->mutable_percentile()->set_percentile(100); }), kInvalid);
  EXPECT_THAT(invalid([](auto* p) { p->mutable_percentile()->set_percentile(25); }),
              ::hpo::testing::IsOk());
  EXPECT_THAT(invalid([](auto* p) { p->mutable_successive_halving()->set_reduction_factor(1); }),
              kInvalid);
  EXPECT_THAT(invalid([](auto* p) {
                p->mutable_hyperband()->set_min_resource(10);
                p->mutable_hyperband()->set_max_resource(5);
              }),
              kInvalid);
  EXPECT_THAT(invalid([](auto* p) { p->mutable_threshold(); }), kInvalid);
  EXPECT_THAT(invalid([](auto* p) {
                p->mutable_threshold()->set_lower(2);
                p->mutable_threshold()->set_upper(1);
              }),
              kInvalid);
  EXPECT_THAT(invalid([](auto* p) { p->set_patience(-1); }), kInvalid);
  EXPECT_THAT(invalid([](auto* p) { p->mutable_regulator()->set_explosion_factor(0.5); }),
              kInvalid);
}

}  // namespace
}  // namespace hpo::pruning
