#include "server/optimizer/sobol.h"

#include <algorithm>
#include <set>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/optimizer/optimizer.h"

namespace hpo::optimizer {
namespace {

TEST(SobolSequenceTest, FirstPrimitivePolynomialsAreTheKnownOnes) {
  // x+1, x^2+x+1, x^3+x+1, x^3+x^2+1, x^4+x+1, x^4+x^3+1, then the six of degree 5.
  EXPECT_THAT(SobolSequence::PrimitivePolynomials(12),
              ::testing::ElementsAre(0b11, 0b111, 0b1011, 0b1101, 0b10011, 0b11001, 0b100101,
                                     0b101001, 0b101111, 0b110111, 0b111011, 0b111101));
}

TEST(SobolSequenceTest, EnoughPolynomialsForMaxDimension) {
  EXPECT_EQ(SobolSequence::PrimitivePolynomials(SobolSequence::kMaxDimension - 1).size(),
            static_cast<size_t>(SobolSequence::kMaxDimension - 1));
}

TEST(SobolSequenceTest, UnshiftedPrefixesAreBalancedInEveryDimension) {
  // Any 2^m consecutive points from index 0 put exactly one point in each dyadic interval of
  // length 2^-m in every one-dimensional projection.
  SobolSequence seq(40, /*shift_seed=*/0);
  for (int m : {1, 3, 6}) {
    const int n = 1 << m;
    for (int d = 0; d < 40; ++d) {
      std::set<int> cells;
      for (int i = 0; i < n; ++i) cells.insert(static_cast<int>(seq.Point(i)[d] * n));
      EXPECT_EQ(cells.size(), static_cast<size_t>(n)) << "dimension " << d << " m " << m;
    }
  }
}

TEST(SobolSequenceTest, TwoDimensionalNetOfFirstPair) {
  // Dimensions 0 and 1 form a (0, m, 2)-net: each of the 2^m elementary boxes of any shape holds
  // exactly one of the first 2^m points.
  SobolSequence seq(2, 0);
  const int m = 6, n = 1 << m;
  for (int a = 0; a <= m; ++a) {
    std::set<std::pair<int, int>> boxes;
    for (int i = 0; i < n; ++i) {
      auto p = seq.Point(i);
      boxes.insert({static_cast<int>(p[0] * (1 << a)), static_cast<int>(p[1] * (1 << (m - a)))});
    }
    EXPECT_EQ(boxes.size(), static_cast<size_t>(n)) << "a=" << a;
  }
}

TEST(SobolSequenceTest, ShiftKeepsBalanceAndDependsOnSeed) {
  SobolSequence a(5, 11), b(5, 12);
  EXPECT_NE(a.Point(3), b.Point(3));
  std::set<int> cells;
  for (int i = 0; i < 16; ++i) cells.insert(static_cast<int>(a.Point(i)[4] * 16));
  EXPECT_EQ(cells.size(), 16u);
  for (double v : a.Point(123456)) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
}

TEST(SobolOptimizerTest, IsRegisteredAndContinuesAcrossCalls) {
  v1::Experiment e;
  e.mutable_optimizer()->set_algorithm("sobol");
  e.mutable_optimizer()->set_seed(7);
  for (const char* name : {"x", "y"}) {
    auto* p = e.mutable_search_space()->add_parameters();
    p->set_name(name);
    p->set_type(v1::PARAMETER_TYPE_DOUBLE);
    p->mutable_bounds()->set_min(0);
    p->mutable_bounds()->set_max(1);
  }
  auto opt = CreateOptimizer(e);
  ASSERT_TRUE(opt.ok()) << opt.status();
  History h;
  auto batch = (*opt)->Suggest(h, 4);
  ASSERT_TRUE(batch.ok()) << batch.status();
  h.suggestion_count = 2;
  auto later = (*opt)->Suggest(h, 1);
  ASSERT_TRUE(later.ok());
  EXPECT_EQ((*later)[0].source, "sobol");
  EXPECT_DOUBLE_EQ((*later)[0].assignment.values().at("x").number_value(),
                   (*batch)[2].assignment.values().at("x").number_value());
}

}  // namespace
}  // namespace hpo::optimizer
