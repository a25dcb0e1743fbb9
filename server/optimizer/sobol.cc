#include "server/optimizer/sobol.h"

#include <algorithm>

#include "server/space/rng.h"

namespace hpo::optimizer {
namespace {

int Degree(uint64_t p) { return 63 - __builtin_clzll(p); }

// (a * b) mod p over GF(2); a, b of degree < deg(p) <= 31.
uint64_t MulMod(uint64_t a, uint64_t b, uint64_t p) {
  const int d = Degree(p);
  uint64_t result = 0;
  while (b != 0) {
    if (b & 1) result ^= a;
    b >>= 1;
    a <<= 1;
    if (a >> d & 1) a ^= p;
  }
  return result;
}

// x^e mod p.
uint64_t PowX(uint64_t e, uint64_t p) {
  uint64_t result = 1;
  uint64_t base = Degree(p) == 1 ? 1 : 2;  // x mod p (x mod (x + 1) = 1)
  while (e != 0) {
    if (e & 1) result = MulMod(result, base, p);
    base = MulMod(base, base, p);
    e >>= 1;
  }
  return result;
}

std::vector<uint64_t> PrimeFactors(uint64_t n) {
  std::vector<uint64_t> factors;
  for (uint64_t f = 2; f * f <= n; ++f) {
    if (n % f == 0) {
      factors.push_back(f);
      while (n % f == 0) n /= f;
    }
  }
  if (n > 1) factors.push_back(n);
  return factors;
}

// p (with constant term) is primitive iff x has order exactly 2^deg - 1 modulo p.
bool IsPrimitive(uint64_t p) {
  const int d = Degree(p);
  if ((p & 1) == 0) return false;
  const uint64_t order = (uint64_t{1} << d) - 1;
  if (PowX(order, p) != 1) return false;
  for (uint64_t q : PrimeFactors(order)) {
    if (PowX(order / q, p) == 1) return false;
  }
  return true;
}

}  // namespace

std::vector<uint32_t> SobolSequence::PrimitivePolynomials(int count) {
  std::vector<uint32_t> out;
  for (uint64_t p = 3; static_cast<int>(out.size()) < count; ++p) {
    if (IsPrimitive(p)) out.push_back(static_cast<uint32_t>(p));
  }
  return out;
}

SobolSequence::SobolSequence(int dimension, uint64_t shift_seed) {
  dimension = std::clamp(dimension, 1, kMaxDimension);
  const std::vector<uint32_t> polys = PrimitivePolynomials(dimension - 1);
  // Fixed generator: the sequence itself never depends on the experiment.
  space::Rng direction_rng(0x50b01'5eed'2026ULL);
  directions_.assign(dimension, std::vector<uint32_t>(kBits));
  for (int k = 0; k < kBits; ++k) directions_[0][k] = uint32_t{1} << (kBits - 1 - k);
  for (int j = 1; j < dimension; ++j) {
    const uint32_t poly = polys[j - 1];
    const int s = Degree(poly);
    std::vector<uint32_t>& v = directions_[j];
    for (int k = 0; k < std::min(s, kBits); ++k) {
      // m_{k+1}: odd, < 2^(k+1).
      const uint32_t m = static_cast<uint32_t>(direction_rng.Below(uint64_t{1} << k)) * 2 + 1;
      v[k] = m << (kBits - 1 - k);
    }
    for (int k = s; k < kBits; ++k) {
      uint32_t value = v[k - s] ^ (v[k - s] >> s);
      for (int i = 1; i < s; ++i) {
        if (poly >> (s - i) & 1) value ^= v[k - i];
      }
      v[k] = value;
    }
  }
  shifts_.assign(dimension, 0);
  if (shift_seed != 0) {
    space::Rng shift_rng(shift_seed);
    for (uint32_t& shift : shifts_) shift = static_cast<uint32_t>(shift_rng.Next() >> 32);
  }
}

std::vector<double> SobolSequence::Point(int64_t index) const {
  std::vector<double> point(directions_.size());
  const uint64_t n = static_cast<uint64_t>(index);
  for (size_t j = 0; j < directions_.size(); ++j) {
    uint32_t x = shifts_[j];
    for (int k = 0; k < kBits && (n >> k) != 0; ++k) {
      if (n >> k & 1) x ^= directions_[j][k];
    }
    point[j] = static_cast<double>(x) * (1.0 / 4294967296.0);
  }
  return point;
}

Sobol::Sobol(const hpo::v1::Experiment& experiment)
    : SamplingOptimizer(experiment, kName),
      sequence_(std::max(1, codec().dimension()), experiment.optimizer().seed()) {}

std::vector<double> Sobol::SequencePoint(int64_t index) const { return sequence_.Point(index); }

}  // namespace hpo::optimizer
