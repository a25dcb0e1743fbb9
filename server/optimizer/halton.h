// File: server/optimizer/halton.h
//
// A scrambled Halton sequence: a deterministic low-discrepancy sequence in [0, 1)^d. Dimension
// k uses the radical inverse in the k-th prime base; each digit level of each dimension has
// its own random permutation of the digits (Owen-style random digit permutation, as in
// SciPy's scrambled Halton), which removes the strong correlations of plain Halton between
// high-base dimensions. All digit levels needed for double precision are permuted, including
// the leading zeros of small indices, so even index 0 is a random point.
// The permutations depend only on (dimension, seed), so Point(n) is a pure function of n:
// callers continue the sequence across calls by passing increasing indices.
// Immutable after construction; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_HALTON_H_
#define HPO_SERVER_OPTIMIZER_HALTON_H_

#include <cstdint>
#include <vector>

namespace hpo::optimizer {

class ScrambledHalton {
 public:
  // `dimension` >= 0 coordinates; permutations drawn from `seed`.
  ScrambledHalton(int dimension, uint64_t seed);

  int dimension() const { return static_cast<int>(bases_.size()); }

  // The index-th point (index >= 0), each coordinate in [0, 1).
  std::vector<double> Point(int64_t index) const;

  // The first `count` primes (2, 3, 5, ...).
  static std::vector<int> FirstPrimes(int count);

 private:
  std::vector<int> bases_;
  // permutations_[k][level] is a permutation of {0, ..., bases_[k] - 1}.
  std::vector<std::vector<std::vector<int>>> permutations_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_HALTON_H_
