// Table placement (trainer/planner.h) and data sharding (trainer/distributed_data.h):
// plain C++, no LibTorch.
#include "trainer/planner.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/data/numbered_dataset.h"
#include "trainer/data/batch_loader.h"
#include "trainer/distributed_data.h"
#include "trainer/train.h"

namespace hpo::trainer {
namespace {

PlannerOptions Opts(int world, int64_t threshold) {
  PlannerOptions o;
  o.world_size = world;
  o.embedding_dim = 16;
  o.replicate_below_rows = threshold;
  return o;
}

TEST(PlanTables, ReplicatesSmallTablesAndPlacesEveryLargeOneOnOneRank) {
  const std::vector<int64_t> rows = {10, 5000, 200000, 7, 1000000, 300000, 50};
  auto plan = PlanTables(rows, Opts(3, 1000));
  ASSERT_TRUE(plan.ok()) << plan.status();
  for (size_t f = 0; f < rows.size(); ++f) {
    if (rows[f] < 1000) {
      EXPECT_TRUE(plan->replicated(f)) << f;
    } else {
      EXPECT_GE(plan->owner[f], 0) << f;
      EXPECT_LT(plan->owner[f], 3) << f;
    }
  }
  // Every table is held exactly once, or everywhere if replicated.
  std::vector<int64_t> all;
  for (int r = 0; r < 3; ++r) {
    auto owned = plan->OwnedBy(r);
    all.insert(all.end(), owned.begin(), owned.end());
  }
  auto rep = plan->Replicated();
  all.insert(all.end(), rep.begin(), rep.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6}));
  // Memory accounting: replicas count on every rank.
  int64_t total = 0;
  for (int64_t b : plan->rank_bytes) total += b;
  int64_t expect = 0;
  for (size_t f = 0; f < rows.size(); ++f) expect += rows[f] * 16 * 4 * (plan->replicated(f) ? 3 : 1);
  EXPECT_EQ(total, expect);
}

TEST(PlanTables, BalancesMemoryAcrossRanks) {
  // 12 equal tables over 4 ranks: 3 each.
  std::vector<int64_t> rows(12, 100000);
  auto plan = PlanTables(rows, Opts(4, 1000));
  ASSERT_TRUE(plan.ok());
  for (int r = 0; r < 4; ++r) EXPECT_EQ(plan->OwnedBy(r).size(), 3u) << r;
  // One huge table and several smaller ones: the huge one's rank gets fewer tables (its
  // memory is high, the other rank's lookup cost is), and neither rank holds everything.
  std::vector<int64_t> skewed = {4000000, 500000, 500000, 500000, 500000, 500000, 500000};
  auto p2 = PlanTables(skewed, Opts(2, 1000));
  ASSERT_TRUE(p2.ok());
  const int big = p2->owner[0];
  EXPECT_LT(p2->OwnedBy(big).size(), p2->OwnedBy(1 - big).size());
  EXPECT_GE(p2->OwnedBy(big).size(), 1u);
  EXPECT_GT(p2->rank_bytes[static_cast<size_t>(big)], p2->rank_bytes[static_cast<size_t>(1 - big)]);
}

TEST(PlanTables, BalancesLookupCostWhenMemoryIsEven) {
  // Equal memory, but tables 0-1 are looked up 10x as often: they go to different ranks.
  std::vector<int64_t> rows(4, 100000);
  PlannerOptions o = Opts(2, 1000);
  o.pooling = {10, 10, 1, 1};
  auto plan = PlanTables(rows, o);
  ASSERT_TRUE(plan.ok());
  EXPECT_NE(plan->owner[0], plan->owner[1]);
  EXPECT_DOUBLE_EQ(plan->rank_lookup_cost[0], plan->rank_lookup_cost[1]);
}

TEST(PlanTables, IsDeterministicAndHandlesEdgeCases) {
  const auto rows = CriteoKaggleTableSizes(0.01, 1000000);
  auto a = PlanTables(rows, Opts(3, 5000));
  auto b = PlanTables(rows, Opts(3, 5000));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->owner, b->owner);
  // One rank: everything is local (replicated), nothing is exchanged.
  auto one = PlanTables(rows, Opts(1, 5000));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->Replicated().size(), rows.size());
  // Threshold 0: nothing is replicated.
  auto none = PlanTables(rows, Opts(2, 0));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->Replicated().empty());
  EXPECT_FALSE(a->Describe().empty());
  EXPECT_FALSE(PlanTables(rows, Opts(0, 10)).ok());
  EXPECT_FALSE(PlanTables({10, 0}, Opts(2, 10)).ok());
  PlannerOptions bad = Opts(2, 10);
  bad.pooling = {1.0};
  EXPECT_FALSE(PlanTables({10, 20}, bad).ok());
}

TEST(ShardOf, SplitsABatchIntoContiguousNearlyEqualParts) {
  for (int64_t n : {1, 7, 256, 1000}) {
    for (int w : {1, 2, 3, 5}) {
      int64_t next = 0;
      for (int r = 0; r < w; ++r) {
        const ShardRange s = ShardOf(n, w, r);
        EXPECT_EQ(s.begin, next);
        EXPECT_LE(s.size(), (n + w - 1) / w);
        next = s.end;
      }
      EXPECT_EQ(next, n);
    }
  }
}

TEST(ShardedDatasetBatches, RankPartsConcatenateToTheSingleProcessBatches) {
  auto ds = Numbered(1000);
  BatchLoader::Options o;
  o.batch_size = 64;
  o.shuffle_buffer = 100;
  o.max_epochs = 2;  // 1000 = 15 * 64 + 40: a partial batch per epoch
  o.seed = 9;
  std::vector<std::vector<float>> single;
  {
    BatchLoader loader(ds.get(), 0, 1000, o);
    while (auto b = loader.Next()) single.push_back(b->dense);
  }
  for (int w : {2, 3}) {
    std::vector<std::function<bool(int64_t, Batch*)>> gens;
    for (int r = 0; r < w; ++r) gens.push_back(ShardedDatasetBatches(ds.get(), 0, 1000, o, w, r));
    for (size_t i = 0;; ++i) {
      std::vector<float> joined;
      int more = 0;
      for (int r = 0; r < w; ++r) {
        Batch b;
        if (!gens[static_cast<size_t>(r)](static_cast<int64_t>(i), &b)) continue;
        ++more;
        const ShardRange s = ShardOf(static_cast<int64_t>(single[std::min(i, single.size() - 1)].size()), w, r);
        EXPECT_EQ(b.size, s.size());
        joined.insert(joined.end(), b.dense.begin(), b.dense.end());
      }
      if (more == 0) {
        EXPECT_EQ(i, single.size());
        break;
      }
      ASSERT_EQ(more, w) << "ranks disagree on the number of batches";
      ASSERT_LT(i, single.size());
      EXPECT_EQ(joined, single[i]) << "batch " << i << " world " << w;
    }
  }
}

}  // namespace
}  // namespace hpo::trainer
