#include "server/space/linear_program.h"

#include "gtest/gtest.h"

namespace hpo::space {
namespace {

TEST(SolveStandardLp, SolvesTextbookProblem) {
  // max 3x + 5y s.t. x <= 4, 2y <= 12, 3x + 2y <= 18 -> (2, 6), 36.
  std::optional<LpSolution> s = SolveStandardLp({{1, 0}, {0, 2}, {3, 2}}, {4, 12, 18}, {3, 5});
  ASSERT_TRUE(s.has_value());
  EXPECT_NEAR(s->objective, 36, 1e-9);
  EXPECT_NEAR(s->z[0], 2, 1e-9);
  EXPECT_NEAR(s->z[1], 6, 1e-9);
}

TEST(SolveStandardLp, DetectsUnbounded) {
  EXPECT_FALSE(SolveStandardLp({{1, -1}}, {1}, {1, 1}).has_value());
}

TEST(MaxMinSlack, FindsCentreOfFeasibleRegion) {
  // x + y <= 1 on [0, 1]^2: the best point keeps slack on that row only.
  std::optional<SlackSolution> s = MaxMinSlack({0, 0}, {1, 1}, {{1, 1}}, {1});
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->min_slack, 0.5);
  EXPECT_LE(s->x[0] + s->x[1], 1 + 1e-12);
}

TEST(MaxMinSlack, NegativeForInfeasiblePair) {
  // x + y <= 1 and x + y >= 1.5 (as -x - y <= -1.5).
  std::optional<SlackSolution> s = MaxMinSlack({0, 0}, {1, 1}, {{1, 1}, {-1, -1}}, {1, -1.5});
  ASSERT_TRUE(s.has_value());
  EXPECT_LT(s->min_slack, -0.1);
}

TEST(MaxMinSlack, ThinButFeasible) {
  // 0.999999 <= x + y <= 1.
  std::optional<SlackSolution> s =
      MaxMinSlack({0, 0}, {1, 1}, {{1, 1}, {-1, -1}}, {1, -0.999999});
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->min_slack, 0);
  EXPECT_LE(s->x[0] + s->x[1], 1 + 1e-12);
  EXPECT_GE(s->x[0] + s->x[1], 0.999999 - 1e-12);
}

TEST(MaxMinSlack, FixedCoordinatesAreChecked) {
  // x fixed at 2, constraint x <= 1: infeasible even with no free variable.
  std::optional<SlackSolution> s = MaxMinSlack({2}, {2}, {{1}}, {1});
  ASSERT_TRUE(s.has_value());
  EXPECT_LT(s->min_slack, -kSlackTolerance);
  s = MaxMinSlack({0.5}, {0.5}, {{1}}, {1});
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->min_slack, -kSlackTolerance);
  EXPECT_EQ(s->x[0], 0.5);
}

TEST(MaxMinSlack, HandlesShiftedAndScaledBoxes) {
  // x in [100, 1000], y in [-5, -4]; x + 100 y >= -300 -> x >= 100 when y = -4.
  std::optional<SlackSolution> s = MaxMinSlack({100, -5}, {1000, -4}, {{-1, -100}}, {300});
  ASSERT_TRUE(s.has_value());
  EXPECT_GE(s->min_slack, 0);
  EXPECT_GE(s->x[0] + 100 * s->x[1], -300 - 1e-9);
}

}  // namespace
}  // namespace hpo::space
