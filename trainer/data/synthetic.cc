#include "trainer/data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace hpo::trainer {
namespace {

uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
uint64_t Hash(uint64_t a, uint64_t b, uint64_t c = 0, uint64_t d = 0) {
  return Mix(Mix(Mix(Mix(a) ^ b) ^ c) ^ d);
}
double Uniform(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }
// Approximately standard normal from one hash: Irwin-Hall sum of four 16-bit uniforms
// (variance 4/12, rescaled). Cheap, deterministic, good enough for planted weights.
double Normalish(uint64_t h) {
  double s = 0.0;
  for (int i = 0; i < 4; ++i) s += static_cast<double>((h >> (16 * i)) & 0xFFFF) / 65535.0;
  return (s - 2.0) * std::sqrt(3.0);
}
uint64_t Gcd(uint64_t a, uint64_t b) { return b == 0 ? a : Gcd(b, a % b); }
// Inverse of a modulo n (gcd(a, n) = 1), by the extended Euclidean algorithm.
uint64_t ModInverse(uint64_t a, uint64_t n) {
  int64_t t = 0, new_t = 1;
  int64_t r = static_cast<int64_t>(n), new_r = static_cast<int64_t>(a);
  while (new_r != 0) {
    const int64_t q = r / new_r;
    std::tie(t, new_t) = std::make_pair(new_t, t - q * new_t);
    std::tie(r, new_r) = std::make_pair(new_r, r - q * new_r);
  }
  if (t < 0) t += static_cast<int64_t>(n);
  return static_cast<uint64_t>(t);
}

// Salts that keep the different planted quantities independent.
enum Salt : uint64_t { kRank = 1, kFirst, kLatent, kDense, kLabel, kTable, kPair };

}  // namespace

absl::StatusOr<SyntheticGenerator> SyntheticGenerator::Create(const SyntheticOptions& o) {
  if (o.table_sizes.empty()) return absl::InvalidArgumentError("synthetic data needs at least one table");
  for (int64_t s : o.table_sizes) {
    if (s < 1 || s > (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError(absl::StrCat("synthetic table size ", s, " out of range"));
    }
  }
  if (o.latent_dim < 1 || o.num_dense < 0) {
    return absl::InvalidArgumentError("synthetic data needs latent_dim >= 1 and num_dense >= 0");
  }
  if (!(o.click_rate > 0.0 && o.click_rate < 1.0) || !(o.logit_scale > 0.0)) {
    return absl::InvalidArgumentError("synthetic click_rate must be in (0, 1), logit_scale > 0");
  }
  SyntheticGenerator g(o);
  const int f_count = static_cast<int>(o.table_sizes.size());
  for (int f = 0; f < f_count; ++f) {
    const uint64_t n = static_cast<uint64_t>(o.table_sizes[static_cast<size_t>(f)]);
    // Rank r goes to row (r * a) mod n with gcd(a, n) = 1: a permutation, so frequent
    // categories are spread over the table as in hashed real data.
    uint64_t a = (Hash(o.seed, kTable, static_cast<uint64_t>(f)) % std::max<uint64_t>(n, 2)) | 1;
    while (n > 1 && Gcd(a, n) != 1) a += 2;
    g.multiplier_.push_back(n > 1 ? a % n : 0);
    g.inverse_.push_back(n > 1 ? ModInverse(a % n, n) : 0);
    // Like Criteo, a few features carry most of the signal.
    g.table_weight_.push_back(f % 4 == 0 ? 1.0 : (f % 4 == 1 ? 0.5 : 0.25));
  }
  for (int f = 0; f + 1 < f_count; f += 2) g.pairs_.push_back({f, f + 1});
  for (int f = 0; f + 3 < f_count; f += 4) g.pairs_.push_back({f, f + 3});
  g.dense_proj_.resize(static_cast<size_t>(o.latent_dim * o.num_dense));
  for (size_t i = 0; i < g.dense_proj_.size(); ++i) {
    g.dense_proj_[i] = Normalish(Hash(o.seed, kDense, i)) / std::sqrt(std::max(o.num_dense, 1));
  }
  // Calibrate: scale the raw logit to the requested spread, then bisect the bias so the
  // mean probability is the click rate. Uses a fixed sample, so it is deterministic.
  const int kSample = 20000;
  std::vector<double> raw(kSample);
  std::vector<float> dense(static_cast<size_t>(o.num_dense));
  std::vector<int32_t> sparse(static_cast<size_t>(f_count));
  for (int i = 0; i < kSample; ++i) {
    g.Features(-1 - i, dense.data(), sparse.data());
    raw[static_cast<size_t>(i)] = g.RawLogit(dense.data(), sparse.data());
  }
  const double mean = std::accumulate(raw.begin(), raw.end(), 0.0) / kSample;
  double var = 0.0;
  for (double r : raw) var += (r - mean) * (r - mean);
  const double sd = std::sqrt(var / kSample);
  g.scale_ = sd > 0 ? o.logit_scale / sd : 1.0;
  double lo = -20.0, hi = 20.0;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    double p = 0.0;
    for (double r : raw) p += 1.0 / (1.0 + std::exp(-(mid + g.scale_ * (r - mean))));
    if (p / kSample < o.click_rate) lo = mid; else hi = mid;
  }
  g.bias_ = 0.5 * (lo + hi) - g.scale_ * mean;
  return g;
}

