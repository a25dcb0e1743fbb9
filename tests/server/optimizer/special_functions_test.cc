#include "server/optimizer/special_functions.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hpo::optimizer {
namespace {

TEST(NormalQuantile, MatchesKnownValues) {
  EXPECT_NEAR(NormalQuantile(0.5), 0.0, 1e-14);
  EXPECT_NEAR(NormalQuantile(0.975), 1.959963984540054, 1e-12);
  EXPECT_NEAR(NormalQuantile(1e-10), -6.361340902404056, 1e-9);
  EXPECT_TRUE(std::isinf(NormalQuantile(0.0)));
}

TEST(NormalQuantile, InvertsCdf) {
  // Upper tail: Cdf(x) rounds towards 1 beyond x ~ 5, so only the lower tail is exact.
  for (double x = -8; x <= 5; x += 0.25) {
    EXPECT_NEAR(NormalQuantile(NormalCdf(x)), x, 1e-8 * std::max(1.0, std::fabs(x))) << x;
  }
}

TEST(RegularizedIncompleteBeta, MatchesClosedForms) {
  EXPECT_NEAR(RegularizedIncompleteBeta(2, 3, 0.5), 0.6875, 1e-13);
  for (double x = 0.05; x < 1; x += 0.1) {
    EXPECT_NEAR(RegularizedIncompleteBeta(2, 2, x), 3 * x * x - 2 * x * x * x, 1e-13);
    EXPECT_NEAR(RegularizedIncompleteBeta(1, 1, x), x, 1e-13);
    EXPECT_NEAR(RegularizedIncompleteBeta(5, 1, x), std::pow(x, 5), 1e-13);
  }
}

TEST(InverseRegularizedIncompleteBeta, InvertsForwardFunction) {
  const double shapes[][2] = {{0.5, 0.5}, {1, 1}, {2, 5}, {5, 1}, {50, 20}, {0.2, 3}};
  for (const auto& s : shapes) {
    for (double p = 0.01; p < 1; p += 0.07) {
      const double x = InverseRegularizedIncompleteBeta(s[0], s[1], p);
      EXPECT_NEAR(RegularizedIncompleteBeta(s[0], s[1], x), p, 1e-10) << s[0] << "," << s[1];
    }
  }
  EXPECT_NEAR(InverseRegularizedIncompleteBeta(5, 1, 0.5), std::pow(0.5, 0.2), 1e-12);
}

}  // namespace
}  // namespace hpo::optimizer
