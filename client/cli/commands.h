// File: client/cli/commands.h
//
// hpo-cli: command-line parsing and execution, kept out of main.cc so both are unit-tested.
//
//   hpo-cli [--server HOST:PORT] [--json] [--timeout SECONDS] COMMAND [ARGS...]
//
// ParseCommandLine turns argv into a CommandLine (no I/O); Run executes one against an
// HpoClient and writes to the given streams; Main is both plus connecting. See Usage() for the
// commands. Exit codes: kExitOk, kExitServerError (any failed RPC), kExitUsage (bad command
// line, unknown parameter or metric), kExitSpec (spec file unreadable or invalid). Errors are
// printed to the error stream as `error: <CODE>: <message>`.
#ifndef HPO_CLIENT_CLI_COMMANDS_H_
#define HPO_CLIENT_CLI_COMMANDS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/hpo_client.h"
#include "hpo/v1/experiment.pb.h"
#include "hpo/v1/experiment_service.pb.h"
#include "hpo/v1/search_space.pb.h"

namespace hpo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitServerError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitSpec = 3;

enum class OutputFormat { kTable, kCsv, kJson };

// Flags accepted before (or after) the command.
struct GlobalOptions {
  // --server; default $HPO_SERVER, else client::kDefaultServerAddress.
  std::string server = client::kDefaultServerAddress;
  // --json: print the protobuf JSON of the response instead of tables.
  bool json = false;
  // --timeout SECONDS: deadline of each RPC.
  absl::Duration timeout = absl::Seconds(30);
  // --token (default $HPO_TOKEN): API token for servers run with --auth.
  std::string token;
  // --tls_ca (default $HPO_TLS_CA), --tls_cert / --tls_key ($HPO_TLS_CERT / $HPO_TLS_KEY).
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
};

// `name=value[±stddev]` of `observe`; "+-" and "+/-" work as well as "±".
struct MetricArg {
  std::string name;
  double value = 0;
  std::optional<double> stddev;
};

// One parsed command line. Which fields matter depends on `command`.
struct CommandLine {
  GlobalOptions global;
  // "help", "create", "list", "get", "suggest", "queue", "suggestions", "observe",
  // "observations", "best", "pause", "resume", "archive", "checkpoints".
  std::string command;
  std::string spec_path;      // create -f
  std::string project;        // list --project
  bool all = false;           // list --all: archived experiments too
  int64_t experiment_id = 0;  // every command but help, create, list
  int64_t suggestion_id = 0;  // observe --suggestion, checkpoints SUGGESTION
  // queue: the positional name=value pairs; observe: the --assignment pairs. Values are kept as
  // text until the experiment's search space gives their types (BuildAssignment).
  std::vector<std::pair<std::string, std::string>> assignment;
  // observe: the positional name=value[±stddev] arguments, as text.
  std::vector<std::string> values;
  bool failed = false;                         // observe --failed
  std::string failure_reason;                  // observe --reason
  std::string name;                            // token-create NAME; backup PATH
  std::string role;                            // token-create --role
  int64_t token_id = 0;                        // token-revoke ID
  OutputFormat format = OutputFormat::kTable;  // --format table|csv|json; --json forces kJson
};

// The help text printed by `help`, `--help` and after usage errors' hint.
std::string Usage();

// Parses argv without the program name. `env_server` is $HPO_SERVER (null or empty: unset).
// Global flags may appear anywhere; `--flag=value` and `--flag value` both work.
// Returns kInvalidArgument naming the offending argument on any usage error.
absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const char* env_server);

// Splits "name=value". kInvalidArgument without '=' or with an empty name.
absl::StatusOr<std::pair<std::string, std::string>> ParseNameValue(absl::string_view arg);

// Parses "name=value", "name=value±stddev" ("+-" or "+/-" too). The value must be finite and
// the stddev finite and >= 0. kInvalidArgument otherwise.
absl::StatusOr<MetricArg> ParseMetricArg(absl::string_view arg);

// Types `pairs` by the search space: a double parameter gets number_value, an int int_value
// (integral numbers only), a categorical parameter or a conditional string_value.
// kInvalidArgument for an unknown name (listing the known ones), a repeated name or a value
// that does not parse. Membership and bounds are left to the server.
absl::StatusOr<hpo::v1::Assignment> BuildAssignment(
    const hpo::v1::SearchSpace& space,
    const std::vector<std::pair<std::string, std::string>>& pairs);

// Builds the CreateObservation request of `observe` for `experiment`. With --assignment, a
// positional name=value naming a parameter or conditional (and no metric) joins the assignment,
// so `observe 3 --assignment x=1 y=2 loss=0.5` works. kInvalidArgument for bad values, for
// metric names the experiment lacks, or for a parameter name without --assignment.
absl::StatusOr<hpo::v1::CreateObservationRequest> BuildObservationRequest(
    const hpo::v1::Experiment& experiment, const CommandLine& command);

// Executes `command` (not "help") against `client`, printing results to `out` and errors to
// `err`. Returns the exit code.
int Run(const CommandLine& command, const client::HpoClient& client, std::ostream& out,
        std::ostream& err);

// The whole program: parse, print help, connect, Run. Returns the exit code.
int Main(const std::vector<std::string>& args, const char* env_server, std::ostream& out,
         std::ostream& err);

}  // namespace hpo::cli

#endif  // HPO_CLIENT_CLI_COMMANDS_H_
