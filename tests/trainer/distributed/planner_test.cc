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

int64_t MaxRankBytes(const TablePlan& plan) {
  return *std::max_element(plan.rank_bytes.begin(), plan.rank_bytes.end());
}

TEST(PlanTablesBudget, FitsWithinTheBudgetOnEveryRank) {
  // Five 1M-row tables (61 MiB each at D=16) and small replicated ones: 2 ranks hold 3 + 2.
  const auto rows = CriteoKaggleTableSizes(1.0, 1000000);
  PlannerOptions o = Opts(2, 100000);
  o.rank_memory_budget_bytes = int64_t{200} << 20;
  auto plan = PlanTables(rows, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(MaxRankBytes(*plan), o.rank_memory_budget_bytes);
  EXPECT_TRUE(plan->demoted.empty());
  EXPECT_NE(plan->Describe().find("of 200.0 MiB budget"), std::string::npos) << plan->Describe();
  // Without a budget the same tables give the same plan (the budget only constrains).
  o.rank_memory_budget_bytes = 0;
  auto free = PlanTables(rows, o);
  ASSERT_TRUE(free.ok());
  EXPECT_EQ(free->owner, plan->owner);
  // Optimizer state counts: Adagrad's accumulator doubles the bytes, and 2 ranks no longer do.
  o.rank_memory_budget_bytes = int64_t{200} << 20;
  o.bytes_per_value = 8;
  EXPECT_EQ(PlanTables(rows, o).status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(PlanTablesBudget, BalancedChoiceThatDoesNotFitGoesToTheRankWithMostRoom) {
  // Table 1 is hot, so the lookup-cost balance would put the other four tables (1600 rows)
  // on the other rank; the budget (1000 rows) sends two of them back to the hot table's rank.
  const std::vector<int64_t> rows = {600, 500, 400, 300, 200};  // x 16 x 4 bytes
  PlannerOptions o = Opts(2, 0);
  o.pooling = {1, 50, 1, 1, 1};
  o.rank_memory_budget_bytes = 1000 * 64;
  auto plan = PlanTables(rows, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(MaxRankBytes(*plan), o.rank_memory_budget_bytes);
  EXPECT_EQ(plan->rank_bytes[0] + plan->rank_bytes[1], 2000 * 64);
  // Unconstrained, the cost balance puts the memory on one side.
  o.rank_memory_budget_bytes = 0;
  auto free = PlanTables(rows, o);
  ASSERT_TRUE(free.ok());
  EXPECT_GT(MaxRankBytes(*free), 1000 * 64);
}

TEST(PlanTablesBudget, DemotesReplicatedTablesLargestFirstWhenTheyLeaveNoRoom) {
  // 2 large tables of 1000 rows (one per rank) and replicated tables of 400, 300, 20 rows:
  // replicated, every rank would hold 1000 + 720 rows; the budget is 1500 rows.
  const std::vector<int64_t> rows = {1000, 400, 1000, 300, 20};
  PlannerOptions o = Opts(2, 500);
  o.rank_memory_budget_bytes = 1500 * 64;
  auto plan = PlanTables(rows, o);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_LE(MaxRankBytes(*plan), o.rank_memory_budget_bytes);
  // Demoting the 400-row table alone leaves 1000 + 400 + 320 on one rank: the 300-row one
  // must go too, and the 20-row one stays replicated.
  EXPECT_EQ(plan->demoted, (std::vector<int64_t>{1, 3}));
  EXPECT_FALSE(plan->replicated(1));
  EXPECT_FALSE(plan->replicated(3));
  EXPECT_TRUE(plan->replicated(4));
  EXPECT_NE(plan->Describe().find("tables [1,3] model parallel"), std::string::npos) << plan->Describe();
}

TEST(PlanTablesBudget, RefusesWhenTheTablesDoNotFitAndSaysHowManyRanksWouldBeNeeded) {
  // 340 MiB of tables (Kaggle capped at 1M rows): not on 1 rank of 200 MiB, nor on 2 of 100 MiB.
  const auto rows = CriteoKaggleTableSizes(1.0, 1000000);
  PlannerOptions o = Opts(1, 100000);
  o.rank_memory_budget_bytes = int64_t{200} << 20;
  auto one = PlanTables(rows, o);
  ASSERT_EQ(one.status().code(), absl::StatusCode::kResourceExhausted) << one.status();
  const std::string msg(one.status().message());
  EXPECT_NE(msg.find("budget of 200.0 MiB on 1 rank"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tables total 339.9 MiB"), std::string::npos) << msg;
  EXPECT_NE(msg.find("largest is table 2 (1000000 rows, 61.0 MiB)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at least 2 ranks"), std::string::npos) << msg;
  o.world_size = 2;
  o.rank_memory_budget_bytes = int64_t{100} << 20;
  auto two = PlanTables(rows, o);
  ASSERT_EQ(two.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(two.status().message()).find("at least 4 ranks"), std::string::npos) << two.status();
  // 4 ranks would hold the bytes, but five 61 MiB tables do not go into four 100 MiB ranks.
  o.world_size = 4;
  auto four = PlanTables(rows, o);
  ASSERT_EQ(four.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(four.status().message()).find("found no fit"), std::string::npos) << four.status();
  o.world_size = 5;
  auto five = PlanTables(rows, o);
  ASSERT_TRUE(five.ok()) << five.status();
  EXPECT_LE(MaxRankBytes(*five), o.rank_memory_budget_bytes);
}

TEST(PlanTablesBudget, ATableLargerThanTheBudgetFitsOnNoNumberOfRanks) {
  PlannerOptions o = Opts(8, 100);
  o.rank_memory_budget_bytes = 1000 * 64;
  auto plan = PlanTables({50, 1001, 10}, o);
  ASSERT_EQ(plan.status().code(), absl::StatusCode::kResourceExhausted);
  const std::string msg(plan.status().message());
  EXPECT_NE(msg.find("largest is table 1 (1001 rows"), std::string::npos) << msg;
  EXPECT_NE(msg.find("no number of ranks fits it"), std::string::npos) << msg;
  o.rank_memory_budget_bytes = -1;
  EXPECT_EQ(PlanTables({50}, o).status().code(), absl::StatusCode::kInvalidArgument);
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
