// File: server/space/search_space.h
//
// Read-only helpers over hpo.v1.SearchSpace and hpo.v1.Assignment: name lookup, the activity
// rule of conditional parameters, and evaluation of linear constraints on one assignment.
// Everything here is a pure function of protos; validation.h and the optimizers build on it.
// Thread-safe: no state.
#ifndef HPO_SERVER_SPACE_SEARCH_SPACE_H_
#define HPO_SERVER_SPACE_SEARCH_SPACE_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "hpo/v1/search_space.pb.h"

namespace hpo::space {

// Relative tolerance used when checking a linear constraint: a constraint
// `sum(w * x) <= t` holds if `sum(w * x) <= t + kConstraintTolerance * max(1, |t|, sum|w * x|)`
// (and symmetrically for >=).
inline constexpr double kConstraintTolerance = 1e-9;

// Returns the parameter named `name`, or nullptr. The pointer is owned by `space`.
const hpo::v1::Parameter* FindParameter(const hpo::v1::SearchSpace& space,
                                        absl::string_view name);

// Returns the conditional named `name`, or nullptr. The pointer is owned by `space`.
const hpo::v1::Conditional* FindConditional(const hpo::v1::SearchSpace& space,
                                            absl::string_view name);

// Returns the index of the parameter named `name` in space.parameters(), or -1.
int ParameterIndex(const hpo::v1::SearchSpace& space, absl::string_view name);

// True if every condition of `parameter` holds in `assignment`: the named conditional has a
// string value in the assignment that is one of the condition's values. A parameter without
// conditions is always active. A missing conditional makes the condition fail.
bool IsActive(const hpo::v1::Parameter& parameter, const hpo::v1::Assignment& assignment);

// If `parameter` is inactive under `assignment`, returns a human-readable reason such as
// "conditional optimizer is sgd" (or "conditional optimizer is not set"); otherwise nullopt.
std::optional<std::string> InactiveReason(const hpo::v1::Parameter& parameter,
                                          const hpo::v1::Assignment& assignment);

// The numeric value of `value`: number_value, or int_value as a double. nullopt for strings
// and for an unset value.
std::optional<double> NumericValue(const hpo::v1::ParameterValue& value);

// Shortest of %.15g / %.17g that reads back as `x` (0.3, not 0.29999999999999999).
std::string FormatDouble(double x);

// Renders a value for error messages: 0.5, 3, "adam", or <unset>.
std::string ValueToString(const hpo::v1::ParameterValue& value);

// sum(weight * value) over the constraint's terms. A term whose parameter is absent from the
// assignment (inactive) or has a non-numeric value contributes 0.
double ConstraintLhs(const hpo::v1::LinearConstraint& constraint,
                     const hpo::v1::Assignment& assignment);

// True if `lhs` satisfies `constraint` within kConstraintTolerance. `abs_sum` is
// sum(|weight * value|), used to scale the tolerance (pass 0 if unknown).
bool ConstraintHolds(const hpo::v1::LinearConstraint& constraint, double lhs, double abs_sum);

// True if `assignment` satisfies constraint `constraint` (inactive terms contribute 0).
bool SatisfiesConstraint(const hpo::v1::LinearConstraint& constraint,
                         const hpo::v1::Assignment& assignment);

// Returns the index of the first linear constraint of `space` that `assignment` violates,
// or -1 if all hold.
int FirstViolatedConstraint(const hpo::v1::SearchSpace& space,
                            const hpo::v1::Assignment& assignment);

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_SEARCH_SPACE_H_
