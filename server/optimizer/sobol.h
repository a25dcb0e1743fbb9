// File: server/optimizer/sobol.h
//
// The "sobol" optimizer: a digitally shifted Sobol sequence in the encoded unit cube.
//
// SobolSequence builds its direction numbers itself, so no table is embedded: dimension 0 is the
// van der Corput sequence; dimension j >= 1 uses the j-th primitive polynomial over GF(2)
// (enumerated in order of degree and value, tested for primitivity by the order of x) and
// initial direction numbers m_k (odd, < 2^k) drawn from a fixed generator, so the sequence is the
// same on every machine. Each experiment XORs every coordinate with a random 32-bit shift seeded
// by its seed (a digital shift keeps the (t, s)-net structure). Point n is a pure function of n.
#ifndef HPO_SERVER_OPTIMIZER_SOBOL_H_
#define HPO_SERVER_OPTIMIZER_SOBOL_H_

#include <cstdint>
#include <vector>

#include "server/optimizer/sampling_optimizer.h"

namespace hpo::optimizer {

class SobolSequence {
 public:
  static constexpr int kBits = 32;
  // Supports up to 1100 dimensions (primitive polynomials up to degree 13).
  static constexpr int kMaxDimension = 1100;

  // `dimension` in [1, kMaxDimension]; `shift_seed` 0 means no shift.
  SobolSequence(int dimension, uint64_t shift_seed);

  int dimension() const { return static_cast<int>(directions_.size()); }
  // Point `index` (>= 0) in [0, 1)^dimension.
  std::vector<double> Point(int64_t index) const;

  // The first `count` primitive polynomials over GF(2) of degree >= 1, as bit masks
  // (bit i = coefficient of x^i), ordered by degree then value. Exposed for tests.
  static std::vector<uint32_t> PrimitivePolynomials(int count);

 private:
  std::vector<std::vector<uint32_t>> directions_;  // [dimension][kBits]
  std::vector<uint32_t> shifts_;
};

class Sobol : public SamplingOptimizer {
 public:
  static constexpr char kName[] = "sobol";
  explicit Sobol(const hpo::v1::Experiment& experiment);

 protected:
  std::vector<double> SequencePoint(int64_t index) const override;

 private:
  SobolSequence sequence_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_SOBOL_H_
