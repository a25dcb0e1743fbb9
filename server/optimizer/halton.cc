#include "server/optimizer/halton.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "server/space/rng.h"

namespace hpo::optimizer {

std::vector<int> ScrambledHalton::FirstPrimes(int count) {
  std::vector<int> primes;
  for (int candidate = 2; static_cast<int>(primes.size()) < count; ++candidate) {
    bool prime = true;
    for (int p : primes) {
      if (p * p > candidate) break;
      if (candidate % p == 0) {
        prime = false;
        break;
      }
    }
    if (prime) primes.push_back(candidate);
  }
  return primes;
}

ScrambledHalton::ScrambledHalton(int dimension, uint64_t seed)
    : bases_(FirstPrimes(std::max(0, dimension))) {
  permutations_.resize(bases_.size());
  for (size_t k = 0; k < bases_.size(); ++k) {
    const int base = bases_[k];
    // Enough levels that base^-levels is below double resolution.
    const int levels = static_cast<int>(std::ceil(53.0 / std::log2(static_cast<double>(base))));
    space::Rng rng(space::MixSeed({seed, 0x48414C544F4EULL /* "HALTON" */, k}));
    permutations_[k].resize(levels);
    for (std::vector<int>& perm : permutations_[k]) {
      perm.resize(base);
      std::iota(perm.begin(), perm.end(), 0);
      for (int i = base - 1; i > 0; --i) {  // Fisher-Yates with our own generator
        std::swap(perm[i], perm[rng.Below(static_cast<uint64_t>(i) + 1)]);
      }
    }
  }
}

std::vector<double> ScrambledHalton::Point(int64_t index) const {
  std::vector<double> point(bases_.size());
  const uint64_t n = static_cast<uint64_t>(std::max<int64_t>(0, index));
  for (size_t k = 0; k < bases_.size(); ++k) {
    const uint64_t base = static_cast<uint64_t>(bases_[k]);
    const double inv = 1.0 / static_cast<double>(base);
    double factor = inv;
    double x = 0.0;
    uint64_t m = n;
    for (const std::vector<int>& perm : permutations_[k]) {
      x += perm[m % base] * factor;
      m /= base;
      factor *= inv;
    }
    point[k] = std::min(x, std::nextafter(1.0, 0.0));
  }
  return point;
}

}  // namespace hpo::optimizer
