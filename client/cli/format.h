// File: client/cli/format.h
//
// Output formatting for hpo-cli: aligned text tables, RFC 4180 CSV, protobuf JSON, and the
// tables built from experiments, suggestions, observations and checkpoints.
//
// Pure functions over protos: no I/O, no gRPC, so every format is unit-tested.
#ifndef HPO_CLIENT_CLI_FORMAT_H_
#define HPO_CLIENT_CLI_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo/v1/search_space.pb.h"

namespace hpo::cli {

// A rectangular table of already formatted cells. Rows shorter than the header are padded with
// empty cells when rendered.
struct Table {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
};

// Renders `table` with columns left-aligned and separated by two spaces; lines end in '\n' and
// carry no trailing spaces. Widths count UTF-8 code points, so "±" takes one column.
std::string RenderTable(const Table& table);

// Renders `table` as RFC 4180 CSV: header line first, CRLF line ends, and a field quoted (with
// inner quotes doubled) when it holds a comma, a double quote, CR or LF. A field that starts
// with = + - @ tab or CR and is not a number gets a leading ' so that spreadsheets do not run
// it as a formula.
std::string RenderCsv(const Table& table);

// One CSV field, quoted only when needed (see RenderCsv).
std::string CsvField(absl::string_view text);

// Protobuf JSON of `message` with proto field names (snake_case), enums by full name, fields
// at their default values included, indented (protobuf's layout), and a final newline. int64
// values are strings, as proto3 JSON requires.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// The shortest decimal that reads back as the same double ("0.1", "1e-05", "30", "nan", "inf").
std::string FormatDouble(double value);

// A value as typed on the command line: number_value with FormatDouble, int_value in decimal,
// string_value as is; "" when unset.
std::string FormatParameterValue(const hpo::v1::ParameterValue& value);

// "2024-05-01 13:45:07" in UTC, or "-" for an unset (zero) timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);

// The lowercase name without the enum type's prefix: EXPERIMENT_STATE_ACTIVE -> "active".
std::string ShortEnumName(const google::protobuf::EnumDescriptor* type, int number);

// Names of assignment columns: conditionals first, then parameters, in the order of the search
// space.
std::vector<std::string> AssignmentColumns(const hpo::v1::SearchSpace& space);

// Metrics whose strategy is OPTIMIZE (or unspecified, which means OPTIMIZE).
std::vector<const hpo::v1::Metric*> OptimizedMetrics(const hpo::v1::Experiment& experiment);

// The BEST column of `list`: "-" without a best observation; the first optimized metric's
// value for one best observation; "<n> pareto" for a Pareto set of several.
std::string BestSummary(const hpo::v1::Experiment& experiment,
                        const std::vector<hpo::v1::Observation>& best);

// `list`: ID NAME PROJECT STATE OBSERVATIONS/BUDGET OPEN BEST CREATED. `best_by_id` maps an
// experiment id to its BEST cell; missing ids show "-".
Table ExperimentListTable(const std::vector<hpo::v1::Experiment>& experiments,
                          const absl::flat_hash_map<int64_t, std::string>& best_by_id);

// `observations` and `best`: ID SUGGESTION, one column per conditional and parameter, one per
// metric, FAILED. With `for_csv` metric cells hold the bare value and a "<metric>.stddev" column
// follows each metric that has any stddev, and FAILED is true/false; otherwise a cell reads
// "value±stddev" and FAILED is "yes" or empty. Inactive parameters give empty cells.
Table ObservationTable(const hpo::v1::Experiment& experiment,
                       const std::vector<hpo::v1::Observation>& observations, bool for_csv);

// `suggestions`: ID STATE SOURCE, one column per conditional and parameter, CREATED.
Table SuggestionTable(const hpo::v1::Experiment& experiment,
                      const std::vector<hpo::v1::Suggestion>& suggestions,
                      bool for_csv = false);

// `checkpoints`: STEP ELAPSED_S, one column per metric seen, CREATED.
Table CheckpointTable(const std::vector<hpo::v1::Checkpoint>& checkpoints);

// `get`: a readable multi-line description of the experiment, its metrics and search space.
std::string DescribeExperiment(const hpo::v1::Experiment& experiment);

// `suggest` and `queue`: "suggestion 17 (open, source random)" followed by NAME VALUE lines.
std::string DescribeSuggestion(const hpo::v1::Suggestion& suggestion);

}  // namespace hpo::cli

#endif  // HPO_CLIENT_CLI_FORMAT_H_
