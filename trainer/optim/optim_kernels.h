// File: trainer/optim/optim_kernels.h
//
// Element-wise optimizer updates on raw float spans: SGD, Adagrad, LAMB and Intel-style
// split-SGD for BF16 weights. The LibTorch glue (trainer/optim/optimizers.cc) applies
// them to whole dense tensors and to the touched rows of embedding tables; keeping the
// arithmetic here makes it testable against hand-computed values without LibTorch.
// All functions are thread-compatible: callers partition the data between threads.
#ifndef HPO_TRAINER_OPTIM_OPTIM_KERNELS_H_
#define HPO_TRAINER_OPTIM_OPTIM_KERNELS_H_

#include <cstdint>
#include <cstring>

#include "absl/types/span.h"

namespace hpo::trainer {

// ---- BF16 as a storage format ----
// A BF16 value is the upper 16 bits of an FP32 value. Split-SGD keeps those upper
// halves as the weights the model computes with and the lower halves separately, so
// (upper << 16 | lower) is the exact FP32 master weight without a second copy.
inline uint32_t FloatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float BitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float Bf16ToFloat(uint16_t h) { return BitsFloat(static_cast<uint32_t>(h) << 16); }
inline uint16_t UpperHalf(float f) { return static_cast<uint16_t>(FloatBits(f) >> 16); }
inline uint16_t LowerHalf(float f) { return static_cast<uint16_t>(FloatBits(f) & 0xFFFFu); }
inline float CombineHalves(uint16_t upper, uint16_t lower) {
  return BitsFloat((static_cast<uint32_t>(upper) << 16) | lower);
}

// w -= lr * g.
void SgdUpdate(absl::Span<float> w, absl::Span<const float> g, float lr);

// Adagrad: acc += g^2; w -= lr * g / (sqrt(acc) + eps).
void AdagradUpdate(absl::Span<float> w, absl::Span<const float> g, absl::Span<float> acc,
                   float lr, float eps);

struct LambHyper {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-6f;
  float weight_decay = 0.0f;
};
// One LAMB step (You et al. 2019, as in NVIDIA's/Intel's DLRM), on one parameter tensor:
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   u = (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps) + wd * w
//   r = ||w|| / ||u||  (1 if either norm is 0)
//   w -= lr * r * u
// `t` is the 1-based step count. Returns the trust ratio r.
float LambUpdate(absl::Span<float> w, absl::Span<const float> g, absl::Span<float> m,
                 absl::Span<float> v, int64_t t, float lr, const LambHyper& hyper);

// Split-SGD on a weight stored as BF16 upper halves `upper` plus lower halves `lower`:
// the FP32 master value is rebuilt, updated with w -= lr * g in FP32, and split again.
void SplitSgdUpdate(absl::Span<uint16_t> upper, absl::Span<uint16_t> lower,
                    absl::Span<const float> g, float lr);

// The same for a weight whose BF16 values live in an FP32 container (the MLP weights on
// CPUs without BF16 arithmetic): `w` holds exactly representable BF16 values and is
// rewritten with the new upper halves.
void SplitSgdUpdateInFloat(absl::Span<float> w, absl::Span<uint16_t> lower,
                           absl::Span<const float> g, float lr);

// Truncates every value of `w` to BF16 (keeping the upper half) and stores the lower
// halves in `lower`, so that SplitSgdUpdateInFloat can start from an FP32 weight.
void SplitFloatWeights(absl::Span<float> w, absl::Span<uint16_t> lower);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_OPTIM_OPTIM_KERNELS_H_
