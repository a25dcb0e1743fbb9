// File: trainer/distributed_data.h
//
// Data sharding for distributed training (plain C++, no LibTorch). Every rank computes
// the same global schedule as a single-process run (BatchLoader's epoch order, or the
// synthetic example stream) without reading any example, then reads only its own
// contiguous part of each global batch: rank r of W gets examples [n*r/W, n*(r+1)/W) of
// a global batch of n. Concatenating the ranks' parts in rank order gives exactly the
// single-process batch, which is what makes distributed results match single-process
// ones. From a memory-mapped file a rank therefore touches only the pages of its own
// examples.
#ifndef HPO_TRAINER_DISTRIBUTED_DATA_H_
#define HPO_TRAINER_DISTRIBUTED_DATA_H_

#include <cstdint>
#include <functional>

#include "trainer/data/batch_loader.h"
#include "trainer/data/dataset.h"
#include "trainer/data/synthetic.h"

namespace hpo::trainer {

// [begin, end) of rank `rank`'s part of a global batch of `n` examples.
struct ShardRange {
  int64_t begin = 0, end = 0;
  int64_t size() const { return end - begin; }
};
ShardRange ShardOf(int64_t n, int world_size, int rank);

// A BatchLoader generator yielding, for each global batch that
// BatchLoader(dataset, begin, end, options) would produce, rank `rank`'s part of it
// (possibly empty when a final partial batch has fewer examples than ranks).
std::function<bool(int64_t, Batch*)> ShardedDatasetBatches(const Dataset* dataset, int64_t begin, int64_t end,
                                                           const BatchLoader::Options& options, int world_size,
                                                           int rank);

// The same for the synthetic stream: global batch i is examples
// [base + i * batch_size, base + (i + 1) * batch_size) of `generator`.
std::function<bool(int64_t, Batch*)> ShardedSyntheticBatches(const SyntheticGenerator* generator, int64_t base,
                                                             int64_t batch_size, int world_size, int rank);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DISTRIBUTED_DATA_H_
