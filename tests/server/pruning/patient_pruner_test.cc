#include "server/pruning/patient_pruner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "server/pruning/threshold_pruner.h"
#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve2;
using ::hpo::pruning::testing::MakeSteps;
using ::hpo::pruning::testing::RunSequential;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<WatchedMetric> kMaxAuc = {{"auc", true}};

// Stops everything it is asked about.
class AlwaysStop final : public Pruner {
 public:
  Decision ShouldPrune(const TrialCurve& trial,
                       absl::Span<const TrialCurve> others) const override {
    return {true, "always", "always"};
  }
};

TEST(PatientPrunerTest, StopsAfterPatienceWithoutImprovement) {
  PatientPruner pruner(kMaxAuc, nullptr, 2);
  // Needs more than patience + 1 values.
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.4, 0.4}), {}).stop);
  const Decision d =
      pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.4, 0.4, 0.45}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "patience");
  EXPECT_EQ(d.reason,
            "patience: best auc 0.45 over the last 3 checkpoints (steps 1 to 3) is worse than auc "
            "0.5 before step 1");
  // An equal value is not worse (Optuna compares strictly).
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.4, 0.4, 0.5}), {}).stop);
  EXPECT_FALSE(
      pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.4, 0.6, 0.4}), {}).stop);
}

TEST(PatientPrunerTest, MinimizeDirection) {
  PatientPruner pruner({{"auc", false}}, nullptr, 1);
  EXPECT_TRUE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.1, 0.2, 0.3}), {}).stop);
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.1, 0.2, 0.05}), {}).stop);
}

TEST(PatientPrunerTest, ConsultsWrappedPrunerOnlyWhenStalled) {
  PatientPruner pruner(kMaxAuc, std::make_unique<AlwaysStop>(), 1);
  EXPECT_FALSE(pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.1, 0.2, 0.3}), {}).stop);
  const Decision d = pruner.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.3, 0.2, 0.1}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "always");
  EXPECT_THAT(d.reason, HasSubstr("(and no improvement over the last 2 checkpoints)"));
  ThresholdPrunerOptions bounds;
  bounds.lower = 0.0;
  PatientPruner wrapped_threshold(
      kMaxAuc, std::make_unique<ThresholdPruner>(WatchedMetric{"auc", true}, bounds), 1);
  EXPECT_FALSE(
      wrapped_threshold.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.3, 0.2, 0.1}), {}).stop);
}

TEST(PatientPrunerTest, TwoMetricsStallOnlyWhenBothStall) {
  PatientPruner pruner({{"auc", true}, {"logloss", false}}, nullptr, 1);
  // auc stalls but logloss improves: go on.
  EXPECT_FALSE(pruner
                   .ShouldPrune(MakeCurve2(1, TrialState::kRunning,
                                           {{0, 0.9, 0.5}, {1, 0.8, 0.4}, {2, 0.8, 0.3}}),
                                {})
                   .stop);
  EXPECT_TRUE(pruner
                  .ShouldPrune(MakeCurve2(1, TrialState::kRunning,
                                          {{0, 0.9, 0.3}, {1, 0.8, 0.4}, {2, 0.8, 0.4}}),
                               {})
                  .stop);
}

// Expected prune steps computed with Optuna 3.1 (PatientPruner(None, patience=2)).
TEST(PatientPrunerTest, MatchesOptuna) {
  EXPECT_THAT(RunSequential(PatientPruner(kMaxAuc, nullptr, 2), 12, 16, 1),
              ElementsAre(8, 10, 6, 14, 10, 7, 9, 5, 13, 9, 11, 8));
}

}  // namespace
}  // namespace hpo::pruning
