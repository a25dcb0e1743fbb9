#include "server/pruning/curve.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "tests/server/pruning/pruning_test_util.h"

namespace hpo::pruning {
namespace {

using ::hpo::pruning::testing::MakeCurve;
using ::testing::ElementsAre;

const std::vector<WatchedMetric> kTwo = {{"auc", true}, {"logloss", false}};

TEST(CurveTest, NanPercentileMatchesNumpyLinear) {
  // numpy.nanpercentile([1, 2, 3, 4], q) for q = 0, 25, 50, 90, 100.
  EXPECT_DOUBLE_EQ(NanPercentile({4, 1, 3, 2}, 0), 1.0);
  EXPECT_DOUBLE_EQ(NanPercentile({4, 1, 3, 2}, 25), 1.75);
  EXPECT_DOUBLE_EQ(NanPercentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_DOUBLE_EQ(NanPercentile({4, 1, 3, 2}, 90), 3.7);
  EXPECT_DOUBLE_EQ(NanPercentile({4, 1, 3, 2, std::nan("")}, 100), 4.0);
  EXPECT_TRUE(std::isnan(NanPercentile({std::nan("")}, 50)));
}

TEST(CurveTest, PointForStepExactThenEarlierWithinTheCurve) {
  const TrialCurve t = MakeCurve(1, TrialState::kCompleted, {{10, 0.1}, {20, 0.2}, {30, 0.3}});
  const auto points = CurvePoints(t, {{"auc", true}});
  EXPECT_EQ(PointForStep(points, 20)->values[0], 0.2);
  EXPECT_EQ(PointForStep(points, 25)->values[0], 0.2);
  EXPECT_EQ(PointForStep(points, 5), nullptr);
  EXPECT_EQ(PointForStep(points, 30)->values[0], 0.3);
  EXPECT_EQ(PointForStep(points, 31), nullptr);
}

TEST(CurveTest, CurvePointsSkipCheckpointsMissingAMetric) {
  TrialCurve t;
  t.checkpoints.push_back(testing::MakeCheckpoint(1, {{"auc", 0.5}, {"logloss", 0.4}}));
  t.checkpoints.push_back(testing::MakeCheckpoint(2, {{"auc", 0.6}}));
  const auto points = CurvePoints(t, kTwo);
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].step, 1);
  EXPECT_THAT(points[0].values, ElementsAre(0.5, 0.4));
}

TEST(CurveTest, DominanceAndParetoRanks) {
  EXPECT_TRUE(Dominates({0.9, 0.1}, {0.8, 0.2}, kTwo));
  EXPECT_TRUE(Dominates({0.9, 0.2}, {0.8, 0.2}, kTwo));
  EXPECT_FALSE(Dominates({0.9, 0.2}, {0.9, 0.2}, kTwo));
  EXPECT_FALSE(Dominates({0.9, 0.3}, {0.8, 0.2}, kTwo));
  const std::vector<std::vector<double>> points = {
      {0.9, 0.5}, {0.7, 0.3}, {0.8, 0.6}, {0.6, 0.7}, {0.95, 0.1}};
  EXPECT_THAT(ParetoRanks(points, kTwo), ElementsAre(1, 1, 2, 3, 0));
}

TEST(CurveTest, CrowdingDistance) {
  const std::vector<std::vector<double>> points = {{0, 4}, {1, 2}, {3, 1}, {4, 0}};
  const std::vector<double> d = CrowdingDistances(points, {0, 0, 0, 0});
  EXPECT_TRUE(std::isinf(d[0]));
  EXPECT_TRUE(std::isinf(d[3]));
  EXPECT_DOUBLE_EQ(d[1], 3.0 / 4 + 3.0 / 4);
  EXPECT_DOUBLE_EQ(d[2], 3.0 / 4 + 2.0 / 4);
}

TEST(CurveTest, Crc32MatchesZlib) {
  // binascii.crc32(b"123456789") in Python; "<experiment>_<trial>" strings are checked through
  // the Hyperband brackets.
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32(""), 0u);
}

TEST(CurveTest, IntervalRuleAsOptuna) {
  EXPECT_TRUE(IsFirstInInterval(5, 4, 1, 4));
  EXPECT_FALSE(IsFirstInInterval(6, 5, 1, 4));
  EXPECT_TRUE(IsFirstInInterval(7, 3, 1, 4));  // skipped step 5
  EXPECT_TRUE(IsFirstInInterval(0, -1, 0, 1));
}

}  // namespace
}  // namespace hpo::pruning
