#include "trainer/distributed_data.h"

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

namespace hpo::trainer {

ShardRange ShardOf(int64_t n, int world_size, int rank) {
  ShardRange s;
  s.begin = n * rank / world_size;
  s.end = n * (rank + 1) / world_size;
  return s;
}

std::function<bool(int64_t, Batch*)> ShardedDatasetBatches(const Dataset* dataset, int64_t begin, int64_t end,
                                                           const BatchLoader::Options& o, int world_size, int rank) {
  // The same walk as BatchLoader's own generator (trainer/data/batch_loader.cc): the
  // epoch order is materialised lazily (8 bytes per example), no record is read.
  auto order = std::make_shared<std::pair<int64_t, std::vector<int64_t>>>(-1, std::vector<int64_t>());
  auto epoch_pos = std::make_shared<std::pair<int64_t, size_t>>(0, 0);
  return [=](int64_t, Batch* batch) -> bool {
    if (end <= begin) return false;
    auto& [epoch, pos] = *epoch_pos;
    for (;;) {
      if (o.max_epochs > 0 && epoch >= o.max_epochs) return false;
      if (order->first != epoch) {
        order->first = epoch;
        order->second = BatchLoader::EpochOrder(begin, end, o.shuffle_buffer, o.seed, epoch);
        pos = 0;
      }
      const size_t remaining = order->second.size() - pos;
      const size_t want = static_cast<size_t>(o.batch_size);
      if (remaining == 0 || (remaining < want && !o.keep_partial)) {
        ++epoch;
        continue;
      }
      const size_t take = std::min(remaining, want);
      const ShardRange s = ShardOf(static_cast<int64_t>(take), world_size, rank);
      std::vector<int64_t> ids(order->second.begin() + static_cast<std::ptrdiff_t>(pos + static_cast<size_t>(s.begin)),
                               order->second.begin() + static_cast<std::ptrdiff_t>(pos + static_cast<size_t>(s.end)));
      pos += take;
      GatherBatch(*dataset, ids, batch);
      batch->epoch = epoch;
      return true;
    }
  };
}

std::function<bool(int64_t, Batch*)> ShardedSyntheticBatches(const SyntheticGenerator* g, int64_t base,
                                                             int64_t batch_size, int world_size, int rank) {
  const ShardRange s = ShardOf(batch_size, world_size, rank);
  return [=](int64_t i, Batch* b) {
    g->GenerateBatch(base + i * batch_size + s.begin, s.size(), b);
    return true;
  };
}

}  // namespace hpo::trainer
