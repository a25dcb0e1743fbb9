#include "trainer/dlrm/interaction_arch.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace hpo::trainer {
namespace {

TEST(InteractionForward, HandComputedLowerTriangle) {
  // z0 = [1, 2], z1 = [3, 4], z2 = [5, 6]: z1.z0 = 11, z2.z0 = 17, z2.z1 = 39.
  const std::vector<float> dense = {1, 2}, sparse = {3, 4, 5, 6};
  ASSERT_EQ(InteractionPairs(2, false), 3);
  std::vector<float> out(5);
  InteractionForward<float>(dense.data(), sparse.data(), 0, 1, 2, 2, false, out.data());
  EXPECT_EQ(out, (std::vector<float>{1, 2, 11, 17, 39}));
}

TEST(InteractionForward, HandComputedWithSelfTerms) {
  const std::vector<double> dense = {1, 2}, sparse = {3, 4, 5, 6};
  ASSERT_EQ(InteractionPairs(2, true), 6);
  std::vector<double> out(8);
  InteractionForward<double>(dense.data(), sparse.data(), 0, 1, 2, 2, true, out.data());
  EXPECT_EQ(out, (std::vector<double>{1, 2, 5, 11, 25, 17, 39, 61}));
}

TEST(InteractionBackward, HandComputedSinglePair) {
  // Only d(z1.z0) = 1: grad z0 = pass-through [0.5, 0] + z1, grad z1 = z0, grad z2 = 0.
  const std::vector<float> dense = {1, 2}, sparse = {3, 4, 5, 6};
  const std::vector<float> grad_out = {0.5f, 0, 1, 0, 0};
  std::vector<float> gd(2), gs(4);
  InteractionBackward<float>(grad_out.data(), dense.data(), sparse.data(), 0, 1, 2, 2, false, gd.data(), gs.data());
  EXPECT_EQ(gd, (std::vector<float>{3.5f, 4}));
  EXPECT_EQ(gs, (std::vector<float>{1, 2, 0, 0}));
}

TEST(InteractionForward, Dim16PathMatchesNaiveOnCriteoShape) {
  const int64_t b = 3, f = 26, d = 16;
  std::mt19937 rng(3);
  std::normal_distribution<double> n;
  std::vector<double> dense(b * d), sparse(b * f * d);
  for (auto& x : dense) x = n(rng);
  for (auto& x : sparse) x = n(rng);
  const int64_t width = d + InteractionPairs(f, false);
  ASSERT_EQ(width, 367);
  std::vector<double> out(b * width);
  InteractionForward<double>(dense.data(), sparse.data(), 0, b, f, d, false, out.data());
  for (int64_t e = 0; e < b; ++e) {
    auto z = [&](int64_t i) { return i == 0 ? &dense[e * d] : &sparse[(e * f + i - 1) * d]; };
    int64_t k = d;
    for (int64_t i = 1; i <= f; ++i) {
      for (int64_t j = 0; j < i; ++j, ++k) {
        double dot = 0;
        for (int64_t c = 0; c < d; ++c) dot += z(i)[c] * z(j)[c];
        EXPECT_NEAR(out[e * width + k], dot, 1e-12);
      }
    }
  }
}

TEST(InteractionBackward, Dim16PathMatchesNaiveOnCriteoShapeWithAndWithoutSelf) {
  const int64_t b = 3, f = 26, d = 16;
  for (bool self : {false, true}) {
    std::mt19937 rng(5);
    std::normal_distribution<float> n;
    const int64_t width = d + InteractionPairs(f, self);
    std::vector<float> dense(b * d), sparse(b * f * d), g(b * width);
    for (auto& x : dense) x = n(rng);
    for (auto& x : sparse) x = n(rng);
    for (auto& x : g) x = n(rng);
    std::vector<float> gd(b * d), gs(b * f * d);
    InteractionBackward<float>(g.data(), dense.data(), sparse.data(), 0, b, f, d, self, gd.data(), gs.data());
    for (int64_t e = 0; e < b; ++e) {
      auto z = [&](int64_t i) { return i == 0 ? &dense[e * d] : &sparse[(e * f + i - 1) * d]; };
      std::vector<double> want((f + 1) * d, 0.0);
      for (int64_t c = 0; c < d; ++c) want[c] = g[e * width + c];
      int64_t k = d;
      for (int64_t i = 0; i <= f; ++i) {
        for (int64_t j = 0; j < (self ? i + 1 : i); ++j, ++k) {
          const double gv = g[e * width + k];
          for (int64_t c = 0; c < d; ++c) {
            want[i * d + c] += gv * z(j)[c];
            want[j * d + c] += gv * z(i)[c];
          }
        }
      }
      for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(gd[e * d + c], want[c], 1e-4);
      for (int64_t i = 1; i <= f; ++i) {
        for (int64_t c = 0; c < d; ++c) EXPECT_NEAR(gs[(e * f + i - 1) * d + c], want[i * d + c], 1e-4) << i;
      }
    }
  }
}

}  // namespace
}  // namespace hpo::trainer
