#include "trainer/data/batch_loader.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "gtest/gtest.h"
#include "tests/trainer/data/numbered_dataset.h"

namespace hpo::trainer {
namespace {

TEST(BatchLoader, YieldsEveryExampleExactlyOncePerEpoch) {
  auto ds = Numbered(1000);
  BatchLoader::Options o;
  o.batch_size = 64;
  o.shuffle_buffer = 100;
  o.max_epochs = 2;
  o.seed = 5;
  BatchLoader loader(ds.get(), 0, 1000, o);
  std::vector<std::vector<int>> seen(2);
  int batches = 0;
  while (auto b = loader.Next()) {
    ASSERT_LT(b->epoch, 2);
    for (int64_t i = 0; i < b->size; ++i) {
      const int id = static_cast<int>(b->dense[static_cast<size_t>(i)]);
      EXPECT_EQ(b->indices[static_cast<size_t>(i)], id);  // table-major: table 0 first
      EXPECT_EQ(b->labels[static_cast<size_t>(i)], static_cast<float>(id % 2));
      seen[static_cast<size_t>(b->epoch)].push_back(id);
    }
    ++batches;
  }
  EXPECT_EQ(batches, 2 * 16);  // 15 full batches + a partial one of 40, per epoch
  std::vector<int> all(1000);
  std::iota(all.begin(), all.end(), 0);
  for (auto& epoch : seen) {
    std::vector<int> sorted = epoch;
    std::sort(sorted.begin(), sorted.end());
    EXPECT_EQ(sorted, all);
  }
  EXPECT_NE(seen[0], seen[1]);  // reshuffled
  EXPECT_NE(seen[0], all);      // shuffled at all
}

TEST(BatchLoader, DropsPartialBatchWhenAsked) {
  auto ds = Numbered(100);
  BatchLoader::Options o;
  o.batch_size = 30;
  o.keep_partial = false;
  BatchLoader loader(ds.get(), 10, 100, o);  // a sub-range: 90 examples
  int n = 0;
  while (auto b = loader.Next()) {
    EXPECT_EQ(b->size, 30);
    for (float x : b->dense) EXPECT_GE(x, 10.0f);
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(BatchLoader, EpochOrderIsDeterministicAndLocal) {
  auto a = BatchLoader::EpochOrder(0, 500, 50, 9, 0);
  EXPECT_EQ(a, BatchLoader::EpochOrder(0, 500, 50, 9, 0));
  EXPECT_NE(a, BatchLoader::EpochOrder(0, 500, 50, 10, 0));
  // With a buffer of 50, the k-th example out was read at most k + 49 into the range.
  for (size_t k = 0; k < a.size(); ++k) EXPECT_LT(a[k], static_cast<int64_t>(k) + 50);
  EXPECT_EQ(BatchLoader::EpochOrder(0, 5, 1, 9, 0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(BatchLoader, GeneratorLoaderStopsWhenTheGeneratorDoes) {
  BatchLoader loader(
      [](int64_t i, Batch* b) {
        b->size = i;
        return i < 5;
      },
      2);
  int64_t expect = 0;
  while (auto b = loader.Next()) EXPECT_EQ(b->size, expect++);
  EXPECT_EQ(expect, 5);
}

TEST(BatchLoader, DestructorStopsAnEndlessProducer) {
  BatchLoader loader([](int64_t, Batch* b) { b->size = 1; return true; }, 3);
  EXPECT_TRUE(loader.Next().has_value());
}

}  // namespace
}  // namespace hpo::trainer
