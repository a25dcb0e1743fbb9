// File: trainer/data/synthetic.h
//
// A synthetic, Criteo-like click log with a planted ground truth, so that a run can be
// scored against the best achievable AUC:
//   - table sizes as imbalanced as Criteo's (callers pass e.g. the Kaggle cardinalities
//     scaled and capped), Zipf-like category frequencies (P(rank k) ~ 1/(k+1)) with a
//     per-table permutation of ranks onto rows;
//   - dense features shaped like log(1 + count);
//   - the click probability sigmoid(bias + first-order category effects + latent-factor
//     dot products between pairs of categories + interactions between the dense
//     features and categories), with effect sizes that shrink for rarer categories, and
//     the bias calibrated to a click rate near Criteo's 25%. Every term is a dot product
//     or a function of one embedding, so DLRM can represent it.
// Example i is a pure function of (seed, i): any split, any order, any thread.
#ifndef HPO_TRAINER_DATA_SYNTHETIC_H_
#define HPO_TRAINER_DATA_SYNTHETIC_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/data/batch_loader.h"
#include "trainer/data/dataset.h"

namespace hpo::trainer {

struct SyntheticOptions {
  std::vector<int64_t> table_sizes;  // one per categorical feature
  int num_dense = 13;
  int latent_dim = 8;                // rank of the planted interactions
  double logit_scale = 1.6;          // std of the planted logit before the bias
  double click_rate = 0.25;          // target mean click probability
  // Category effects shrink as (1 + rank / effect_decay_rank)^-1 with frequency rank.
  double effect_decay_rank = 1000.0;
  uint64_t seed = 1;
};

// Thread-safe after construction (all methods are const).
class SyntheticGenerator {
 public:
  // InvalidArgument if there are no tables, a size < 1 or > 2^31-1, or latent_dim < 1.
  static absl::StatusOr<SyntheticGenerator> Create(const SyntheticOptions& options);

  const SyntheticOptions& options() const { return options_; }
  RecordLayout layout() const;

  // Example `index`: label drawn from its true click probability.
  void Generate(int64_t index, Example* example) const;
  // Fills `batch` with examples first, first+1, ..., first+count-1.
  void GenerateBatch(int64_t first, int64_t count, Batch* batch) const;
  // The planted click probability of an example's features.
  double Probability(const float* dense, const int32_t* sparse) const;

  double bias() const { return bias_; }

 private:
  explicit SyntheticGenerator(const SyntheticOptions& options) : options_(options) {}
  double RawLogit(const float* dense, const int32_t* sparse) const;
  void Features(int64_t index, float* dense, int32_t* sparse) const;

  SyntheticOptions options_;
  std::vector<uint64_t> multiplier_;  // rank -> row permutation per table
  std::vector<uint64_t> inverse_;     // row -> rank
  std::vector<double> table_weight_;
  std::vector<std::pair<int, int>> pairs_;
  std::vector<double> dense_proj_;    // latent_dim x num_dense
  double scale_ = 1.0;
  double bias_ = 0.0;
};

// The Criteo Kaggle cardinalities scaled by `scale` (at least 3 rows, the smallest
// Criteo table) and capped at `max_rows` (also declared in trainer/train.h).
std::vector<int64_t> CriteoKaggleTableSizes(double scale, int64_t max_rows);

// Index of the first test example: training uses [0, kSyntheticTestOffset), the test
// split [kSyntheticTestOffset, ...), so the two never overlap.
inline constexpr int64_t kSyntheticTestOffset = int64_t{1} << 40;

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DATA_SYNTHETIC_H_
