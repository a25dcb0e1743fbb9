#include "server/optimizer/model_space.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/optimizer/search_space_codec.h"
#include "server/space/search_space.h"

namespace hpo::optimizer {

using hpo::v1::Assignment;
using hpo::v1::Parameter;
using hpo::v1::ParameterValue;

ModelSpace::Block ModelSpace::MakeBlock(int offset, int values) {
  Block b;
  b.offset = offset;
  b.values = values;
  if (values <= kMaxOneHotValues) {
    b.width = values;
    return b;
  }
  b.width = kCodeBits;
  for (int j = 0; j < values; ++j) {
    // An odd multiplier permutes the integers mod 2^16: distinct, non-zero (unlike an inactive
    // block), and scattered codes for neighbouring indices.
    const uint32_t code = (static_cast<uint32_t>(j + 1) * 0x9E3Bu) & 0xFFFFu;
    b.codes.push_back(code);
    b.by_code.emplace(code, j);
  }
  return b;
}

int ModelSpace::BlockValue(const Block& b, const Eigen::VectorXd& f) {
  if (b.codes.empty()) {
    Eigen::Index best;
    f.segment(b.offset, b.width).maxCoeff(&best);
    return static_cast<int>(best);
  }
  // Rounding every coordinate gives the nearest binary vector: if it is a code, it is the
  // nearest code. The optimizer only writes whole codes, so the scan below is rare.
  uint32_t bits = 0;
  for (int k = 0; k < b.width; ++k) {
    if (f[b.offset + k] >= 0.5) bits |= 1u << k;
  }
  auto it = b.by_code.find(bits);
  if (it != b.by_code.end()) return it->second;
  int best = 0;
  double best_d2 = std::numeric_limits<double>::infinity();
  for (int j = 0; j < b.values; ++j) {
    double d2 = 0;
    for (int k = 0; k < b.width; ++k) {
      const double bit = (b.codes[j] >> k) & 1u;
      d2 += (f[b.offset + k] - bit) * (f[b.offset + k] - bit);
    }
    if (d2 < best_d2) best_d2 = d2, best = j;
  }
  return best;
}

void ModelSpace::SetBlockValue(const Block& b, int index, Eigen::VectorXd* f) {
  if (b.codes.empty()) {
    f->segment(b.offset, b.width).setZero();
    (*f)[b.offset + index] = 1.0;
    return;
  }
  for (int k = 0; k < b.width; ++k) (*f)[b.offset + k] = (b.codes[index] >> k) & 1u;
}

ModelSpace::ModelSpace(const hpo::v1::SearchSpace& space) : space_(space) {
  int offset = 0;
  for (const hpo::v1::Conditional& c : space_.conditionals()) {
    conds_.push_back(MakeBlock(offset, c.values_size()));
    offset += conds_.back().width;
  }
  for (const Parameter& p : space_.parameters()) {
    Param m;
    m.offset = offset;
    m.categorical = p.type() == hpo::v1::PARAMETER_TYPE_CATEGORICAL;
    m.is_int = p.type() == hpo::v1::PARAMETER_TYPE_INT;
    m.log = p.transformation() == hpo::v1::TRANSFORMATION_LOG;
    if (m.categorical) {
      m.block = MakeBlock(offset, p.categorical_values_size());
      m.width = m.block.width;
    } else {
      double lo = p.bounds().min(), hi = p.bounds().max();
      if (p.grid_size() > 0) {
        m.grid.assign(p.grid().begin(), p.grid().end());
        std::sort(m.grid.begin(), m.grid.end());
        lo = m.grid.front();
        hi = m.grid.back();
      }
      if (m.log && lo > 0) {
        lo = std::log10(lo);
        hi = std::log10(hi);
      } else {
        m.log = false;
      }
      m.lo = lo;
      m.hi = hi;
    }
    for (const hpo::v1::Condition& c : p.conditions()) {
      std::pair<int, std::vector<int>> cond;
      for (int i = 0; i < space_.conditionals_size(); ++i) {
        if (space_.conditionals(i).name() == c.name()) cond.first = i;
      }
      const hpo::v1::Conditional& conditional = space_.conditionals(cond.first);
      for (const std::string& v : c.values()) {
        for (int j = 0; j < conditional.values_size(); ++j) {
          if (conditional.values(j) == v) cond.second.push_back(j);
        }
      }
      m.conditions.push_back(std::move(cond));
    }
    offset += m.width;
    params_.push_back(std::move(m));
  }
  dimension_ = offset;
  for (const hpo::v1::LinearConstraint& c : space_.linear_constraints()) {
    Constraint k;
    for (const hpo::v1::LinearConstraintTerm& t : c.terms()) {
      const int index = space::ParameterIndex(space_, t.name());
      if (index >= 0) k.terms.emplace_back(index, t.weight());
    }
    k.threshold = c.threshold();
    k.less = c.type() != hpo::v1::CONSTRAINT_TYPE_GREATER_THAN;
    constraints_.push_back(std::move(k));
  }
}

std::vector<int> ModelSpace::ConditionalValues(const Eigen::VectorXd& f) const {
  std::vector<int> values(conds_.size());
  for (size_t i = 0; i < conds_.size(); ++i) values[i] = BlockValue(conds_[i], f);
  return values;
}

bool ModelSpace::Active(const Param& p, const std::vector<int>& conditional_values) const {
  for (const auto& [cond, allowed] : p.conditions) {
    if (std::find(allowed.begin(), allowed.end(), conditional_values[cond]) == allowed.end()) {
      return false;
    }
  }
  return true;
}

double ModelSpace::ValueOf(const Param& p, double feature) const {
  const double t = p.lo + std::clamp(feature, 0.0, 1.0) * (p.hi - p.lo);
  double v = p.log ? std::pow(10.0, t) : t;
  if (!p.grid.empty()) {
    double best = p.grid.front();
    for (double g : p.grid) {
      const double dg = p.log ? std::fabs(std::log10(g) - t) : std::fabs(g - v);
      const double db = p.log ? std::fabs(std::log10(best) - t) : std::fabs(best - v);
      if (dg < db) best = g;
    }
    return best;
  }
  const double min = p.log ? std::pow(10.0, p.lo) : p.lo;
  const double max = p.log ? std::pow(10.0, p.hi) : p.hi;
  if (p.is_int) v = std::round(v);
  return std::clamp(v, p.is_int ? std::ceil(min - 1e-9) : min, p.is_int ? std::floor(max + 1e-9) : max);
}

double ModelSpace::FeatureOf(const Param& p, double value) const {
  if (p.hi <= p.lo) return 0.5;
  const double t = p.log ? std::log10(std::max(value, 1e-300)) : value;
  return std::clamp((t - p.lo) / (p.hi - p.lo), 0.0, 1.0);
}

void ModelSpace::SetInactive(const Param& p, Eigen::VectorXd* f) const {
  if (p.categorical) {
    f->segment(p.offset, p.width).setZero();
  } else {
    (*f)[p.offset] = 0.5;
  }
}

void ModelSpace::SetUniform(const Param& p, double u, Eigen::VectorXd* f) const {
  if (p.categorical) {
    SetBlockValue(p.block, CellIndex(u, p.block.values), f);
  } else if (!p.grid.empty()) {
    (*f)[p.offset] = FeatureOf(p, p.grid[CellIndex(u, static_cast<int>(p.grid.size()))]);
  } else if (p.is_int && !p.log) {
    const int n = static_cast<int>(std::llround(p.hi - p.lo)) + 1;
    (*f)[p.offset] = FeatureOf(p, p.lo + CellIndex(u, n));
  } else if (p.is_int) {
    // Uniform in log on [min - 0.5, max + 0.5], rounded (as the codec does).
    const double a = std::log10(std::pow(10.0, p.lo) - 0.5 > 0 ? std::pow(10.0, p.lo) - 0.5 : std::pow(10.0, p.lo));
    const double b = std::log10(std::pow(10.0, p.hi) + 0.5);
    (*f)[p.offset] = FeatureOf(p, ValueOf(p, FeatureOf(p, std::pow(10.0, a + u * (b - a)))));
  } else {
    (*f)[p.offset] = std::clamp(u, 0.0, 1.0);
  }
}

Eigen::VectorXd ModelSpace::Encode(const Assignment& assignment) const {
  Eigen::VectorXd f = Eigen::VectorXd::Zero(dimension_);
  for (int i = 0; i < space_.conditionals_size(); ++i) {
    const hpo::v1::Conditional& c = space_.conditionals(i);
    int index = 0;
    auto it = assignment.values().find(c.name());
    if (it != assignment.values().end()) {
      for (int j = 0; j < c.values_size(); ++j) {
        if (c.values(j) == it->second.string_value()) index = j;
      }
    }
    SetBlockValue(conds_[i], index, &f);
  }
  const std::vector<int> cv = ConditionalValues(f);
  for (int i = 0; i < space_.parameters_size(); ++i) {
    const Param& p = params_[i];
    const Parameter& proto = space_.parameters(i);
    auto it = assignment.values().find(proto.name());
    if (!Active(p, cv) || it == assignment.values().end()) {
      SetInactive(p, &f);
      continue;
    }
    if (p.categorical) {
      int index = 0;
      for (int j = 0; j < proto.categorical_values_size(); ++j) {
        if (proto.categorical_values(j) == it->second.string_value()) index = j;
      }
      SetBlockValue(p.block, index, &f);
    } else {
      const std::optional<double> v = space::NumericValue(it->second);
      f[p.offset] = v.has_value() ? FeatureOf(p, *v) : 0.5;
    }
  }
  return f;
}

Assignment ModelSpace::Decode(const Eigen::VectorXd& f) const {
  Assignment a;
  auto& values = *a.mutable_values();
  const std::vector<int> cv = ConditionalValues(f);
  for (int i = 0; i < space_.conditionals_size(); ++i) {
    values[space_.conditionals(i).name()].set_string_value(space_.conditionals(i).values(cv[i]));
  }
  for (int i = 0; i < space_.parameters_size(); ++i) {
    const Param& p = params_[i];
    const Parameter& proto = space_.parameters(i);
    if (!Active(p, cv)) continue;
    ParameterValue& v = values[proto.name()];
    if (p.categorical) {
      v.set_string_value(proto.categorical_values(BlockValue(p.block, f)));
    } else if (p.is_int) {
      v.set_int_value(static_cast<int64_t>(std::llround(ValueOf(p, f[p.offset]))));
    } else {
      v.set_number_value(ValueOf(p, f[p.offset]));
    }
  }
  return a;
}

Eigen::VectorXd ModelSpace::FromUnit(absl::Span<const double> u) const {
  Eigen::VectorXd f = Eigen::VectorXd::Zero(dimension_);
  for (size_t i = 0; i < conds_.size(); ++i) {
    SetBlockValue(conds_[i], CellIndex(u[i], conds_[i].values), &f);
  }
  const std::vector<int> cv = ConditionalValues(f);
  for (size_t i = 0; i < params_.size(); ++i) {
    if (Active(params_[i], cv)) {
      SetUniform(params_[i], u[conds_.size() + i], &f);
    } else {
      SetInactive(params_[i], &f);
    }
  }
  return f;
}

std::vector<int> ModelSpace::ContinuousFeatures(const Eigen::VectorXd& f) const {
  std::vector<int> out;
  const std::vector<int> cv = ConditionalValues(f);
  for (const Param& p : params_) {
    if (!p.categorical && !p.is_int && p.grid.empty() && p.hi > p.lo && Active(p, cv)) {
      out.push_back(p.offset);
    }
  }
  return out;
}

Eigen::VectorXd ModelSpace::Perturb(const Eigen::VectorXd& f, double sigma, double probability,
                                    space::Rng* rng) const {
  Eigen::VectorXd g = f;
  const std::vector<int> before = ConditionalValues(f);
  for (size_t i = 0; i < conds_.size(); ++i) {
    if (rng->Uniform() < probability / 2) {
      SetBlockValue(conds_[i], static_cast<int>(rng->Below(conds_[i].values)), &g);
    }
  }
  const std::vector<int> after = ConditionalValues(g);
  for (const Param& p : params_) {
    const bool was = Active(p, before), is = Active(p, after);
    if (!is) {
      SetInactive(p, &g);
      continue;
    }
    if (!was) {
      SetUniform(p, rng->Uniform(), &g);
      continue;
    }
    if (rng->Uniform() >= probability) continue;
    if (p.categorical) {
      SetUniform(p, rng->Uniform(), &g);
    } else {
      double x = g[p.offset] + sigma * rng->Gaussian();
      x = std::clamp(x, 0.0, 1.0);
      if (p.is_int || !p.grid.empty()) {
        double snapped = FeatureOf(p, ValueOf(p, x));
        if (snapped == g[p.offset]) {
          // Too small a step to reach a neighbour: move one value in the step's direction.
          const double v = ValueOf(p, g[p.offset]);
          if (!p.grid.empty()) {
            auto it = std::lower_bound(p.grid.begin(), p.grid.end(), v);
            int k = static_cast<int>(it - p.grid.begin());
            k = std::clamp(k + (x > g[p.offset] ? 1 : -1), 0, static_cast<int>(p.grid.size()) - 1);
            snapped = FeatureOf(p, p.grid[k]);
          } else {
            snapped = FeatureOf(p, ValueOf(p, FeatureOf(p, v + (x > g[p.offset] ? 1 : -1))));
          }
        }
        x = snapped;
      }
      g[p.offset] = x;
    }
  }
  return g;
}

bool ModelSpace::SatisfiesConstraints(const Eigen::VectorXd& f, double margin) const {
  if (constraints_.empty()) return true;
  const std::vector<int> cv = ConditionalValues(f);
  for (const Constraint& c : constraints_) {
    double lhs = 0;
    for (const auto& [index, weight] : c.terms) {
      const Param& p = params_[index];
      if (!Active(p, cv)) continue;
      lhs += weight * ValueOf(p, f[p.offset]);
    }
    const double slack = margin * std::max(1.0, std::fabs(c.threshold));
    if (c.less ? lhs > c.threshold - slack : lhs < c.threshold + slack) return false;
  }
  return true;
}

}  // namespace hpo::optimizer
