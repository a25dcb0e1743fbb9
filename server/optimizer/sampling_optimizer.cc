#include "server/optimizer/sampling_optimizer.h"

#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/space/feasibility.h"
#include "server/space/rng.h"
#include "server/space/search_space.h"
#include "server/space/validation.h"

namespace hpo::optimizer {

std::string AssignmentKey(const hpo::v1::Assignment& assignment) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : assignment.values()) {
    sorted[name] = space::ValueToString(value);
  }
  std::string key;
  for (const auto& [name, value] : sorted) absl::StrAppend(&key, name, "=", value, ";");
  return key;
}

SamplingOptimizer::SamplingOptimizer(const hpo::v1::Experiment& experiment, std::string source)
    : experiment_(experiment), codec_(experiment.search_space()), source_(std::move(source)) {}

absl::StatusOr<std::vector<Proposal>> SamplingOptimizer::Suggest(const History& history,
                                                                 int count) {
  if (count < 1) return absl::InvalidArgumentError(absl::StrCat("count must be >= 1 (got ", count, ")"));
  const hpo::v1::SearchSpace& space = experiment_.search_space();
  const bool constrained = space.linear_constraints_size() > 0;
  space::ConstraintFeasibility feasibility(space);
  bool feasibility_checked = false;

  std::set<std::string> seen;
  for (const hpo::v1::Assignment& a : history.pending) seen.insert(AssignmentKey(a));

  std::vector<Proposal> proposals;
  proposals.reserve(count);
  for (int i = 0; i < count; ++i) {
    const int64_t index = history.suggestion_count + i;
    if (index == 0) {
      bool any_default = false;
      for (const hpo::v1::Parameter& p : space.parameters()) {
        any_default = any_default || p.has_default_value();
      }
      if (any_default) {
        absl::StatusOr<hpo::v1::Assignment> defaults =
            space::CompleteAssignment(space, hpo::v1::Assignment(), "defaults");
        if (defaults.ok() && !seen.count(AssignmentKey(*defaults))) {
          seen.insert(AssignmentKey(*defaults));
          proposals.push_back(Proposal{*std::move(defaults), "default"});
          continue;
        }
      }
    }

    std::optional<hpo::v1::Assignment> accepted;
    std::optional<hpo::v1::Assignment> duplicate;  // first feasible but already-seen point
    int duplicates = 0;
    for (int attempt = 0; attempt < kMaxAttempts && !accepted.has_value(); ++attempt) {
      std::vector<double> u;
      if (attempt == 0) {
        u = SequencePoint(index);
      } else {
        space::Rng rng(space::MixSeed({seed(), static_cast<uint64_t>(index),
                                       static_cast<uint64_t>(attempt), 0x52455452ULL}));
        u.resize(codec_.dimension());
        for (double& x : u) x = rng.Uniform();
      }
      hpo::v1::Assignment a = codec_.Decode(u);
      if (constrained && space::FirstViolatedConstraint(space, a) >= 0) {
        if (attempt < kRejectionAttempts) continue;
        const uint64_t repair_seed = space::MixSeed(
            {seed(), static_cast<uint64_t>(index), static_cast<uint64_t>(attempt), 0x5245ULL});
        if (!feasibility.Repair(&a, repair_seed)) {
          // The drawn conditional values may admit no point: move to a known feasible branch.
          if (!feasibility_checked) {
            feasibility_checked = true;
            (void)feasibility.CheckFeasible();
          }
          if (!feasibility.feasible_conditionals().has_value()) continue;
          a = codec_.DecodeWithConditionals(u, *feasibility.feasible_conditionals());
          if (space::FirstViolatedConstraint(space, a) >= 0 && !feasibility.Repair(&a, repair_seed)) {
            continue;
          }
        }
      }
      if (seen.count(AssignmentKey(a))) {
        if (!duplicate.has_value()) duplicate = a;
        if (++duplicates <= kDistinctAttempts) continue;
        accepted = *std::move(duplicate);
        break;
      }
      accepted = std::move(a);
    }
    if (!accepted.has_value()) accepted = std::move(duplicate);
    if (!accepted.has_value()) {
      return absl::InternalError(absl::StrCat("could not find an assignment satisfying the linear "
                                              "constraints after ", kMaxAttempts, " attempts"));
    }
    seen.insert(AssignmentKey(*accepted));
    proposals.push_back(Proposal{*std::move(accepted), source_});
  }
  return proposals;
}

}  // namespace hpo::optimizer
