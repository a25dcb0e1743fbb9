#include "server/pruning/regulator.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "tests/server/pruning/pruning_test_util.h"
#include "tests/testing/status_matchers.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCheckpoint;
using ::hpo::pruning::testing::MakeSteps;
using ::hpo::testing::StatusIs;

const std::vector<WatchedMetric> kMaxAuc = {{"auc", true}};

// A curve of (auc, train_loss) pairs at steps 100, 200, ...
TrialCurve AucAndLoss(const std::vector<std::pair<double, double>>& values) {
  TrialCurve t;
  t.trial_id = 1;
  for (size_t i = 0; i < values.size(); ++i) {
    t.checkpoints.push_back(
        MakeCheckpoint(static_cast<int64_t>(i + 1) * 100,
                       {{"auc", values[i].first}, {"train_loss", values[i].second}}));
  }
  return t;
}

RegulatorOptions WithLoss() {
  RegulatorOptions o;
  o.loss_metric = "train_loss";
  return o;
}

TEST(RegulatorTest, NanOrInfiniteValueIsAnAnomaly) {
  Regulator regulator(kMaxAuc, RegulatorOptions());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const Decision d = regulator.ShouldPrune(AucAndLoss({{0.7, 0.5}, {0.71, nan}}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "anomaly");
  EXPECT_EQ(d.reason, "anomaly: train_loss is NaN at step 200");
  EXPECT_EQ(regulator.ShouldPrune(AucAndLoss({{std::numeric_limits<double>::infinity(), 0.5}}), {})
                .reason,
            "anomaly: auc is infinite at step 100");
  EXPECT_FALSE(regulator.ShouldPrune(AucAndLoss({{0.7, 0.5}, {0.71, 0.4}}), {}).stop);
  RegulatorOptions off;
  off.detect_anomalies = false;
  EXPECT_FALSE(Regulator(kMaxAuc, off).ShouldPrune(AucAndLoss({{0.7, nan}}), {}).stop);
}

TEST(RegulatorTest, LossExplosion) {
  Regulator regulator(kMaxAuc, WithLoss());  // factor 10
  const Decision d = regulator.ShouldPrune(AucAndLoss({{0.7, 0.5}, {0.7, 0.3}, {0.6, 3.1}}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "anomaly");
  EXPECT_EQ(d.reason,
            "anomaly: train_loss 3.1 at step 300 exploded above 10 x its best 0.3 (step 200)");
  EXPECT_FALSE(regulator.ShouldPrune(AucAndLoss({{0.7, 0.5}, {0.7, 0.3}, {0.6, 2.9}}), {}).stop);
  RegulatorOptions factor2 = WithLoss();
  factor2.explosion_factor = 2;
  EXPECT_TRUE(
      Regulator(kMaxAuc, factor2).ShouldPrune(AucAndLoss({{0.7, 0.3}, {0.6, 0.61}}), {}).stop);
  // Non-positive best loss: no ratio rule.
  EXPECT_FALSE(
      Regulator(kMaxAuc, factor2).ShouldPrune(AucAndLoss({{0.7, 0.0}, {0.6, 5.0}}), {}).stop);
}

TEST(RegulatorTest, Overfitting) {
  RegulatorOptions o = WithLoss();
  o.overfit_patience = 2;
  Regulator regulator(kMaxAuc, o);
  // auc worsens at the last 2 checkpoints while train_loss keeps falling.
  const Decision d =
      regulator.ShouldPrune(AucAndLoss({{0.70, 0.5}, {0.75, 0.4}, {0.74, 0.35}, {0.72, 0.3}}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "overfitting");
  EXPECT_EQ(d.reason,
            "overfitting: auc 0.75 at step 200 worsened to auc 0.72 at step 400 over 2 "
            "checkpoints while train_loss improved from 0.4 to 0.3");
  // Only one worsening checkpoint.
  EXPECT_FALSE(
      regulator.ShouldPrune(AucAndLoss({{0.70, 0.5}, {0.75, 0.4}, {0.76, 0.35}, {0.72, 0.3}}), {})
          .stop);
  // Loss not improving: not overfitting (just bad).
  EXPECT_FALSE(
      regulator.ShouldPrune(AucAndLoss({{0.70, 0.5}, {0.75, 0.4}, {0.74, 0.45}, {0.72, 0.3}}), {})
          .stop);
}

TEST(RegulatorTest, OverfittingWithTwoMetricsNeedsBothWorse) {
  RegulatorOptions o = WithLoss();
  o.overfit_patience = 1;
  Regulator regulator({{"auc", true}, {"logloss", false}}, o);
  TrialCurve t;
  t.checkpoints.push_back(MakeCheckpoint(1, {{"auc", 0.8}, {"logloss", 0.4}, {"train_loss", 0.5}}));
  t.checkpoints.push_back(MakeCheckpoint(2, {{"auc", 0.7}, {"logloss", 0.3}, {"train_loss", 0.4}}));
  EXPECT_FALSE(regulator.ShouldPrune(t, {}).stop);
  t.checkpoints.back().mutable_metrics(1)->set_value(0.5);
  EXPECT_TRUE(regulator.ShouldPrune(t, {}).stop);
}

TEST(RegulatorTest, Plateau) {
  RegulatorOptions o;
  o.plateau_patience = 3;
  o.plateau_min_delta = 0.01;
  Regulator regulator(kMaxAuc, o);
  const Decision d =
      regulator.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.7, 0.705, 0.69, 0.709}), {});
  EXPECT_TRUE(d.stop);
  EXPECT_EQ(d.rule, "plateau");
  EXPECT_EQ(
      d.reason,
      "plateau: best auc 0.709 over the last 3 checkpoints (steps 2 to 4) improves on auc 0.7 "
      "by no more than 0.01");
  EXPECT_FALSE(
      regulator.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.7, 0.705, 0.69, 0.72}), {})
          .stop);
  EXPECT_FALSE(regulator.ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.5, 0.5}), {}).stop);
  RegulatorOptions minimize = o;
  EXPECT_TRUE(Regulator({{"auc", false}}, minimize)
                  .ShouldPrune(MakeSteps(1, TrialState::kRunning, {0.5, 0.3, 0.295, 0.31, 0.3}), {})
                  .stop);
}

TEST(RegulatorTest, AnomalyWinsOverOtherRules) {
  RegulatorOptions o = WithLoss();
  o.plateau_patience = 1;
  Regulator regulator(kMaxAuc, o);
  EXPECT_EQ(regulator.ShouldPrune(AucAndLoss({{0.7, 0.1}, {0.7, 5.0}}), {}).rule, "anomaly");
}

TEST(RegulatorTest, OptionsFromConfig) {
  hpo::v1::RegulatorConfig c;
  auto o = RegulatorOptionsFromConfig(c);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_TRUE(o->detect_anomalies);
  EXPECT_EQ(o->explosion_factor, 10);
  c.set_explosion_factor(1.0);
  EXPECT_THAT(RegulatorOptionsFromConfig(c).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  c.set_explosion_factor(0);
  c.set_overfit_patience(2);
  EXPECT_THAT(RegulatorOptionsFromConfig(c).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  c.set_loss_metric("train_loss");
  EXPECT_TRUE(RegulatorOptionsFromConfig(c).ok());
  c.set_plateau_min_delta(-1);
  EXPECT_THAT(RegulatorOptionsFromConfig(c).status(), StatusIs(absl::StatusCode::kInvalidArgument));
  c.set_plateau_min_delta(0);
  c.set_plateau_patience(-1);
  EXPECT_THAT(RegulatorOptionsFromConfig(c).status(), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace hpo::pruning
