#include "trainer/metrics/auc.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace hpo::trainer {
namespace {

// O(n^2) Mann-Whitney count: a positive above a negative scores 1, a tie 1/2.
double BruteForceAuc(const std::vector<float>& s, const std::vector<float>& y) {
  double wins = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    for (size_t j = 0; j < s.size(); ++j) {
      if (y[i] == 1 && y[j] == 0) {
        pairs += 1;
        wins += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
      }
    }
  }
  return wins / pairs;
}

TEST(RocAuc, HandComputedWithoutTies) {
  auto auc = RocAuc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1});
  ASSERT_TRUE(auc.ok()) << auc.status();
  EXPECT_DOUBLE_EQ(*auc, 0.75);
}

TEST(RocAuc, TiesCountHalf) {
  auto auc = RocAuc({0.5f, 0.5f, 0.5f, 0.9f}, {1, 0, 0, 1});
  ASSERT_TRUE(auc.ok()) << auc.status();
  EXPECT_DOUBLE_EQ(*auc, 0.75);
  auto all_tied = RocAuc({2.f, 2.f, 2.f, 2.f}, {1, 0, 1, 0});
  ASSERT_TRUE(all_tied.ok());
  EXPECT_DOUBLE_EQ(*all_tied, 0.5);
}

TEST(RocAuc, MatchesBruteForceOnRandomDataWithManyTies) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<float> s(300), y(300);
    for (size_t i = 0; i < s.size(); ++i) {
      y[i] = static_cast<float>(rng() % 3 == 0);
      s[i] = std::round(static_cast<float>(rng() % 1000) / 100.0f + y[i]);  // ~12 distinct values
    }
    auto auc = RocAuc(s, y);
    ASSERT_TRUE(auc.ok()) << auc.status();
    EXPECT_NEAR(*auc, BruteForceAuc(s, y), 1e-12);
  }
}

TEST(RocAuc, RejectsOneClassMismatchedSizesAndNaN) {
  EXPECT_EQ(RocAuc({0.1f, 0.2f}, {1, 1}).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(RocAuc({0.1f}, {1, 0}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RocAuc({NAN, 0.2f}, {1, 0}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(LogLoss, MatchesDefinitionAndIsStableForLargeLogits) {
  auto ll = LogLossFromLogits({0.0f, 2.0f}, {1, 0});
  ASSERT_TRUE(ll.ok());
  const double expected = (std::log(2.0) + std::log1p(std::exp(2.0))) / 2;
  EXPECT_NEAR(*ll, expected, 1e-12);
  auto big = LogLossFromLogits({100.0f, -100.0f}, {1, 0});
  ASSERT_TRUE(big.ok());
  EXPECT_NEAR(*big, 0.0, 1e-30 + 1e-40);
  auto wrong = LogLossFromLogits({100.0f}, {0});
  ASSERT_TRUE(wrong.ok());
  EXPECT_NEAR(*wrong, 100.0, 1e-9);
}

}  // namespace
}  // namespace hpo::trainer