RecordLayout SyntheticGenerator::layout() const {
  RecordLayout l;
  l.num_dense = options_.num_dense;
  l.num_sparse = static_cast<int>(options_.table_sizes.size());
  l.has_probability = true;
  return l;
}

void SyntheticGenerator::Features(int64_t index, float* dense, int32_t* sparse) const {
  const uint64_t seed = options_.seed, id = static_cast<uint64_t>(index);
  for (int j = 0; j < options_.num_dense; ++j) {
    // log(1 + count) with a heavy-tailed count, like Criteo's integer features.
    const double z = Normalish(Hash(seed, kDense + 100, id, static_cast<uint64_t>(j)));
    dense[j] = static_cast<float>(std::log1p(std::floor(std::exp(1.5 * z + 1.0))));
  }
  for (size_t f = 0; f < options_.table_sizes.size(); ++f) {
    const double n = static_cast<double>(options_.table_sizes[f]);
    // rank = floor((n+1)^u) - 1: P(rank = k) = log((k+2)/(k+1)) / log(n+1) ~ 1/(k+1).
    const double u = Uniform(Hash(seed, kRank, id, f));
    const uint64_t rank = std::min<uint64_t>(
        static_cast<uint64_t>(std::floor(std::pow(n + 1.0, u))) - 1, static_cast<uint64_t>(n) - 1);
    sparse[f] = static_cast<int32_t>((rank * multiplier_[f]) % static_cast<uint64_t>(n));
  }
}

