#include "trainer/optim/optim_kernels.h"

#include <cmath>

namespace hpo::trainer {

void SgdUpdate(absl::Span<float> w, absl::Span<const float> g, float lr) {
  for (size_t i = 0; i < w.size(); ++i) w[i] -= lr * g[i];
}

void AdagradUpdate(absl::Span<float> w, absl::Span<const float> g, absl::Span<float> acc,
                   float lr, float eps) {
  for (size_t i = 0; i < w.size(); ++i) {
    acc[i] += g[i] * g[i];
    w[i] -= lr * g[i] / (std::sqrt(acc[i]) + eps);
  }
}

float LambUpdate(absl::Span<float> w, absl::Span<const float> g, absl::Span<float> m,
                 absl::Span<float> v, int64_t t, float lr, const LambHyper& h) {
  const double c1 = 1.0 - std::pow(static_cast<double>(h.beta1), static_cast<double>(t));
  const double c2 = 1.0 - std::pow(static_cast<double>(h.beta2), static_cast<double>(t));
  // Two passes: the trust ratio needs ||u|| before any weight moves. The update u is
  // recomputed in the second pass rather than stored (it is cheap, memory is not).
  double w_norm2 = 0.0, u_norm2 = 0.0;
  for (size_t i = 0; i < w.size(); ++i) {
    m[i] = h.beta1 * m[i] + (1.0f - h.beta1) * g[i];
    v[i] = h.beta2 * v[i] + (1.0f - h.beta2) * g[i] * g[i];
    const double u = (m[i] / c1) / (std::sqrt(v[i] / c2) + h.eps) + h.weight_decay * w[i];
    w_norm2 += static_cast<double>(w[i]) * w[i];
    u_norm2 += u * u;
  }
  const double ratio =
      (w_norm2 > 0.0 && u_norm2 > 0.0) ? std::sqrt(w_norm2) / std::sqrt(u_norm2) : 1.0;
  const double step = static_cast<double>(lr) * ratio;
  for (size_t i = 0; i < w.size(); ++i) {
    const double u = (m[i] / c1) / (std::sqrt(v[i] / c2) + h.eps) + h.weight_decay * w[i];
    w[i] = static_cast<float>(w[i] - step * u);
  }
  return static_cast<float>(ratio);
}

void SplitSgdUpdate(absl::Span<uint16_t> upper, absl::Span<uint16_t> lower,
                    absl::Span<const float> g, float lr) {
  for (size_t i = 0; i < upper.size(); ++i) {
    const float w = CombineHalves(upper[i], lower[i]) - lr * g[i];
    upper[i] = UpperHalf(w);
    lower[i] = LowerHalf(w);
  }
}

void SplitSgdUpdateInFloat(absl::Span<float> w, absl::Span<uint16_t> lower,
                           absl::Span<const float> g, float lr) {
  for (size_t i = 0; i < w.size(); ++i) {
    const float master = CombineHalves(UpperHalf(w[i]), lower[i]) - lr * g[i];
    w[i] = Bf16ToFloat(UpperHalf(master));
    lower[i] = LowerHalf(master);
  }
}

void SplitFloatWeights(absl::Span<float> w, absl::Span<uint16_t> lower) {
  for (size_t i = 0; i < w.size(); ++i) {
    lower[i] = LowerHalf(w[i]);
    w[i] = Bf16ToFloat(UpperHalf(w[i]));
  }
}

}  // namespace hpo::trainer
