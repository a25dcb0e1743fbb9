// File: trainer/data/batch_loader.h
//
// `Batch`, the unit the training loop consumes, and `BatchLoader`, which assembles
// batches on a background thread (prefetch) from a `Dataset` range read in an order
// shuffled within a buffer (like tf.data's shuffle buffer: every example exactly once
// per epoch, memory independent of the dataset size, access mostly sequential so a
// memory-mapped file streams well), or from any generator function.
#ifndef HPO_TRAINER_DATA_BATCH_LOADER_H_
#define HPO_TRAINER_DATA_BATCH_LOADER_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "trainer/data/dataset.h"

namespace hpo::trainer {

// A batch of B examples with F categorical features, one row per table per example.
struct Batch {
  int64_t size = 0;                // B
  int64_t epoch = 0;               // epoch the examples come from (0-based)
  std::vector<float> labels;       // [B]
  std::vector<float> dense;        // [B, num_dense], row-major
  std::vector<int32_t> indices;    // [F, B], table-major: indices[f * B + b]
  std::vector<float> probability;  // [B] true click probabilities when known, else empty
};

// Copies examples `ids` of `dataset` into `batch` (resizing it).
void GatherBatch(const Dataset& dataset, const std::vector<int64_t>& ids, Batch* batch);

// Produces batches on a background thread. Next() is meant for one consumer thread; the
// destructor stops and joins the producer.
class BatchLoader {
 public:
  struct Options {
    int64_t batch_size = 2048;
    // Examples held in the shuffling buffer; 1 reads in file order.
    int64_t shuffle_buffer = 65536;
    // Number of passes over the range; 0 repeats forever.
    int64_t max_epochs = 1;
    // Keep the last, smaller batch of an epoch (true) or drop it.
    bool keep_partial = true;
    uint64_t seed = 0;
    int prefetch = 4;
  };

  // Reads examples [begin, end) of `dataset`, which must outlive the loader.
  BatchLoader(const Dataset* dataset, int64_t begin, int64_t end, const Options& options);
  // Calls `generate(batch_index, &batch)` for batch_index = 0, 1, ... until it returns
  // false. `generate` runs on the loader thread.
  BatchLoader(std::function<bool(int64_t, Batch*)> generate, int prefetch);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch, blocking until it is ready; nullopt once the data is exhausted.
  std::optional<Batch> Next();

  // The order in which an epoch visits [begin, end) through a shuffle buffer of `buffer`
  // examples; deterministic in (seed, epoch). Exposed for tests.
  static std::vector<int64_t> EpochOrder(int64_t begin, int64_t end, int64_t buffer,
                                         uint64_t seed, int64_t epoch);

 private:
  void Run(std::function<bool(int64_t, Batch*)> generate);

  const int prefetch_;
  absl::Mutex mu_;
  std::deque<Batch> queue_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;      // producer finished
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // consumer is going away
  std::thread thread_;
};

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DATA_BATCH_LOADER_H_
