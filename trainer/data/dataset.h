// File: trainer/data/dataset.h
//
// Click-log examples as fixed-size records, the compact binary file that stores them,
// and `Dataset`, a read-only view of such records that is either memory-mapped from a
// file (the data is never copied into RAM; the kernel pages it in) or owned in memory
// (parsed TSV, tests).
//
// Binary format (little-endian, version 1), written by dlrm-datagen:
//   char[8]  magic "HPODLRM1"
//   uint32   version (1), num_dense, num_sparse, flags (bit 0: records carry the true
//            click probability, synthetic data only)
//   uint64   num_examples
//   uint64   table_sizes[num_sparse]
//   records  num_examples x { float label; float dense[num_dense] (already
//            log(1 + max(x, 0))); int32 sparse[num_sparse] (row in its table);
//            [float true_probability] }
#ifndef HPO_TRAINER_DATA_DATASET_H_
#define HPO_TRAINER_DATA_DATASET_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hpo::trainer {

inline constexpr char kBinaryMagic[8] = {'H', 'P', 'O', 'D', 'L', 'R', 'M', '1'};
inline constexpr uint32_t kBinaryVersion = 1;

// The shape of every record in a dataset.
struct RecordLayout {
  int num_dense = 13;
  int num_sparse = 26;
  bool has_probability = false;
  // Record size in 4-byte words.
  int words() const { return 1 + num_dense + num_sparse + (has_probability ? 1 : 0); }
  size_t bytes() const { return static_cast<size_t>(words()) * 4; }
};

// A decoded example, for writing and for tests.
struct Example {
  float label = 0.0f;
  std::vector<float> dense;
  std::vector<int32_t> sparse;
  float probability = 0.0f;  // written only if the layout has_probability
};

// Encodes `example` into `out` (layout.words() words). The example must match the layout.
void EncodeRecord(const RecordLayout& layout, const Example& example, uint32_t* out);

// Read-only records plus their metadata. Thread-safe for concurrent reads.
class Dataset {
 public:
  // Maps `path` (binary format). NotFound if it cannot be opened; DataLoss if the magic,
  // version or size is wrong (the message names the file).
  static absl::StatusOr<std::unique_ptr<Dataset>> OpenMapped(const std::string& path);
  // Wraps records already in memory (taken by value).
  static std::unique_ptr<Dataset> FromMemory(RecordLayout layout, std::vector<int64_t> table_sizes,
                                             std::vector<uint32_t> words);
  ~Dataset();
  Dataset(const Dataset&) = delete;
  Dataset& operator=(const Dataset&) = delete;

  const RecordLayout& layout() const { return layout_; }
  const std::vector<int64_t>& table_sizes() const { return table_sizes_; }
  int64_t size() const { return num_examples_; }
  const std::string& name() const { return name_; }
  // Record `i` (0 <= i < size()): layout().words() words.
  const uint32_t* record(int64_t i) const {
    return records_ + static_cast<size_t>(i) * static_cast<size_t>(layout_.words());
  }
  float label(int64_t i) const;
  const float* dense(int64_t i) const { return reinterpret_cast<const float*>(record(i) + 1); }
  const int32_t* sparse(int64_t i) const {
    return reinterpret_cast<const int32_t*>(record(i) + 1 + layout_.num_dense);
  }

 private:
  Dataset() = default;
  RecordLayout layout_;
  std::vector<int64_t> table_sizes_;
  int64_t num_examples_ = 0;
  std::string name_;
  const uint32_t* records_ = nullptr;
  std::vector<uint32_t> owned_;
  void* map_ = nullptr;
  size_t map_bytes_ = 0;
};

// Streams records into a binary file. Not thread-safe.
class BinaryWriter {
 public:
  static absl::StatusOr<std::unique_ptr<BinaryWriter>> Create(const std::string& path,
                                                              const RecordLayout& layout,
                                                              std::vector<int64_t> table_sizes);
  ~BinaryWriter();
  absl::Status Append(const Example& example);
  // Appends already-encoded records (layout().words() words each).
  absl::Status AppendEncoded(absl::Span<const uint32_t> words);
  // Writes the final example count into the header and closes the file. Must be called;
  // the destructor only closes.
  absl::Status Close();
  int64_t count() const { return count_; }

 private:
  BinaryWriter() = default;
  std::string path_;
  RecordLayout layout_;
  std::vector<int64_t> table_sizes_;
  std::FILE* file_ = nullptr;
  int64_t count_ = 0;
  std::vector<uint32_t> scratch_;
};

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DATA_DATASET_H_
