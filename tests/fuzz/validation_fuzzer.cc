// Fuzz target: the validation layer (server/space/validation.h) and, for what it accepts, the
// optimizers' promise that suggestions lie in the search space.
//
// Input: an hpo.fuzz.ValidationInput (hpo_fuzz/validation_input.proto) in protobuf text format
// (the seeds in corpus/validation are text), or, when the bytes are not valid text format, in
// binary wire format. Then:
//   * ValidateExperiment answers OK or INVALID_ARGUMENT ("<field>: <reason>"), nothing else;
//   * for a valid experiment, every assignment goes through ValidateAssignment and
//     CompleteAssignment (a complete valid assignment completes to itself, a completed one
//     validates), every observation through ValidateAssignment and ValidateObservationValues
//     (the accepted ones become the optimizer's history), every checkpoint through
//     ValidateCheckpoint;
//   * the experiment's optimizer (CreateOptimizer, as the service builds it) must exist and
//     Suggest(history, 1..4) must return that many proposals, each of which ValidateAssignment
//     accepts, with finite linear-constraint sums: "a validated space yields suggestions that
//     validate".
// Errors are expected outputs; crashes, sanitizer reports, timeouts and violations are bugs.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo_fuzz/validation_input.pb.h"
#include "server/optimizer/optimizer.h"
#include "server/space/search_space.h"
#include "server/space/validation.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using ::hpo::fuzz::ToText;

// HPO_FUZZ_VERBOSE=1 prints what happened to each input (for replaying one by hand).
bool verbose = false;

// Keeps one input's work bounded: the validators are linear, the optimizer is not.
constexpr int kMaxRequests = 8;

// OK or INVALID_ARGUMENT whose message starts with a field path.
void CheckVerdict(const absl::Status& status, const std::string& context) {
  if (status.ok()) return;
  HPO_FUZZ_CHECK(status.code() == absl::StatusCode::kInvalidArgument,
                 status.ToString() + "\n" + context);
  HPO_FUZZ_CHECK(absl::StrContains(status.message(), ": "), status.ToString() + "\n" + context);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  hpo::fuzz::SilenceProtobufLogs();
  verbose = std::getenv("HPO_FUZZ_VERBOSE") != nullptr;
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hpo::fuzz::ValidationInput input;
  if (!hpo::fuzz::ParseTextOrBinary(data, size, &input)) return 0;
  const hpo::v1::Experiment& experiment = input.experiment();

  const absl::Status valid = hpo::space::ValidateExperiment(experiment);
  CheckVerdict(valid, "ValidateExperiment");
  if (verbose) std::fprintf(stderr, "ValidateExperiment: %s\n", valid.ToString().c_str());
  if (!valid.ok()) return 0;
  const hpo::v1::SearchSpace& space = experiment.search_space();

  for (int i = 0; i < input.assignments_size() && i < kMaxRequests; ++i) {
    const hpo::v1::Assignment& assignment = input.assignments(i);
    const absl::Status status = hpo::space::ValidateAssignment(space, assignment, "assignment");
    CheckVerdict(status, "ValidateAssignment");
    absl::StatusOr<hpo::v1::Assignment> completed =
        hpo::space::CompleteAssignment(space, assignment, "assignment");
    CheckVerdict(completed.status(), "CompleteAssignment");
    if (status.ok()) {
      HPO_FUZZ_CHECK(completed.ok(), "a valid assignment does not complete: " +
                                         completed.status().ToString() + "\n" + ToText(assignment));
      std::string report;
      HPO_FUZZ_CHECK(hpo::fuzz::SameMessage(assignment, *completed, &report),
                     "completing a valid assignment changed it:\n" + report);
    }
    if (completed.ok()) {
      const absl::Status again = hpo::space::ValidateAssignment(space, *completed, "completed");
      HPO_FUZZ_CHECK(again.ok(), again.ToString() + "\n" + ToText(*completed));
    }
  }

  hpo::optimizer::History history;
  for (int i = 0; i < input.observations_size() && i < kMaxRequests; ++i) {
    const hpo::v1::Observation& observation = input.observations(i);
    const absl::Status assignment_ok =
        hpo::space::ValidateAssignment(space, observation.assignment(), "observation.assignment");
    CheckVerdict(assignment_ok, "ValidateAssignment (observation)");
    const absl::Status values_ok = hpo::space::ValidateObservationValues(
        experiment, observation.values(), observation.failed(), "observation.values");
    CheckVerdict(values_ok, "ValidateObservationValues");
    if (assignment_ok.ok() && values_ok.ok()) history.observations.push_back(observation);
  }
  for (int i = 0; i < input.checkpoints_size() && i < kMaxRequests; ++i) {
    CheckVerdict(hpo::space::ValidateCheckpoint(experiment, input.checkpoints(i), "checkpoint"),
                 "ValidateCheckpoint");
  }

  absl::StatusOr<std::unique_ptr<hpo::optimizer::Optimizer>> optimizer =
      hpo::optimizer::CreateOptimizer(experiment);
  HPO_FUZZ_CHECK(optimizer.ok(), "a validated experiment has no optimizer: " +
                                     optimizer.status().ToString());
  history.suggestion_count =
      static_cast<int64_t>(static_cast<uint64_t>(input.suggestion_count()) % (1 << 20));
  const int count = 1 + static_cast<int>(static_cast<uint32_t>(input.count()) % 4);
  absl::StatusOr<std::vector<hpo::optimizer::Proposal>> proposals =
      (*optimizer)->Suggest(history, count);
  // "grid" may run out of points: fewer than `count`, or none once the history has them all.
  const bool grid = experiment.optimizer().algorithm() == "grid";
  if (grid && !history.observations.empty() &&
      proposals.status().code() == absl::StatusCode::kFailedPrecondition) {
    return 0;
  }
  HPO_FUZZ_CHECK(proposals.ok(), absl::StrCat("Suggest(", count, ") on a validated experiment: ",
                                              proposals.status().ToString(), "\n",
                                              ToText(experiment)));
  HPO_FUZZ_CHECK(static_cast<int>(proposals->size()) == count ||
                     (grid && !proposals->empty() && static_cast<int>(proposals->size()) < count),
                 absl::StrCat("Suggest(", count, ") returned ", proposals->size(), " proposals"));
  for (const hpo::optimizer::Proposal& proposal : *proposals) {
    if (verbose) {
      std::fprintf(stderr, "proposal (%s): %s\n", proposal.source.c_str(),
                   proposal.assignment.ShortDebugString().c_str());
    }
    // Checked apart from ValidateAssignment, whose tolerance scales with the sum itself.
    for (const hpo::v1::LinearConstraint& constraint : space.linear_constraints()) {
      const double lhs = hpo::space::ConstraintLhs(constraint, proposal.assignment);
      HPO_FUZZ_CHECK(std::isfinite(lhs), absl::StrCat("a constraint's sum is ", lhs, " for ",
                                                      ToText(proposal.assignment)));
    }
    const absl::Status status =
        hpo::space::ValidateAssignment(space, proposal.assignment, "proposal");
    HPO_FUZZ_CHECK(status.ok(), absl::StrCat("a suggestion (source ", proposal.source,
                                             ") does not validate: ", status.ToString(), "\n",
                                             ToText(proposal.assignment), "\nexperiment:\n",
                                             ToText(experiment)));
  }
  return 0;
}
