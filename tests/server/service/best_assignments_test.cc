#include "server/service/best_assignments.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpo::service {
namespace {

v1::Metric MakeMetric(const std::string& name, v1::Objective objective,
                      v1::MetricStrategy strategy) {
  v1::Metric m;
  m.set_name(name);
  m.set_objective(objective);
  m.set_strategy(strategy);
  return m;
}

v1::Observation Obs(int64_t id, std::vector<std::pair<std::string, double>> values,
                    bool failed = false) {
  v1::Observation o;
  o.set_id(id);
  o.set_failed(failed);
  for (auto& [name, v] : values) {
    auto* mv = o.add_values();
    mv->set_name(name);
    mv->set_value(v);
  }
  return o;
}

std::vector<int64_t> Ids(const std::vector<v1::Observation>& v) {
  std::vector<int64_t> ids;
  for (const auto& o : v) ids.push_back(o.id());
  return ids;
}

TEST(BestAssignmentsTest, SingleMetricMinimizeSkipsFailedAndKeepsEarliestTie) {
  v1::Experiment e;
  *e.add_metrics() = MakeMetric("loss", v1::OBJECTIVE_MINIMIZE, v1::METRIC_STRATEGY_OPTIMIZE);
  std::vector<v1::Observation> obs = {Obs(1, {{"loss", 0.5}}), Obs(2, {}, true),
                                      Obs(3, {{"loss", 0.2}}), Obs(4, {{"loss", 0.2}})};
  EXPECT_THAT(Ids(BestAssignments(e, obs)), ::testing::ElementsAre(3));
}

TEST(BestAssignmentsTest, ConstraintMetricExcludesInfeasible) {
  v1::Experiment e;
  *e.add_metrics() = MakeMetric("auc", v1::OBJECTIVE_MAXIMIZE, v1::METRIC_STRATEGY_OPTIMIZE);
  v1::Metric latency = MakeMetric("latency", v1::OBJECTIVE_MINIMIZE, v1::METRIC_STRATEGY_CONSTRAINT);
  latency.set_threshold(10);
  *e.add_metrics() = latency;
  std::vector<v1::Observation> obs = {Obs(1, {{"auc", 0.9}, {"latency", 12}}),
                                      Obs(2, {{"auc", 0.8}, {"latency", 9}})};
  EXPECT_THAT(Ids(BestAssignments(e, obs)), ::testing::ElementsAre(2));
  EXPECT_FALSE(IsFeasible(e, obs[0]));
}

TEST(BestAssignmentsTest, TwoMetricsGiveParetoSetSortedByFirst) {
  v1::Experiment e;
  *e.add_metrics() = MakeMetric("auc", v1::OBJECTIVE_MAXIMIZE, v1::METRIC_STRATEGY_OPTIMIZE);
  *e.add_metrics() = MakeMetric("seconds", v1::OBJECTIVE_MINIMIZE, v1::METRIC_STRATEGY_OPTIMIZE);
  std::vector<v1::Observation> obs = {
      Obs(1, {{"auc", 0.80}, {"seconds", 100}}), Obs(2, {{"auc", 0.78}, {"seconds", 50}}),
      Obs(3, {{"auc", 0.77}, {"seconds", 60}}),  // dominated by 2
      Obs(4, {{"auc", 0.81}, {"seconds", 200}}), Obs(5, {{"auc", 0.80}, {"seconds", 120}})};
  EXPECT_THAT(Ids(BestAssignments(e, obs)), ::testing::ElementsAre(4, 1, 2));
}

}  // namespace
}  // namespace hpo::service
