// File: client/spec.h
//
// Experiment spec files: YAML (or JSON, which YAML 1.2 contains) turned into protos.
//
//   HPO_ASSIGN_OR_RETURN(hpo::v1::Experiment experiment, LoadExperimentSpec("dlrm.yaml"));
//
// The parser walks the message descriptor alongside the YAML tree (protobuf reflection), so a
// field added to the protos is accepted in spec files without code here. The mapping:
//
//   * fields by proto name (`observation_budget`) or JSON name (`observationBudget`);
//   * nested messages are mappings, repeated fields are lists, map fields are mappings;
//   * oneof members are written as their field (`prior: {normal: {mean: 0, scale: 1}}`);
//     giving two members of one oneof is an error;
//   * enums by full name (`PARAMETER_TYPE_DOUBLE`), by the part after the enum type's prefix,
//     case-insensitively (`double`, `log`, `maximize`, `less_than`, `less-than`), or by number;
//   * integers accept integral numbers written as `8000`, `8e3` or `"8000"`; doubles accept
//     `.inf`, `-.inf`, `.nan`; bools accept true/false/yes/no/on/off;
//   * `null` or an empty value leaves a field unset;
//   * google.protobuf.Timestamp / Duration accept their JSON strings ("2024-01-01T00:00:00Z",
//     "1.5s");
//   * a scalar where an hpo.v1.ParameterValue is expected (`default_value: 0.01`) becomes
//     number_value, int_value or string_value according to the sibling `type` field of the
//     enclosing message (double, int, categorical). Without such a sibling, a quoted scalar is a
//     string, an integer is int_value, another number is number_value, anything else a string.
//
// Everything unknown is an error. Errors are kInvalidArgument with the message
// `<source>:<line>: <path>: <reason>`, for example
//   spec.yaml:12: search_space.parameters[0].bounds.min: expected a number, got "abc"
// The spec is only parsed here, not validated: bounds, budgets and names are the server's to
// check (CreateExperiment answers kInvalidArgument naming the field).
#ifndef HPO_CLIENT_SPEC_H_
#define HPO_CLIENT_SPEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "hpo/v1/experiment.pb.h"

namespace hpo::client {

// Parses the YAML or JSON document `text` into `message`, which is cleared first.
// `source_name` (usually the file name) prefixes error messages.
// Returns kInvalidArgument on malformed YAML, an unknown field, a value of the wrong kind, or an
// empty document. On error `message` holds a partial result.
absl::Status ParseSpecInto(absl::string_view text, absl::string_view source_name,
                           google::protobuf::Message* message);

// Parses an hpo.v1.Experiment spec. Errors as ParseSpecInto.
absl::StatusOr<hpo::v1::Experiment> ParseExperimentSpec(absl::string_view text,
                                                        absl::string_view source_name = "spec");

// Reads the file at `path` and parses it with ParseExperimentSpec, naming the file in errors.
// Returns kNotFound if the file does not exist, kPermissionDenied or kUnavailable if it cannot
// be read, and the errors of ParseSpecInto.
absl::StatusOr<hpo::v1::Experiment> LoadExperimentSpec(const std::string& path);

}  // namespace hpo::client

#endif  // HPO_CLIENT_SPEC_H_
