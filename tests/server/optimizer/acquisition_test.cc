#include "server/optimizer/acquisition.h"

#include <cmath>

#include "gtest/gtest.h"

namespace hpo::optimizer {
namespace {

double DirectEi(double mean, double sigma, double best) {
  const double z = (best - mean) / sigma;
  const double pdf = std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI);
  const double cdf = 0.5 * std::erfc(-z / std::sqrt(2.0));
  return sigma * (z * cdf + pdf);
}

TEST(Erfcx, MatchesDefinitionAndAsymptotics) {
  for (double x : {-3.0, -0.5, 0.0, 0.3, 1.0, 4.0, 10.0, 25.0}) {
    EXPECT_NEAR(Erfcx(x) / (std::exp(x * x) * std::erfc(x)), 1.0, 1e-12) << x;
  }
  for (double x : {30.0, 100.0, 1e6}) {
    EXPECT_NEAR(Erfcx(x) * x * std::sqrt(M_PI), 1.0, 1.0 / (x * x)) << x;
  }
}

TEST(LogExpectedImprovement, MatchesDirectFormulaWhereStable) {
  for (double mean : {-2.0, -0.5, 0.0, 0.4, 1.5, 3.0, 6.0}) {
    for (double sigma : {0.1, 0.7, 2.0}) {
      const double direct = DirectEi(mean, sigma, 0.2);
      if (direct < 1e-250) continue;  // underflow: covered by the test below
      EXPECT_NEAR(LogExpectedImprovement(mean, sigma, 0.2), std::log(direct),
                  1e-9 * std::max(1.0, std::fabs(std::log(direct))))
          << mean << " " << sigma;
    }
  }
}

TEST(LogExpectedImprovement, FiniteAndMonotoneFarFromIncumbent) {
  double previous = 0;
  for (double z = -1.0; z >= -1e10; z *= 3) {
    double d = 0;
    const double v = LogH(z, &d);
    EXPECT_TRUE(std::isfinite(v)) << z;
    EXPECT_TRUE(std::isfinite(d)) << z;
    EXPECT_GT(d, 0) << z;
    if (z < -1.0) {
      EXPECT_LT(v, previous) << z;
    }
    previous = v;
    // Leading asymptotics: log h(z) ~ -z^2/2 - log(sqrt(2 pi)) - 2 log|z|.
    if (z < -100) {
      EXPECT_NEAR(v, -0.5 * z * z - 0.5 * std::log(2 * M_PI) - 2 * std::log(-z),
                  1e-6 * std::fabs(v));
    }
  }
  // The direct formula underflows to log(0) = -inf at z = -40; LogH does not.
  EXPECT_EQ(std::log(DirectEi(40.0, 1.0, 0.0)), -INFINITY);
  EXPECT_TRUE(std::isfinite(LogExpectedImprovement(40.0, 1.0, 0.0)));
}

TEST(LogH, DerivativeMatchesFiniteDifferences) {
  for (double z : {3.0, 0.5, -0.9, -1.1, -5.0, -30.0, -1e4}) {
    double d = 0;
    LogH(z, &d);
    const double h = 1e-6 * std::max(1.0, std::fabs(z));
    const double fd = (LogH(z + h) - LogH(z - h)) / (2 * h);
    EXPECT_NEAR(d, fd, 1e-5 * std::max(1.0, std::fabs(fd))) << z;
  }
  // Continuity across the branch switch at z = -1.
  EXPECT_NEAR(LogH(-1.0 + 1e-12), LogH(-1.0 - 1e-12), 1e-9);
}

TEST(LogNormalCdf, StableAndAccurate) {
  for (double z : {-3.0, -0.1, 0.0, 2.0}) {
    EXPECT_NEAR(LogNormalCdf(z), std::log(0.5 * std::erfc(-z / std::sqrt(2.0))), 1e-12);
  }
  EXPECT_TRUE(std::isfinite(LogNormalCdf(-1e5)));
  EXPECT_NEAR(LogNormalCdfDerivative(-1e3), 1e3, 1.0);
  const double fd = (LogNormalCdf(-7.0 + 1e-6) - LogNormalCdf(-7.0 - 1e-6)) / 2e-6;
  EXPECT_NEAR(LogNormalCdfDerivative(-7.0), fd, 1e-5);
}

}  // namespace
}  // namespace hpo::optimizer
