#include "trainer/data/synthetic.h"

#include <algorithm>
#include <vector>

#include "gtest/gtest.h"
#include "trainer/metrics/auc.h"

namespace hpo::trainer {
namespace {

TEST(SyntheticGenerator, ClickRateNearCriteoAndBayesAucInformative) {
  SyntheticOptions o;
  o.table_sizes = CriteoKaggleTableSizes(0.001, 1000000);
  auto g = SyntheticGenerator::Create(o);
  ASSERT_TRUE(g.ok()) << g.status();
  Batch b;
  g->GenerateBatch(kSyntheticTestOffset, 20000, &b);
  double ctr = 0;
  for (float l : b.labels) ctr += l;
  EXPECT_NEAR(ctr / 20000, 0.25, 0.02);
  auto auc = RocAuc(b.probability, b.labels);
  ASSERT_TRUE(auc.ok());
  EXPECT_GT(*auc, 0.72);
  EXPECT_LT(*auc, 0.92);
  for (size_t f = 0; f < o.table_sizes.size(); ++f) {
    for (int64_t i = 0; i < b.size; ++i) {
      const int32_t r = b.indices[f * static_cast<size_t>(b.size) + static_cast<size_t>(i)];
      ASSERT_GE(r, 0);
      ASSERT_LT(r, o.table_sizes[f]);
    }
  }
}

TEST(SyntheticGenerator, ExamplesArePureFunctionsOfSeedAndIndex) {
  SyntheticOptions o;
  o.table_sizes = {100, 1000, 3};
  auto g1 = SyntheticGenerator::Create(o);
  auto g2 = SyntheticGenerator::Create(o);
  ASSERT_TRUE(g1.ok() && g2.ok());
  Example a, b;
  g1->Generate(12345, &a);
  g2->Generate(12345, &b);
  EXPECT_EQ(a.sparse, b.sparse);
  EXPECT_EQ(a.dense, b.dense);
  EXPECT_EQ(a.probability, b.probability);
  o.seed = 2;
  auto g3 = SyntheticGenerator::Create(o);
  g3->Generate(12345, &b);
  EXPECT_NE(a.probability, b.probability);
}

TEST(SyntheticGenerator, CategoryFrequenciesAreSkewed) {
  SyntheticOptions o;
  o.table_sizes = {10000};
  auto g = SyntheticGenerator::Create(o);
  ASSERT_TRUE(g.ok());
  std::vector<int> count(10000);
  Example e;
  for (int i = 0; i < 20000; ++i) {
    g->Generate(i, &e);
    ++count[static_cast<size_t>(e.sparse[0])];
  }
  std::sort(count.rbegin(), count.rend());
  // Zipf(1) over 10^4 rows: the top row takes log(2)/log(10001) ~ 7.5% of the draws.
  EXPECT_GT(count[0], 1000);
  EXPECT_LT(count[0], 2000);
}

TEST(SyntheticGenerator, RejectsBadOptions) {
  SyntheticOptions o;
  EXPECT_FALSE(SyntheticGenerator::Create(o).ok());
  o.table_sizes = {0};
  EXPECT_FALSE(SyntheticGenerator::Create(o).ok());
}

}  // namespace
}  // namespace hpo::trainer
