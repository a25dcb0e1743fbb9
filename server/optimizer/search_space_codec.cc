#include "server/optimizer/search_space_codec.h"

#include <algorithm>
#include <cmath>

#include "server/optimizer/special_functions.h"
#include "server/space/search_space.h"

namespace hpo::optimizer {

int CellIndex(double u, int n) {
  if (n <= 1 || !(u > 0)) return 0;
  const double cell = std::floor(u * n);
  return static_cast<int>(std::min<double>(cell, n - 1));
}

SearchSpaceCodec::SearchSpaceCodec(const hpo::v1::SearchSpace& space) : space_(space) {
  sorted_grids_.resize(space_.parameters_size());
  for (int i = 0; i < space_.parameters_size(); ++i) {
    const auto& grid = space_.parameters(i).grid();
    std::vector<double>& sorted = sorted_grids_[i];
    sorted.assign(grid.begin(), grid.end());
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
  }
}

SearchSpaceCodec::NumericScale SearchSpaceCodec::Scale(const hpo::v1::Parameter& p) const {
  NumericScale s;
  s.log = p.transformation() == hpo::v1::TRANSFORMATION_LOG;
  s.lo = s.log ? std::log10(p.bounds().min()) : p.bounds().min();
  s.hi = s.log ? std::log10(p.bounds().max()) : p.bounds().max();
  return s;
}

namespace {

// Truncated-normal quantile on [lo, hi] with mean m and standard deviation sd.
double TruncatedNormalQuantile(double u, double m, double sd, double lo, double hi) {
  const double pa = NormalCdf((lo - m) / sd);
  const double pb = NormalCdf((hi - m) / sd);
  const double p = pa + u * (pb - pa);
  const double z = m + sd * NormalQuantile(std::clamp(p, 1e-300, 1.0 - 1e-16));
  return std::clamp(z, lo, hi);
}

}  // namespace

hpo::v1::ParameterValue SearchSpaceCodec::DecodeParameter(int index, double u) const {
  const hpo::v1::Parameter& p = space_.parameters(index);
  hpo::v1::ParameterValue value;
  u = std::clamp(u, 0.0, 1.0);
  if (p.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL) {
    value.set_string_value(p.categorical_values(CellIndex(u, p.categorical_values_size())));
    return value;
  }
  const bool is_int = p.type() == hpo::v1::PARAMETER_TYPE_INT;
  const std::vector<double>& grid = sorted_grids_[index];
  if (!grid.empty()) {
    const double g = grid[CellIndex(u, static_cast<int>(grid.size()))];
    if (is_int) {
      value.set_int_value(std::llround(g));
    } else {
      value.set_number_value(g);
    }
    return value;
  }
  const double min = p.bounds().min(), max = p.bounds().max();
  if (is_int) {
    const int64_t lo = std::llround(min), hi = std::llround(max);
    int64_t k;
    if (p.transformation() == hpo::v1::TRANSFORMATION_LOG) {
      const double a = std::log(min - 0.5), b = std::log(max + 0.5);
      k = std::llround(std::exp(a + u * (b - a)));
    } else {
      k = lo + static_cast<int64_t>(std::floor(u * static_cast<double>(hi - lo + 1)));
    }
    value.set_int_value(std::clamp(k, lo, hi));
    return value;
  }
  const NumericScale s = Scale(p);
  double z;
  if (p.prior().has_normal()) {
    const double mean = s.log ? std::log10(p.prior().normal().mean()) : p.prior().normal().mean();
    z = TruncatedNormalQuantile(u, mean, p.prior().normal().scale(), s.lo, s.hi);
  } else if (p.prior().has_beta()) {
    const double v = InverseRegularizedIncompleteBeta(p.prior().beta().shape_a(),
                                                      p.prior().beta().shape_b(), u);
    z = s.lo + v * (s.hi - s.lo);
  } else {
    z = s.lo + u * (s.hi - s.lo);
  }
  const double x = s.log ? std::pow(10.0, z) : z;
  value.set_number_value(std::clamp(x, min, max));
  return value;
}

const std::string& SearchSpaceCodec::DecodeConditional(int index, double u) const {
  const hpo::v1::Conditional& c = space_.conditionals(index);
  return c.values(CellIndex(std::clamp(u, 0.0, 1.0), c.values_size()));
}

hpo::v1::Assignment SearchSpaceCodec::DecodeWithConditionals(
    absl::Span<const double> u, const hpo::v1::Assignment& conditionals) const {
  hpo::v1::Assignment out;
  auto& values = *out.mutable_values();
  for (int i = 0; i < space_.conditionals_size(); ++i) {
    const std::string& name = space_.conditionals(i).name();
    auto it = conditionals.values().find(name);
    if (it != conditionals.values().end()) {
      values[name] = it->second;
    } else {
      values[name].set_string_value(DecodeConditional(i, u[ConditionalCoordinate(i)]));
    }
  }
  for (int i = 0; i < space_.parameters_size(); ++i) {
    const hpo::v1::Parameter& p = space_.parameters(i);
    if (!space::IsActive(p, out)) continue;
    values[p.name()] = DecodeParameter(i, u[ParameterCoordinate(i)]);
  }
  return out;
}

hpo::v1::Assignment SearchSpaceCodec::Decode(absl::Span<const double> u) const {
  return DecodeWithConditionals(u, hpo::v1::Assignment());
}

double SearchSpaceCodec::EncodeParameter(int index, const hpo::v1::ParameterValue& value) const {
  const hpo::v1::Parameter& p = space_.parameters(index);
  auto cell_middle = [](int i, int n) { return (i + 0.5) / n; };
  if (p.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL) {
    const auto& values = p.categorical_values();
    const auto it = std::find(values.begin(), values.end(), value.string_value());
    if (it == values.end()) return 0.5;
    return cell_middle(static_cast<int>(it - values.begin()), values.size());
  }
  const std::optional<double> x = space::NumericValue(value);
  if (!x.has_value()) return 0.5;
  const std::vector<double>& grid = sorted_grids_[index];
  if (!grid.empty()) {
    int best = 0;
    for (size_t i = 1; i < grid.size(); ++i) {
      if (std::fabs(grid[i] - *x) < std::fabs(grid[best] - *x)) best = static_cast<int>(i);
    }
    return cell_middle(best, static_cast<int>(grid.size()));
  }
  const double min = p.bounds().min(), max = p.bounds().max();
  if (p.type() == hpo::v1::PARAMETER_TYPE_INT) {
    if (p.transformation() == hpo::v1::TRANSFORMATION_LOG) {
      const double a = std::log(min - 0.5), b = std::log(max + 0.5);
      return std::clamp((std::log(*x) - a) / (b - a), 0.0, 1.0);
    }
    return std::clamp((*x - min + 0.5) / (max - min + 1.0), 0.0, 1.0);
  }
  const NumericScale s = Scale(p);
  const double z = s.log ? std::log10(std::max(*x, min)) : *x;
  double u;
  if (p.prior().has_normal()) {
    const double mean = s.log ? std::log10(p.prior().normal().mean()) : p.prior().normal().mean();
    const double sd = p.prior().normal().scale();
    const double pa = NormalCdf((s.lo - mean) / sd), pb = NormalCdf((s.hi - mean) / sd);
    u = (NormalCdf((z - mean) / sd) - pa) / (pb - pa);
  } else if (p.prior().has_beta()) {
    u = RegularizedIncompleteBeta(p.prior().beta().shape_a(), p.prior().beta().shape_b(),
                                  (z - s.lo) / (s.hi - s.lo));
  } else {
    u = (z - s.lo) / (s.hi - s.lo);
  }
  return std::clamp(u, 0.0, 1.0);
}

std::vector<double> SearchSpaceCodec::Encode(const hpo::v1::Assignment& assignment) const {
  std::vector<double> u(dimension(), 0.5);
  for (int i = 0; i < space_.conditionals_size(); ++i) {
    const hpo::v1::Conditional& c = space_.conditionals(i);
    auto it = assignment.values().find(c.name());
    if (it == assignment.values().end()) continue;
    const auto pos = std::find(c.values().begin(), c.values().end(), it->second.string_value());
    if (pos == c.values().end()) continue;
    u[ConditionalCoordinate(i)] = (static_cast<int>(pos - c.values().begin()) + 0.5) / c.values_size();
  }
  for (int i = 0; i < space_.parameters_size(); ++i) {
    auto it = assignment.values().find(space_.parameters(i).name());
    if (it == assignment.values().end()) continue;
    u[ParameterCoordinate(i)] = EncodeParameter(i, it->second);
  }
  return u;
}

}  // namespace hpo::optimizer