double SyntheticGenerator::RawLogit(const float* dense, const int32_t* sparse) const {
  const int r = options_.latent_dim;
  const uint64_t seed = options_.seed;
  const size_t f_count = options_.table_sizes.size();
  // Effects are keyed by row and shrink with the row's frequency rank, (1 + rank/R)^-1:
  // frequent categories carry the signal, as in real logs, so the Bayes-optimal AUC is
  // reachable by a model that has seen each head category often enough.
  double logit = 0.0;
  double latent[64][16];  // up to 64 tables x 16 latent dims kept on the stack
  const bool small = f_count <= 64 && r <= 16;
  double strength[64];
  auto strength_of = [&](size_t f) {
    const uint64_t n = static_cast<uint64_t>(options_.table_sizes[f]);
    const uint64_t rank = (static_cast<uint64_t>(sparse[f]) * inverse_[f]) % n;
    return 1.0 / (1.0 + static_cast<double>(rank) / options_.effect_decay_rank);
  };
  auto latent_of = [&](size_t f, int k) {
    return strength_of(f) * Normalish(Hash(seed, kLatent, (static_cast<uint64_t>(f) << 32) | static_cast<uint32_t>(sparse[f]),
                          static_cast<uint64_t>(k)));
  };
  if (small) {
    for (size_t f = 0; f < f_count; ++f) {
      strength[f] = strength_of(f);
      for (int k = 0; k < r; ++k) latent[f][k] = latent_of(f, k);
    }
  }
  auto lat = [&](size_t f, int k) { return small ? latent[f][k] : latent_of(f, k); };
  for (size_t f = 0; f < f_count; ++f) {
    logit += table_weight_[f] * (small ? strength[f] : strength_of(f)) *
             Normalish(Hash(seed, kFirst, (static_cast<uint64_t>(f) << 32) | static_cast<uint32_t>(sparse[f])));
  }
  const double inv_r = 1.0 / std::sqrt(static_cast<double>(r));
  for (const auto& [a, b] : pairs_) {
    double dot = 0.0;
    for (int k = 0; k < r; ++k) dot += lat(static_cast<size_t>(a), k) * lat(static_cast<size_t>(b), k);
    logit += 0.7 * dot * inv_r;
  }
  // Dense features interact with the first table's latent factor and act linearly.
  for (int k = 0; k < r && options_.num_dense > 0; ++k) {
    double u = 0.0;
    for (int j = 0; j < options_.num_dense; ++j) {
      u += dense_proj_[static_cast<size_t>(k * options_.num_dense + j)] * (dense[j] - 1.0);
    }
    logit += 0.5 * u * lat(0, k) * inv_r + 0.3 * u * (k == 0 ? 1.0 : 0.0);
  }
  return logit;
}

double SyntheticGenerator::Probability(const float* dense, const int32_t* sparse) const {
  const double z = bias_ + scale_ * RawLogit(dense, sparse);
  return 1.0 / (1.0 + std::exp(-z));
}

void SyntheticGenerator::Generate(int64_t index, Example* e) const {
  e->dense.resize(static_cast<size_t>(options_.num_dense));
  e->sparse.resize(options_.table_sizes.size());
  Features(index, e->dense.data(), e->sparse.data());
  e->probability = static_cast<float>(Probability(e->dense.data(), e->sparse.data()));
  e->label = Uniform(Hash(options_.seed, kLabel, static_cast<uint64_t>(index))) < e->probability ? 1.0f : 0.0f;
}

std::vector<int64_t> CriteoKaggleTableSizes(double scale, int64_t max_rows) {
  static const int64_t kKaggle[26] = {1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3,
                                      93145, 5683, 8351593, 3194, 27, 14992, 5461306, 10, 5652,
                                      2173, 4, 7046547, 18, 15, 286181, 105, 142572};
  std::vector<int64_t> out;
  for (int64_t n : kKaggle) {
    const int64_t scaled = static_cast<int64_t>(std::llround(static_cast<double>(n) * scale));
    out.push_back(std::min(std::max<int64_t>(scaled, 3), max_rows));
  }
  return out;
}

void SyntheticGenerator::GenerateBatch(int64_t first, int64_t count, Batch* batch) const {
  const int nd = options_.num_dense;
  const int64_t ns = static_cast<int64_t>(options_.table_sizes.size());
  batch->size = count;
  batch->labels.resize(static_cast<size_t>(count));
  batch->probability.resize(static_cast<size_t>(count));
  batch->dense.resize(static_cast<size_t>(count * nd));
  batch->indices.resize(static_cast<size_t>(count * ns));
  Example e;
  for (int64_t b = 0; b < count; ++b) {
    Generate(first + b, &e);
    batch->labels[static_cast<size_t>(b)] = e.label;
    batch->probability[static_cast<size_t>(b)] = e.probability;
    std::copy(e.dense.begin(), e.dense.end(), batch->dense.begin() + b * nd);
    for (int64_t f = 0; f < ns; ++f) batch->indices[static_cast<size_t>(f * count + b)] = e.sparse[static_cast<size_t>(f)];
  }
}

}  // namespace hpo::trainer
