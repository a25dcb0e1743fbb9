#include "server/optimizer/grid_search.h"

#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/optimizer/sampling_optimizer.h"
#include "server/space/validation.h"

namespace hpo::optimizer {
namespace {

v1::Experiment GridExperiment() {
  v1::Experiment e;
  e.set_name("grid");
  e.set_observation_budget(100);
  e.mutable_optimizer()->set_algorithm("grid");
  auto* space = e.mutable_search_space();
  auto* cond = space->add_conditionals();
  cond->set_name("opt");
  cond->add_values("sgd");
  cond->add_values("lamb");
  auto* lr = space->add_parameters();
  lr->set_name("lr");
  lr->set_type(v1::PARAMETER_TYPE_DOUBLE);
  lr->mutable_bounds()->set_min(1e-4);
  lr->mutable_bounds()->set_max(1);
  lr->set_transformation(v1::TRANSFORMATION_LOG);
  auto* layers = space->add_parameters();
  layers->set_name("layers");
  layers->set_type(v1::PARAMETER_TYPE_INT);
  layers->mutable_bounds()->set_min(1);
  layers->mutable_bounds()->set_max(3);
  auto* beta = space->add_parameters();
  beta->set_name("beta");
  beta->set_type(v1::PARAMETER_TYPE_DOUBLE);
  beta->add_grid(0.9);
  beta->add_grid(0.99);
  auto* c = beta->add_conditions();
  c->set_name("opt");
  c->add_values("lamb");
  e.add_metrics()->set_name("auc");
  return e;
}

TEST(GridSearchTest, LevelsFollowTypeAndTransformation) {
  GridSearch grid(GridExperiment());
  ASSERT_EQ(grid.Levels(0).size(), 5u);
  EXPECT_DOUBLE_EQ(grid.Levels(0)[0].number_value(), 1e-4);
  EXPECT_NEAR(grid.Levels(0)[2].number_value(), 1e-2, 1e-12);  // log-spaced midpoint
  EXPECT_DOUBLE_EQ(grid.Levels(0)[4].number_value(), 1.0);
  ASSERT_EQ(grid.Levels(1).size(), 3u);
  EXPECT_EQ(grid.Levels(1)[2].int_value(), 3);
  EXPECT_EQ(grid.Levels(2).size(), 2u);
}

TEST(GridSearchTest, EnumeratesEveryDistinctValidPointOnceThenIsExhausted) {
  const v1::Experiment e = GridExperiment();
  GridSearch grid(e);
  History h;
  std::set<std::string> seen;
  // sgd: 5 lr x 3 layers; lamb: 5 x 3 x 2 beta.
  const int expected = 15 + 30;
  for (int i = 0; i < expected; ++i) {
    auto p = grid.Suggest(h, 1);
    ASSERT_TRUE(p.ok()) << i << ": " << p.status();
    const v1::Assignment& a = (*p)[0].assignment;
    EXPECT_TRUE(space::ValidateAssignment(e.search_space(), a, "a").ok());
    EXPECT_TRUE(seen.insert(AssignmentKey(a)).second) << "repeated point " << AssignmentKey(a);
    v1::Observation o;
    *o.mutable_assignment() = a;
    h.observations.push_back(o);
  }
  EXPECT_EQ(grid.Suggest(h, 1).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(GridSearchTest, SkipsPendingAndConstraintViolations) {
  v1::Experiment e = GridExperiment();
  auto* con = e.mutable_search_space()->add_linear_constraints();
  con->set_type(v1::CONSTRAINT_TYPE_LESS_THAN);
  con->set_threshold(2);
  auto* t = con->add_terms();
  t->set_name("layers");
  t->set_weight(1);
  GridSearch grid(e);
  History h;
  auto first = grid.Suggest(h, 3);
  ASSERT_TRUE(first.ok());
  for (const auto& p : *first) EXPECT_LE(p.assignment.values().at("layers").int_value(), 2);
  h.pending.push_back((*first)[0].assignment);
  auto next = grid.Suggest(h, 1);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(AssignmentKey((*next)[0].assignment), AssignmentKey((*first)[1].assignment));
}

}  // namespace
}  // namespace hpo::optimizer
