#include "server/dashboard/insights.h"

#include <cmath>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace hpo::dashboard {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

v1::Observation Obs(double x, double y, const std::string& category = "") {
  v1::Observation o;
  (*o.mutable_assignment()->mutable_values())["x"].set_number_value(x);
  if (!category.empty()) {
    (*o.mutable_assignment()->mutable_values())["opt"].set_string_value(category);
  }
  auto* v = o.add_values();
  v->set_name("auc");
  v->set_value(y);
  return o;
}

v1::Observation Failed() {
  v1::Observation o;
  o.set_failed(true);
  return o;
}

v1::Experiment Space() {
  v1::Experiment e;
  auto* x = e.mutable_search_space()->add_parameters();
  x->set_name("x");
  x->set_type(v1::PARAMETER_TYPE_DOUBLE);
  auto* noise = e.mutable_search_space()->add_parameters();
  noise->set_name("noise");
  noise->set_type(v1::PARAMETER_TYPE_INT);
  auto* opt = e.mutable_search_space()->add_conditionals();
  opt->set_name("opt");
  auto* auc = e.add_metrics();
  auc->set_name("auc");
  auto* loss = e.add_metrics();
  loss->set_name("loss");
  loss->set_strategy(v1::METRIC_STRATEGY_STORE);
  return e;
}

TEST(PrimaryMetricTest, FirstOptimizedMetricAndItsDirection) {
  v1::Experiment e;
  auto* stored = e.add_metrics();
  stored->set_name("latency");
  stored->set_strategy(v1::METRIC_STRATEGY_STORE);
  auto* loss = e.add_metrics();
  loss->set_name("loss");
  loss->set_objective(v1::OBJECTIVE_MINIMIZE);
  ASSERT_NE(PrimaryMetric(e), nullptr);
  EXPECT_EQ(PrimaryMetric(e)->name(), "loss");
  EXPECT_FALSE(Maximizes(*PrimaryMetric(e)));
  EXPECT_TRUE(Maximizes(*stored));  // unspecified objective maximizes
  EXPECT_EQ(PrimaryMetric(v1::Experiment()), nullptr);
}

TEST(ImprovementTest, BestSoFarSkipsFailedButKeepsTrialNumbers) {
  const std::vector<v1::Observation> obs = {Obs(0, 0.5), Failed(), Obs(0, 0.7), Obs(0, 0.6)};
  const auto up = Improvement(obs, "auc", /*maximize=*/true);
  ASSERT_EQ(up.size(), 3u);
  EXPECT_EQ(up[0].trial, 1);
  EXPECT_EQ(up[1].trial, 3);
  EXPECT_EQ(up[2].trial, 4);
  EXPECT_DOUBLE_EQ(up[2].value, 0.6);
  EXPECT_DOUBLE_EQ(*up[2].best, 0.7);
  const auto down = Improvement(obs, "auc", /*maximize=*/false);
  EXPECT_DOUBLE_EQ(*down[2].best, 0.5);
  // Infeasible points are plotted but never the best.
  const auto constrained = Improvement(obs, "auc", true, {false, true, false, true});
  ASSERT_EQ(constrained.size(), 3u);
  EXPECT_FALSE(constrained[0].best.has_value());
  EXPECT_FALSE(constrained[1].feasible);
  EXPECT_FALSE(constrained[1].best.has_value());
  EXPECT_DOUBLE_EQ(*constrained[2].best, 0.6);
  EXPECT_THAT(Improvement(obs, "missing", true), IsEmpty());
}

TEST(ImportanceTest, RanksTheParameterThatDrivesTheMetricFirst) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<v1::Observation> obs;
  for (int i = 0; i < 200; ++i) {
    const double x = u(rng);
    v1::Observation o = Obs(x, std::sin(3 * x) + 0.05 * u(rng), i % 2 ? "sgd" : "lamb");
    (*o.mutable_assignment()->mutable_values())["noise"].set_int_value(i % 7);
    obs.push_back(o);
  }
  const auto importance = Importance(Space(), obs, "auc");
  ASSERT_EQ(importance.size(), 3u);
  EXPECT_EQ(importance[0].parameter, "x");
  EXPECT_GT(importance[0].importance, 0.9);
  double sum = 0;
  for (const auto& p : importance) sum += p.importance;
  EXPECT_THAT(sum, DoubleNear(1.0, 1e-9));
}

TEST(ImportanceTest, CategoricalEffectIsFound) {
  std::vector<v1::Observation> obs;
  for (int i = 0; i < 60; ++i) obs.push_back(Obs(i, i % 3 == 0 ? 1.0 : 0.0, i % 3 == 0 ? "a" : "b"));
  const auto importance = Importance(Space(), obs, "auc");
  ASSERT_FALSE(importance.empty());
  EXPECT_EQ(importance[0].parameter, "opt");
}

TEST(ImportanceTest, EmptyWithTooFewObservations) {
  EXPECT_THAT(Importance(Space(), {Obs(1, 1), Obs(2, 2)}, "auc"), IsEmpty());
}

TEST(ConstraintTest, DirectionDecidesTheSide) {
  v1::Metric m;
  m.set_threshold(10);
  m.set_objective(v1::OBJECTIVE_MINIMIZE);
  EXPECT_TRUE(SatisfiesConstraint(m, 10));
  EXPECT_FALSE(SatisfiesConstraint(m, 11));
  m.set_objective(v1::OBJECTIVE_MAXIMIZE);
  EXPECT_TRUE(SatisfiesConstraint(m, 11));
  EXPECT_FALSE(SatisfiesConstraint(m, 9));
}

TEST(DownsampleTest, KeepsEndsAndBound) {
  std::vector<std::pair<int64_t, double>> curve;
  for (int i = 0; i < 1000; ++i) curve.emplace_back(i, i * 0.5);
  const auto small = Downsample(curve, 50);
  ASSERT_EQ(small.size(), 50u);
  EXPECT_EQ(small.front().first, 0);
  EXPECT_EQ(small.back().first, 999);
  for (size_t i = 1; i < small.size(); ++i) EXPECT_GT(small[i].first, small[i - 1].first);
  EXPECT_EQ(Downsample({{1, 1.0}, {2, 2.0}}, 50).size(), 2u);
  EXPECT_THAT(Downsample({{1, 1.0}, {2, 2.0}, {3, 3.0}}, 2),
              ElementsAre(std::make_pair(int64_t{1}, 1.0), std::make_pair(int64_t{3}, 3.0)));
}

}  // namespace
}  // namespace hpo::dashboard
