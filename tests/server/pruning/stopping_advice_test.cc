#include "server/pruning/stopping_advice.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeExperiment;
using ::hpo::pruning::testing::MakeMetric;
using ::hpo::v1::Observation;

Observation Obs(std::vector<std::pair<std::string, double>> values) {
  Observation o;
  for (const auto& [name, value] : values) {
    auto* v = o.add_values();
    v->set_name(name);
    v->set_value(value);
  }
  return o;
}

Observation Failed() {
  Observation o;
  o.set_failed(true);
  return o;
}

TEST(StoppingAdviceTest, BudgetReachedCountsFailedObservations) {
  hpo::v1::Experiment e = MakeExperiment();
  e.set_observation_budget(3);
  std::vector<Observation> obs = {Obs({{"auc", 0.5}}), Failed()};
  EXPECT_FALSE(Advise(e, obs, 0).should_stop);
  obs.push_back(Failed());
  const StoppingAdvice a = Advise(e, obs, 0);
  EXPECT_TRUE(a.should_stop);
  EXPECT_EQ(a.reason, "budget reached: 3 of 3 observations");
}

TEST(StoppingAdviceTest, StagnationSingleObjective) {
  hpo::v1::Experiment e = MakeExperiment();  // budget 100: default lookback 25
  std::vector<Observation> obs = {Obs({{"auc", 0.5}}), Obs({{"auc", 0.8}})};
  for (int i = 0; i < 3; ++i) obs.push_back(Obs({{"auc", 0.7}}));
  obs.push_back(Obs({{"auc", 0.8}}));           // a tie is no improvement
  EXPECT_FALSE(Advise(e, obs, 5).should_stop);  // 0.8 at index 1 is within the last 5
  obs.push_back(Failed());
  const StoppingAdvice a = Advise(e, obs, 5);
  EXPECT_TRUE(a.should_stop);
  EXPECT_EQ(a.reason,
            "stagnation: no improvement of the best auc over the last 5 observations (last at "
            "observation 2 of 7)");
  obs.push_back(Obs({{"auc", 0.81}}));
  EXPECT_FALSE(Advise(e, obs, 5).should_stop);
  EXPECT_FALSE(Advise(e, obs, 0).should_stop);  // fewer than 25 observations
}

TEST(StoppingAdviceTest, DefaultLookbackIsAtLeastTen) {
  hpo::v1::Experiment e = MakeExperiment(hpo::v1::OBJECTIVE_MINIMIZE);
  e.set_observation_budget(20);  // budget / 4 = 5 < 10
  std::vector<Observation> obs = {Obs({{"auc", 0.1}})};
  for (int i = 0; i < 9; ++i) obs.push_back(Obs({{"auc", 0.2}}));
  EXPECT_FALSE(Advise(e, obs, 0).should_stop);
  obs.push_back(Obs({{"auc", 0.2}}));
  EXPECT_TRUE(Advise(e, obs, 0).should_stop);
}

TEST(StoppingAdviceTest, InfeasibleObservationsDoNotImprove) {
  hpo::v1::Experiment e = MakeExperiment();
  hpo::v1::Metric c =
      MakeMetric("latency", hpo::v1::OBJECTIVE_MINIMIZE, hpo::v1::METRIC_STRATEGY_CONSTRAINT);
  c.set_threshold(10);
  *e.add_metrics() = c;
  std::vector<Observation> obs = {Obs({{"auc", 0.5}, {"latency", 5}}),
                                  Obs({{"auc", 0.9}, {"latency", 50}}),
                                  Obs({{"auc", 0.95}, {"latency", 20}})};
  EXPECT_TRUE(Advise(e, obs, 2).should_stop);
  std::vector<Observation> none = {Failed(), Failed()};
  EXPECT_EQ(Advise(e, none, 2).reason, "stagnation: no feasible observation in 2 observations");
}

TEST(StoppingAdviceTest, TwoObjectivesNeedANewParetoPoint) {
  hpo::v1::Experiment e = MakeExperiment();
  *e.add_metrics() = MakeMetric("logloss", hpo::v1::OBJECTIVE_MINIMIZE);
  std::vector<Observation> obs = {Obs({{"auc", 0.9}, {"logloss", 0.5}}),
                                  Obs({{"auc", 0.7}, {"logloss", 0.3}}),
                                  Obs({{"auc", 0.8}, {"logloss", 0.6}}),   // dominated
                                  Obs({{"auc", 0.7}, {"logloss", 0.3}})};  // duplicate
  const StoppingAdvice a = Advise(e, obs, 2);
  EXPECT_TRUE(a.should_stop);
  EXPECT_EQ(a.reason,
            "stagnation: no new Pareto point over the last 2 observations (last at observation 2 "
            "of 4)");
  obs.push_back(Obs({{"auc", 0.95}, {"logloss", 0.9}}));  // a new trade-off
  EXPECT_FALSE(Advise(e, obs, 2).should_stop);
}

}  // namespace
}  // namespace hpo::pruning
