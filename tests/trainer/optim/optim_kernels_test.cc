#include "trainer/optim/optim_kernels.h"

#include <cmath>
#include <vector>

#include "gtest/gtest.h"

namespace hpo::trainer {
namespace {

TEST(LambUpdate, OneStepMatchesHandComputedValues) {
  // t = 1: m_hat = g, v_hat = g^2, so u = g / |g| = [1, -1]; r = ||w|| / ||u|| =
  // sqrt(5) / sqrt(2) = 1.5811388; w -= 0.1 * r * u.
  std::vector<float> w = {1.0f, 2.0f}, g = {0.5f, -1.0f}, m(2, 0.0f), v(2, 0.0f);
  LambHyper h;
  h.eps = 1e-6f;
  const float r = LambUpdate(absl::MakeSpan(w), g, absl::MakeSpan(m), absl::MakeSpan(v), 1, 0.1f, h);
  EXPECT_NEAR(r, 1.5811412, 1e-5);
  EXPECT_NEAR(w[0], 0.8418862, 1e-6);
  EXPECT_NEAR(w[1], 2.1581140, 1e-6);
  EXPECT_NEAR(m[0], 0.05, 1e-7);
  EXPECT_NEAR(v[1], 0.001, 1e-7);
}

TEST(LambUpdate, WeightDecayEntersTheUpdateAndTrustRatio) {
  // u = [1 + 0.1*1, -1 + 0.1*2] = [1.1, -0.8]; r = sqrt(5) / sqrt(1.85) = 1.6439925.
  std::vector<float> w = {1.0f, 2.0f}, g = {0.5f, -1.0f}, m(2, 0.0f), v(2, 0.0f);
  LambHyper h;
  h.eps = 1e-6f;
  h.weight_decay = 0.1f;
  const float r = LambUpdate(absl::MakeSpan(w), g, absl::MakeSpan(m), absl::MakeSpan(v), 1, 0.1f, h);
  EXPECT_NEAR(r, 1.6439925, 1e-5);
  EXPECT_NEAR(w[0], 0.81916115, 1e-6);
  EXPECT_NEAR(w[1], 2.13151924, 1e-6);
}

TEST(LambUpdate, ZeroWeightsUseTrustRatioOne) {
  std::vector<float> w = {0.0f, 0.0f}, g = {1.0f, 1.0f}, m(2, 0.0f), v(2, 0.0f);
  EXPECT_FLOAT_EQ(LambUpdate(absl::MakeSpan(w), g, absl::MakeSpan(m), absl::MakeSpan(v), 1, 0.5f, LambHyper{}), 1.0f);
  EXPECT_NEAR(w[0], -0.5f, 1e-5);
}

TEST(SplitSgdUpdate, OneStepMatchesHandComputedBits) {
  // w = 1 + 2^-10: bits 0x3F802000 -> BF16 upper 0x3F80 (1.0), lower 0x2000.
  const float w0 = 1.0f + std::ldexp(1.0f, -10);
  std::vector<uint16_t> upper = {UpperHalf(w0)}, lower = {LowerHalf(w0)};
  EXPECT_EQ(upper[0], 0x3F80);
  EXPECT_EQ(lower[0], 0x2000);
  EXPECT_EQ(Bf16ToFloat(upper[0]), 1.0f);
  // w - lr * g = 1 + 2^-10 - 2^-9 = 1 - 2^-10 = 0.9990234375: bits 0x3F7FC000.
  std::vector<float> g = {1.0f};
  SplitSgdUpdate(absl::MakeSpan(upper), absl::MakeSpan(lower), g, std::ldexp(1.0f, -9));
  EXPECT_EQ(upper[0], 0x3F7F);
  EXPECT_EQ(lower[0], 0xC000);
  EXPECT_EQ(CombineHalves(upper[0], lower[0]), 0.9990234375f);
  EXPECT_EQ(Bf16ToFloat(upper[0]), 0.99609375f);  // the weight the model computes with
}

TEST(SplitSgdUpdate, AccumulatesUpdatesBelowBf16Resolution) {
  // 100 steps of 1e-4 are each below half a BF16 ulp at 1.0 (2^-9): plain BF16 weights
  // would never move, the split master weight reaches 0.99.
  std::vector<float> w = {1.0f};
  std::vector<uint16_t> lower(1);
  SplitFloatWeights(absl::MakeSpan(w), absl::MakeSpan(lower));
  std::vector<float> g = {1.0f};
  for (int i = 0; i < 100; ++i) SplitSgdUpdateInFloat(absl::MakeSpan(w), absl::MakeSpan(lower), g, 1e-4f);
  EXPECT_NEAR(CombineHalves(UpperHalf(w[0]), lower[0]), 0.99f, 1e-5);
  EXPECT_NEAR(w[0], 0.99f, 0.004f);
  EXPECT_EQ(LowerHalf(w[0]), 0);  // the model's copy holds BF16 values only
}

TEST(AdagradUpdate, OneStepMatchesDefinition) {
  std::vector<float> w = {1.0f}, g = {2.0f}, acc = {0.0f};
  AdagradUpdate(absl::MakeSpan(w), g, absl::MakeSpan(acc), 0.1f, 0.0f);
  EXPECT_FLOAT_EQ(acc[0], 4.0f);
  EXPECT_FLOAT_EQ(w[0], 0.9f);  // 1 - 0.1 * 2 / 2
}

}  // namespace
}  // namespace hpo::trainer
