// File: server/optimizer/search_space_codec.h
//
// The shared encoding between points of the unit cube [0, 1)^d and assignments, used by every
// sampling optimizer. Coordinates are laid out as: one per conditional (in declaration order),
// then one per parameter (in declaration order), whether or not the parameter is active, so
// the dimension is fixed and a point's meaning does not depend on the branch it lands in.
//
// How a coordinate u becomes a value:
// - double: uniform between the bounds on the parameter's scale (log10 scale with
//   transformation log). With a normal prior: the inverse CDF of the normal truncated to the
//   bounds (with log, the mean is given in parameter units and the scale in decades). With a
//   beta prior: the Beta(a, b) quantile, on the bounds mapped to [0, 1] after the log.
// - int (linear): min + floor(u * (max - min + 1)), so each integer gets equal mass.
// - int (log): uniform in log on [min - 0.5, max + 0.5], rounded and clamped.
// - grid (double or int): the floor(u * n)-th of the n sorted grid values.
// - categorical and conditional: the floor(u * n)-th value in declaration order.
// Results are always inside the domain (clamped against rounding).
// Immutable after construction; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_SEARCH_SPACE_CODEC_H_
#define HPO_SERVER_OPTIMIZER_SEARCH_SPACE_CODEC_H_

#include <string>
#include <vector>

#include "absl/types/span.h"
#include "hpo/v1/search_space.pb.h"

namespace hpo::optimizer {

class SearchSpaceCodec {
 public:
  // `space` must be valid (space::ValidateSearchSpace); it is copied.
  explicit SearchSpaceCodec(const hpo::v1::SearchSpace& space);

  const hpo::v1::SearchSpace& space() const { return space_; }

  // Number of coordinates: conditionals + parameters.
  int dimension() const { return space_.conditionals_size() + space_.parameters_size(); }

  // Coordinate of conditional i / parameter i.
  int ConditionalCoordinate(int i) const { return i; }
  int ParameterCoordinate(int i) const { return space_.conditionals_size() + i; }

  // Decodes a point (size dimension(), coordinates in [0, 1]) into an assignment: every
  // conditional, then every parameter active under those conditional values. Inactive
  // parameters are left out.
  hpo::v1::Assignment Decode(absl::Span<const double> u) const;

  // Same, but the conditionals present in `conditionals` take those values instead of the
  // ones the point encodes.
  hpo::v1::Assignment DecodeWithConditionals(absl::Span<const double> u,
                                             const hpo::v1::Assignment& conditionals) const;

  // The value of parameter `index` at coordinate u.
  hpo::v1::ParameterValue DecodeParameter(int index, double u) const;

  // The value of conditional `index` at coordinate u.
  const std::string& DecodeConditional(int index, double u) const;

  // Approximate inverse of Decode: the coordinate whose decoded value is `value` (for
  // discrete values, the middle of its cell). Missing or inactive entries encode as 0.5.
  std::vector<double> Encode(const hpo::v1::Assignment& assignment) const;

  // Coordinate of one parameter value (see Encode).
  double EncodeParameter(int index, const hpo::v1::ParameterValue& value) const;

 private:
  struct NumericScale {
    bool log = false;
    double lo = 0, hi = 1;  // bounds on the search scale (log10 if log)
  };
  NumericScale Scale(const hpo::v1::Parameter& p) const;

  hpo::v1::SearchSpace space_;
  std::vector<std::vector<double>> sorted_grids_;  // per parameter; empty when no grid
};

// Index of the cell of u among n equal cells: floor(u * n) clamped to [0, n - 1].
int CellIndex(double u, int n);

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_SEARCH_SPACE_CODEC_H_
