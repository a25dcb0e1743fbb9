#include "server/optimizer/acquisition.h"

#include <cmath>
#include <limits>

namespace hpo::optimizer {
namespace {

constexpr double kLogSqrt2Pi = 0.91893853320467274178;   // log(2 pi) / 2
constexpr double kLogSqrtPiOver2 = 0.22579135264472743236;  // log(pi / 2) / 2
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kInvSqrtPi = 0.56418958354775628695;

}  // namespace

double Erfcx(double x) {
  if (x < 0) {
    // erfcx(x) = 2 exp(x^2) - erfcx(-x).
    if (x < -26.6) return std::numeric_limits<double>::infinity();
    return 2.0 * std::exp(x * x) - Erfcx(-x);
  }
  if (x < 26.0) {
    // glibc's erfc keeps relative accuracy down to its underflow near x = 26.5.
    return std::exp(x * x) * std::erfc(x);
  }
  // Asymptotic series; the first omitted term is below 1e-22 relative here.
  const double inv2 = 1.0 / (x * x);
  const double series = 1.0 + inv2 * (-0.5 + inv2 * (0.75 + inv2 * (-1.875 + inv2 * 6.5625)));
  return kInvSqrtPi / x * series;
}

double Log1mExp(double a) {
  if (a > -0.6931471805599453) return std::log(-std::expm1(a));
  return std::log1p(-std::exp(a));
}

double LogNormalCdf(double z) {
  if (z >= 0) return std::log1p(-0.5 * std::erfc(z / kSqrt2));
  // Phi(z) = erfc(-z/sqrt2)/2 = erfcx(-z/sqrt2) exp(-z^2/2) / 2.
  return std::log(0.5 * Erfcx(-z / kSqrt2)) - 0.5 * z * z;
}

double LogNormalCdfDerivative(double z) {
  const double log_pdf = -0.5 * z * z - kLogSqrt2Pi;
  return std::exp(log_pdf - LogNormalCdf(z));
}

double LogH(double z, double* derivative) {
  double value;
  if (z > -1.0) {
    const double cdf = 0.5 * std::erfc(-z / kSqrt2);
    const double pdf = std::exp(-0.5 * z * z - kLogSqrt2Pi);
    const double h = pdf + z * cdf;
    value = std::log(h);
    if (derivative != nullptr) *derivative = cdf / h;
    return value;
  }
  static const double kAsymptotic = -1.0 / std::sqrt(std::numeric_limits<double>::epsilon());
  if (z > kAsymptotic) {
    value = -0.5 * z * z - kLogSqrt2Pi +
            Log1mExp(std::log(Erfcx(-z / kSqrt2) * std::fabs(z)) + kLogSqrtPiOver2);
  } else {
    value = -0.5 * z * z - kLogSqrt2Pi - 2.0 * std::log(std::fabs(z));
  }
  if (derivative != nullptr) {
    if (z > kAsymptotic) {
      *derivative = std::exp(LogNormalCdf(z) - value);
    } else {
      *derivative = -z - 2.0 / z;  // d/dz of the asymptotic form
    }
  }
  return value;
}

double LogExpectedImprovement(double mean, double sigma, double best, double* d_mean,
                              double* d_sigma) {
  const double z = (best - mean) / sigma;
  double dlogh = 0;
  const double value = LogH(z, &dlogh) + std::log(sigma);
  if (d_mean != nullptr) *d_mean = -dlogh / sigma;
  if (d_sigma != nullptr) *d_sigma = -dlogh * z / sigma + 1.0 / sigma;
  return value;
}

}  // namespace hpo::optimizer
