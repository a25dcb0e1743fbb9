// File: tests/trainer/data/numbered_dataset.h
//
// A test dataset whose examples can be told apart in any batch.
#ifndef HPO_TESTS_TRAINER_DATA_NUMBERED_DATASET_H_
#define HPO_TESTS_TRAINER_DATA_NUMBERED_DATASET_H_

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "trainer/data/batch_loader.h"

namespace hpo::trainer {

// N examples (1 dense feature, 2 sparse) whose first dense value and first index are the
// example id; labels alternate 0, 1.
inline std::unique_ptr<Dataset> Numbered(int n) {
  RecordLayout layout;
  layout.num_dense = 1;
  layout.num_sparse = 2;
  std::vector<uint32_t> words(static_cast<size_t>(n * layout.words()));
  for (int i = 0; i < n; ++i) {
    Example e{static_cast<float>(i % 2), {static_cast<float>(i)}, {i, 0}, 0};
    EncodeRecord(layout, e, words.data() + i * layout.words());
  }
  return Dataset::FromMemory(layout, {n, 1}, std::move(words));
}

}  // namespace hpo::trainer

#endif  // HPO_TESTS_TRAINER_DATA_NUMBERED_DATASET_H_
