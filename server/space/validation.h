// File: server/space/validation.h
//
// Checks of user input against the SigOpt-like experiment model: the experiment spec at
// CreateExperiment, assignments (queued suggestions and observations reported with an
// assignment), observation values and learning-curve checkpoints.
//
// Every function returns OK or INVALID_ARGUMENT; the message starts with the path of the
// offending field and gives the reason, e.g.
//   "search_space.parameters[1] (learning_rate).bounds: min (0) must be > 0 with transformation log".
// Only the first problem found is reported. User text is quoted in messages by at most a short
// prefix (64 bytes, then "..." and the full length), so a refusal stays far below gRPC's 8 KB
// metadata limit whatever the input. Pure functions of their arguments; thread-safe.
//
// Defaults are NOT filled here (the service does that after validating): UNSPECIFIED enums
// mean the default (objective maximize, strategy optimize, transformation none, reduction
// latest), parallel_bandwidth 0 means 1, an empty project means "default", an empty
// optimizer.algorithm means "quasi_random".
#ifndef HPO_SERVER_SPACE_VALIDATION_H_
#define HPO_SERVER_SPACE_VALIDATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/map.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo/v1/search_space.pb.h"
#include "server/space/work_budget.h"

namespace hpo::space {

// Size limits enforced by ValidateExperiment. Together they keep every reply that carries an
// experiment (GetExperiment, LeaseTrial with its suggestion) under gRPC's default 4 MB receive
// limit; proto/hpo/v1/*.proto states them for clients.
inline constexpr size_t kMaxExperimentBytes = 1 << 20;  // the serialized spec
inline constexpr int kMaxParameters = 100;
inline constexpr int kMaxConditionals = 100;
inline constexpr int kMaxLinearConstraints = 100;
inline constexpr int kMaxCategoricalValues = 1000;  // per categorical parameter or conditional
inline constexpr int kMaxValueLength = 256;         // bytes of one categorical/conditional value
inline constexpr int kMaxGridValues = 1000;         // per parameter
inline constexpr int kMaxMetrics = 16;
inline constexpr int kMaxOptimizedMetrics = 2;
inline constexpr int kMaxMetadataEntries = 64;
inline constexpr int kMaxMetadataKeyLength = 128;
inline constexpr int kMaxMetadataValueLength = 4096;
inline constexpr int kMaxCheckpointMetrics = 64;
inline constexpr int kMaxNameLength = 128;  // characters of a name (all ASCII but experiments')
inline constexpr int kMaxTrainingOptions = 200;  // entries of each TrainingSpec map
// Observation.failure_reason: longer ones are cut (BoundFailureReason), not refused.
inline constexpr size_t kMaxFailureReasonLength = 4096;

// Algorithm names accepted by the one-argument ValidateExperiment. hpo::space sits below
// hpo::optimizer and cannot ask its registry, so this list mirrors
// hpo::optimizer::OptimizerNames(); tests/server/optimizer/optimizer_test.cc keeps them equal.
// Callers that know the registry should prefer the two-argument overload.
std::vector<std::string> DefaultAlgorithmNames();

// Validates a whole experiment as given to CreateExperiment (before defaults are filled):
// serialized size, name (a display name: valid UTF-8, 1 to kMaxNameLength characters, no
// control characters) and project ([A-Za-z][A-Za-z0-9_.-]*, at most kMaxNameLength), search
// space (see ValidateSearchSpace), metrics, observation_budget (> 0), parallel_bandwidth (>= 0),
// optimizer (algorithm empty or in `algorithm_names`, initial_design_size >= 0), training
// (parameter_mapping values name a parameter or conditional), pruner settings, metadata and
// the size limits above. Server-set fields (id, state, times, progress) are ignored.
// Returns INVALID_ARGUMENT naming the first offending field, or CANCELLED when `limits` says
// the caller went away during the feasibility search.
absl::Status ValidateExperiment(const hpo::v1::Experiment& experiment,
                                absl::Span<const std::string> algorithm_names,
                                const WorkLimits& limits = WorkLimits());

// Same, with DefaultAlgorithmNames().
absl::Status ValidateExperiment(const hpo::v1::Experiment& experiment);

// A map of at most `max_entries` entries, keys of 1 to `max_key` bytes, values of at most
// `max_value` bytes; otherwise INVALID_ARGUMENT naming `field` (and the key).
absl::Status ValidateStringMap(const google::protobuf::Map<std::string, std::string>& map,
                               absl::string_view field, size_t max_entries, size_t max_key,
                               size_t max_value);

// Metadata of an experiment, suggestion or observation: ValidateStringMap with
// kMaxMetadataEntries, kMaxMetadataKeyLength and kMaxMetadataValueLength.
absl::Status ValidateMetadata(const google::protobuf::Map<std::string, std::string>& metadata,
                              absl::string_view field);

// `reason` if at most kMaxFailureReasonLength bytes; else its beginning, cut at a UTF-8
// character boundary, and a marker with the original length, kMaxFailureReasonLength bytes in
// all. Workers send the tail of a program's output, so a long reason is kept, not refused.
std::string BoundFailureReason(std::string reason);

// Validates a search space; `field` prefixes the paths ("search_space"). Includes the check
// that the linear constraints admit at least one assignment (see feasibility.h for the
// treatment of conditional and integer/grid parameters), which runs within `limits`: a search
// that cannot decide within them is INVALID_ARGUMENT ("<field>.linear_constraints: feasibility
// could not be decided within the budget ..."), one whose caller went away CANCELLED.
absl::Status ValidateSearchSpace(const hpo::v1::SearchSpace& space, absl::string_view field,
                                 const WorkLimits& limits = WorkLimits());

// Checks that `value` is a legal value of `parameter`: the right kind (double ->
// number_value, finite; int -> int_value; categorical -> string_value) inside the domain
// (bounds, grid membership within a 1e-9 relative tolerance, categorical membership).
// `field` names the value in the message.
absl::Status ValidateParameterValue(const hpo::v1::Parameter& parameter,
                                    const hpo::v1::ParameterValue& value,
                                    absl::string_view field);

// Validates a full assignment against a (valid) search space: no unknown names; every
// conditional present with one of its values; every active parameter present with a legal
// value; every inactive parameter absent ("parameter x is inactive because conditional y is
// z"); every linear constraint satisfied. Messages name `field` and the key, e.g.
// "assignment.values[lr]: ...".
absl::Status ValidateAssignment(const hpo::v1::SearchSpace& space,
                                const hpo::v1::Assignment& assignment, absl::string_view field);

// For queued suggestions: fills missing conditionals with their first value and missing
// active parameters with their default_value, then runs ValidateAssignment. Returns
// INVALID_ARGUMENT if a needed parameter has no default_value, or if the result is invalid.
absl::StatusOr<hpo::v1::Assignment> CompleteAssignment(const hpo::v1::SearchSpace& space,
                                                       const hpo::v1::Assignment& partial,
                                                       absl::string_view field);

// Validates the metric values of an observation. If `failed`, `values` must be empty.
// Otherwise every optimize and constraint metric must be present, store metrics are optional,
// unknown and duplicate names are rejected, values must be finite, and stddev (if set) finite
// and >= 0. `field` is the path of the repeated field ("observation.values").
absl::Status ValidateObservationValues(
    const hpo::v1::Experiment& experiment,
    const google::protobuf::RepeatedPtrField<hpo::v1::MetricValue>& values, bool failed,
    absl::string_view field);

// Validates one learning-curve checkpoint: step >= 0, elapsed_seconds finite and >= 0, at
// least one metric and at most kMaxCheckpointMetrics, names of 1 to 128 characters (not only the
// experiment's metrics: curves also carry e.g. train_loss) and unique, values finite (NaN and infinities are
// rejected: a diverged trial should be reported as a failed observation), stddev finite >= 0.
// Whether the step increases is the caller's business (it needs the stored curve).
absl::Status ValidateCheckpoint(const hpo::v1::Experiment& experiment,
                                const hpo::v1::Checkpoint& checkpoint, absl::string_view field);

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_VALIDATION_H_
