#include "server/space/search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hpo::space {

const hpo::v1::Parameter* FindParameter(const hpo::v1::SearchSpace& space,
                                        absl::string_view name) {
  for (const hpo::v1::Parameter& p : space.parameters()) {
    if (p.name() == name) return &p;
  }
  return nullptr;
}

const hpo::v1::Conditional* FindConditional(const hpo::v1::SearchSpace& space,
                                            absl::string_view name) {
  for (const hpo::v1::Conditional& c : space.conditionals()) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

int ParameterIndex(const hpo::v1::SearchSpace& space, absl::string_view name) {
  for (int i = 0; i < space.parameters_size(); ++i) {
    if (space.parameters(i).name() == name) return i;
  }
  return -1;
}

std::optional<std::string> InactiveReason(const hpo::v1::Parameter& parameter,
                                          const hpo::v1::Assignment& assignment) {
  for (const hpo::v1::Condition& condition : parameter.conditions()) {
    auto it = assignment.values().find(condition.name());
    if (it == assignment.values().end() ||
        it->second.kind_case() != hpo::v1::ParameterValue::kStringValue) {
      return absl::StrCat("conditional ", condition.name(), " is not set");
    }
    const std::string& value = it->second.string_value();
    if (std::find(condition.values().begin(), condition.values().end(), value) ==
        condition.values().end()) {
      return absl::StrCat("conditional ", condition.name(), " is ", value);
    }
  }
  return std::nullopt;
}

bool IsActive(const hpo::v1::Parameter& parameter, const hpo::v1::Assignment& assignment) {
  return !InactiveReason(parameter, assignment).has_value();
}

std::optional<double> NumericValue(const hpo::v1::ParameterValue& value) {
  switch (value.kind_case()) {
    case hpo::v1::ParameterValue::kNumberValue:
      return value.number_value();
    case hpo::v1::ParameterValue::kIntValue:
      return static_cast<double>(value.int_value());
    default:
      return std::nullopt;
  }
}

std::string FormatDouble(double x) {
  std::string s = absl::StrFormat("%.15g", x);
  if (std::strtod(s.c_str(), nullptr) != x) s = absl::StrFormat("%.17g", x);
  return s;
}

std::string ValueToString(const hpo::v1::ParameterValue& value) {
  switch (value.kind_case()) {
    case hpo::v1::ParameterValue::kNumberValue:
      return FormatDouble(value.number_value());
    case hpo::v1::ParameterValue::kIntValue:
      return absl::StrCat(value.int_value());
    case hpo::v1::ParameterValue::kStringValue:
      return absl::StrCat("\"", value.string_value(), "\"");
    default:
      return "<unset>";
  }
}

namespace {

double Lhs(const hpo::v1::LinearConstraint& constraint, const hpo::v1::Assignment& assignment,
           double* abs_sum) {
  double sum = 0.0;
  *abs_sum = 0.0;
  for (const hpo::v1::LinearConstraintTerm& term : constraint.terms()) {
    auto it = assignment.values().find(term.name());
    if (it == assignment.values().end()) continue;
    std::optional<double> v = NumericValue(it->second);
    if (!v.has_value()) continue;
    sum += term.weight() * *v;
    *abs_sum += std::fabs(term.weight() * *v);
  }
  return sum;
}

}  // namespace

double ConstraintLhs(const hpo::v1::LinearConstraint& constraint,
                     const hpo::v1::Assignment& assignment) {
  double abs_sum;
  return Lhs(constraint, assignment, &abs_sum);
}

bool ConstraintHolds(const hpo::v1::LinearConstraint& constraint, double lhs, double abs_sum) {
  const double t = constraint.threshold();
  const double tol = kConstraintTolerance * std::max({1.0, std::fabs(t), abs_sum});
  if (std::isnan(lhs)) return false;
  switch (constraint.type()) {
    case hpo::v1::CONSTRAINT_TYPE_LESS_THAN:
      return lhs <= t + tol;
    case hpo::v1::CONSTRAINT_TYPE_GREATER_THAN:
      return lhs >= t - tol;
    default:
      return false;
  }
}

bool SatisfiesConstraint(const hpo::v1::LinearConstraint& constraint,
                         const hpo::v1::Assignment& assignment) {
  double abs_sum;
  const double lhs = Lhs(constraint, assignment, &abs_sum);
  return ConstraintHolds(constraint, lhs, abs_sum);
}

int FirstViolatedConstraint(const hpo::v1::SearchSpace& space,
                            const hpo::v1::Assignment& assignment) {
  for (int i = 0; i < space.linear_constraints_size(); ++i) {
    if (!SatisfiesConstraint(space.linear_constraints(i), assignment)) return i;
  }
  return -1;
}

}  // namespace hpo::space
