// File: server/space/rng.h
//
// A small, fully specified pseudo-random generator (xoshiro256**, seeded through SplitMix64).
// The optimizers must be deterministic for a given experiment seed and history, across
// restarts and library upgrades; absl::BitGen and the std:: distributions do not promise a
// stable sequence, so every draw in hpo::space and hpo::optimizer goes through this class.
// Not thread-safe; cheap to construct.
#ifndef HPO_SERVER_SPACE_RNG_H_
#define HPO_SERVER_SPACE_RNG_H_

#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace hpo::space {

// One step of SplitMix64: advances `state` and returns a well-mixed 64-bit value.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Combines several integers (seed, index, attempt, ...) into one seed.
inline uint64_t MixSeed(std::initializer_list<uint64_t> parts) {
  uint64_t state = 0x243F6A8885A308D3ULL;
  uint64_t out = 0;
  for (uint64_t p : parts) {
    state ^= p;
    out = SplitMix64(state);
    state = out;
  }
  return out;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t state = seed;
    for (uint64_t& s : s_) s = SplitMix64(state);
  }

  // Uniform 64-bit value.
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform double in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform integer in [0, n), n >= 1, without modulo bias (rejection).
  uint64_t Below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
      x = Next();
    } while (x >= limit);
    return x % n;
  }

  // Standard normal draw (Box-Muller; one value per call for simplicity).
  double Gaussian() {
    double u1;
    do {
      u1 = Uniform();
    } while (u1 <= 0.0);
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_RNG_H_
