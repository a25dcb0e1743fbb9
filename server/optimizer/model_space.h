// File: server/optimizer/model_space.h
//
// The feature encoding the Bayesian optimizer models in: a fixed-length vector in [0, 1]^F
// per assignment, whatever branch of the conditionals it lies in.
// Layout, in declaration order: for each conditional, a one-hot block over its values; for each
// parameter, either one coordinate (double, int, grid) or a one-hot block (categorical).
// - double: (t(v) - t(min)) / (t(max) - t(min)) with t = log10 for log transformation, else
//   the identity. Decoding is exact (clamped to the bounds).
// - int: the same on [min, max] (log10 scale if log); decoding rounds to the nearest integer.
//   Only exact integers are ever modelled: the optimizer moves int coordinates only through
//   Snap, so training and candidate points agree on rounding.
// - grid (double or int): the same between the smallest and largest grid value; decoding
//   takes the nearest grid value on that scale.
// - categorical: one-hot; decoding takes the largest coordinate. A categorical (or conditional)
//   with more than kMaxOneHotValues values instead gets a block of kCodeBits coordinates holding
//   a distinct non-zero binary code per value; decoding takes the nearest code. This keeps F at
//   most 16 per parameter or conditional (a space of 99 categoricals x 1000 values has 1584
//   features, not 99000), so the optimizer's matrices stay small whatever the cardinality; the
//   codes are nearly equidistant (8 of 16 bits differ on average), as one-hot vectors are.
// Conditionals (issue item 8): a parameter inactive in a point takes a fixed value (0.5 for a
// numeric coordinate, all zeros for a one-hot block). Two points of the same branch are thus
// compared on their active coordinates only, and the conditional's one-hot block acts as the
// per-active-set indicator (with its own ARD lengthscale) that separates branches; inactive
// values never vary, so they cannot explain variation of the objective.
// Linear constraints only involve non-log double/int parameters, whose values are affine in
// their coordinate, so constraints can be checked on features directly (SatisfiesConstraints).
// Immutable after construction; thread-safe.
#ifndef HPO_SERVER_OPTIMIZER_MODEL_SPACE_H_
#define HPO_SERVER_OPTIMIZER_MODEL_SPACE_H_

#include <cstdint>
#include <unordered_map>
#include <vector>

#include <Eigen/Dense>

#include "absl/types/span.h"
#include "hpo/v1/search_space.pb.h"
#include "server/space/rng.h"

namespace hpo::optimizer {

class ModelSpace {
 public:
  // Categoricals and conditionals with at most this many values are one-hot encoded.
  static constexpr int kMaxOneHotValues = 16;
  // Width of the binary code of a wider one.
  static constexpr int kCodeBits = 16;

  // `space` must be valid; it is copied.
  explicit ModelSpace(const hpo::v1::SearchSpace& space);

  const hpo::v1::SearchSpace& space() const { return space_; }

  // Number of features F.
  int dimension() const { return dimension_; }

  // Features of an assignment (missing or inactive values take the inactive encoding; values
  // outside the domain are clamped).
  Eigen::VectorXd Encode(const hpo::v1::Assignment& assignment) const;

  // The assignment of a feature vector: conditionals by largest one-hot coordinate, active
  // parameters rounded as in the file comment, inactive ones left out.
  hpo::v1::Assignment Decode(const Eigen::VectorXd& f) const;

  // Features of a point u of the codec's unit cube (search_space_codec.h layout: one coordinate
  // per conditional, then per parameter): conditionals and discrete values by equal cells,
  // doubles uniform on their (log) scale. Priors are ignored.
  Eigen::VectorXd FromUnit(absl::Span<const double> u) const;

  // Number of coordinates FromUnit expects.
  int unit_dimension() const { return space_.conditionals_size() + space_.parameters_size(); }

  // Features of f that may vary continuously (active double parameters without grid).
  std::vector<int> ContinuousFeatures(const Eigen::VectorXd& f) const;

  // A random neighbour of f: each active parameter is changed with probability `probability`
  // (doubles by a normal step of `sigma` in feature units, ints and grids by a step of `sigma`
  // snapped to a valid value, categoricals redrawn); each conditional is redrawn with
  // probability probability / 2, and parameters it activates get uniform values.
  Eigen::VectorXd Perturb(const Eigen::VectorXd& f, double sigma, double probability,
                          space::Rng* rng) const;

  // True if every linear constraint holds at f with a relative margin `margin` (inactive terms
  // contribute 0). A cheap pre-check: callers confirm on the decoded assignment.
  bool SatisfiesConstraints(const Eigen::VectorXd& f, double margin = 1e-9) const;

 private:
  // The features of a conditional or categorical parameter: one-hot over `values` values, or
  // (more than kMaxOneHotValues) a kCodeBits-bit code per value.
  struct Block {
    int offset = 0;
    int width = 0;
    int values = 0;
    std::vector<uint32_t> codes;                // empty when one-hot
    std::unordered_map<uint32_t, int> by_code;  // code -> value index
  };
  static Block MakeBlock(int offset, int values);
  // Index of the value a block encodes (the largest coordinate, or the nearest code).
  static int BlockValue(const Block& b, const Eigen::VectorXd& f);
  static void SetBlockValue(const Block& b, int index, Eigen::VectorXd* f);

  struct Param {
    int offset = 0;       // first feature
    int width = 1;        // 1, or the block's width
    bool categorical = false;
    Block block;          // categorical only
    bool is_int = false;
    bool log = false;
    double lo = 0, hi = 1;       // on the (log10) scale
    std::vector<double> grid;    // sorted, on the value scale; empty if none
    // Conditions: (conditional index, allowed value indices).
    std::vector<std::pair<int, std::vector<int>>> conditions;
  };
  using Cond = Block;
  std::vector<int> ConditionalValues(const Eigen::VectorXd& f) const;
  bool Active(const Param& p, const std::vector<int>& conditional_values) const;
  double ValueOf(const Param& p, double feature) const;  // numeric value (rounded / snapped)
  double FeatureOf(const Param& p, double value) const;
  void SetInactive(const Param& p, Eigen::VectorXd* f) const;
  void SetUniform(const Param& p, double u, Eigen::VectorXd* f) const;

  hpo::v1::SearchSpace space_;
  std::vector<Param> params_;
  std::vector<Cond> conds_;
  int dimension_ = 0;
  // Constraints: per constraint, (parameter index, weight) terms, threshold, is_less.
  struct Constraint {
    std::vector<std::pair<int, double>> terms;
    double threshold = 0;
    bool less = true;
  };
  std::vector<Constraint> constraints_;
};

}  // namespace hpo::optimizer

#endif  // HPO_SERVER_OPTIMIZER_MODEL_SPACE_H_
