#include "client/cli/commands.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/cli/format.h"
#include "client/spec.h"
#include "common/status_macros.h"

namespace hpo::cli {
namespace {

using ::hpo::v1::Experiment;

// Flags each command accepts besides the global ones.
const std::map<std::string, std::set<std::string>>& CommandFlags() {
  static const auto* const flags = new std::map<std::string, std::set<std::string>>{
      {"create", {"--file"}},
      {"list", {"--project", "--all", "--format"}},
      {"get", {}},
      {"suggest", {}},
      {"queue", {}},
      {"suggestions", {"--format"}},
      {"observe", {"--suggestion", "--assignment", "--failed", "--reason"}},
      {"observations", {"--format"}},
      {"best", {"--format"}},
      {"pause", {}},
      {"resume", {}},
      {"archive", {}},
      {"checkpoints", {"--format"}},
      {"tokens", {"--format"}},
      {"token-create", {"--role", "--project"}},
      {"token-revoke", {}},
      {"backup", {}},
  };
  return *flags;
}

absl::Status UsageError(absl::string_view message) { return absl::InvalidArgumentError(message); }

absl::StatusOr<int64_t> ParseId(absl::string_view text, absl::string_view what) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(text, &id) || id <= 0) {
    return UsageError(absl::StrCat("expected ", what, " (a positive integer), got \"", text, "\""));
  }
  return id;
}

std::optional<double> ParseFiniteDouble(absl::string_view text) {
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) return std::nullopt;
  return value;
}

absl::Status AddAssignmentPairs(absl::string_view text, CommandLine* command) {
  for (absl::string_view piece : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    HPO_ASSIGN_OR_RETURN(auto pair, ParseNameValue(piece));
    command->assignment.push_back(std::move(pair));
  }
  return absl::OkStatus();
}

// Checks the positional arguments (after the command name) and fills `command`.
absl::Status ParsePositional(const std::vector<std::string>& args, CommandLine* command) {
  const std::string& name = command->command;
  auto expect_count = [&](size_t count, absl::string_view shape) -> absl::Status {
    if (args.size() != count) {
      return UsageError(absl::StrCat("usage: hpo-cli ", name, shape.empty() ? "" : " ", shape));
    }
    return absl::OkStatus();
  };
  if (name == "create") {
    if (command->spec_path.empty() && args.size() == 1) {
      command->spec_path = args[0];
      return absl::OkStatus();
    }
    HPO_RETURN_IF_ERROR(expect_count(0, "-f SPEC.yaml|SPEC.json"));
    if (command->spec_path.empty()) return UsageError("create needs -f SPEC.yaml|SPEC.json");
    return absl::OkStatus();
  }
  if (name == "list") return expect_count(0, "[--project P] [--all]");
  if (name == "tokens") return expect_count(0, "");
  if (name == "token-create") {
    HPO_RETURN_IF_ERROR(expect_count(1, "NAME --role admin|user|worker|read_only [--project P]"));
    command->name = args[0];
    if (command->role.empty()) return UsageError("token-create needs --role");
    return absl::OkStatus();
  }
  if (name == "token-revoke") {
    HPO_RETURN_IF_ERROR(expect_count(1, "TOKEN_ID"));
    HPO_ASSIGN_OR_RETURN(command->token_id, ParseId(args[0], "a token ID"));
    return absl::OkStatus();
  }
  if (name == "backup") {
    HPO_RETURN_IF_ERROR(expect_count(1, "PATH"));
    command->name = args[0];
    return absl::OkStatus();
  }
  if (args.empty()) return UsageError(absl::StrCat(name, " needs an experiment ID"));
  HPO_ASSIGN_OR_RETURN(command->experiment_id, ParseId(args[0], "an experiment ID"));
  if (name == "queue") {
    for (size_t i = 1; i < args.size(); ++i) {
      HPO_ASSIGN_OR_RETURN(auto pair, ParseNameValue(args[i]));
      command->assignment.push_back(std::move(pair));
    }
    return absl::OkStatus();
  }
  if (name == "observe") {
    command->values.assign(args.begin() + 1, args.end());
    const bool by_assignment = !command->assignment.empty();
    if (by_assignment == (command->suggestion_id != 0)) {
      return UsageError("observe needs either --suggestion S or --assignment name=value");
    }
    if (!command->failure_reason.empty() && !command->failed) {
      return UsageError("--reason is only for --failed observations");
    }
    if (command->failed) {
      if (!by_assignment && !command->values.empty()) {
        return UsageError(
            absl::StrCat("--failed takes no metric values, got \"", command->values.front(), "\""));
      }
      return absl::OkStatus();
    }
    if (command->values.empty()) {
      return UsageError("observe needs metric=value arguments, or --failed");
    }
    for (const std::string& value : command->values) {
      // With --assignment some of these may be parameters; BuildObservationRequest decides.
      if (by_assignment) {
        HPO_RETURN_IF_ERROR(ParseNameValue(value).status());
      } else {
        HPO_RETURN_IF_ERROR(ParseMetricArg(value).status());
      }
    }
    return absl::OkStatus();
  }
  if (name == "checkpoints") {
    HPO_RETURN_IF_ERROR(expect_count(2, "ID SUGGESTION"));
    HPO_ASSIGN_OR_RETURN(command->suggestion_id, ParseId(args[1], "a suggestion ID"));
    return absl::OkStatus();
  }
  return expect_count(1, "ID");
}

// ---- Run helpers ---------------------------------------------------------------------------

int Fail(std::ostream& err, int exit_code, const absl::Status& status) {
  err << "error: " << absl::StatusCodeToString(status.code()) << ": " << status.message() << "\n";
  return exit_code;
}

// Prints the JSON of `response`, or `text` for the other formats.
int Emit(const CommandLine& command, std::ostream& out, std::ostream& err,
         const google::protobuf::Message& response, const std::string& text) {
  if (command.format == OutputFormat::kJson) {
    absl::StatusOr<std::string> json = ToJson(response);
    if (!json.ok()) return Fail(err, kExitServerError, json.status());
    out << *json;
  } else {
    out << text;
  }
  return kExitOk;
}

std::string RenderAs(const CommandLine& command, const Table& table) {
  return command.format == OutputFormat::kCsv ? RenderCsv(table) : RenderTable(table);
}

int SetState(const CommandLine& command, const client::HpoClient& client,
             hpo::v1::ExperimentState state, std::ostream& out, std::ostream& err) {
  absl::StatusOr<Experiment> experiment = client.SetExperimentState(command.experiment_id, state);
  if (!experiment.ok()) return Fail(err, kExitServerError, experiment.status());
  hpo::v1::SetExperimentStateResponse response;
  *response.mutable_experiment() = *experiment;
  return Emit(command, out, err, response,
              absl::StrCat(
                  "experiment ", experiment->id(), " is now ",
                  ShortEnumName(hpo::v1::ExperimentState_descriptor(), experiment->state()), "\n"));
}

}  // namespace

std::string Usage() {
  return R"(usage: hpo-cli [--server HOST:PORT] [--json] [--timeout SECONDS] COMMAND [ARGS...]

Commands:
  create -f SPEC.yaml|SPEC.json       create an experiment from a spec file
  list [--project P] [--all]          list experiments (--all: archived ones too)
  get ID                              show an experiment, its metrics and search space
  suggest ID                          get the next suggestion
  queue ID [name=value...]            queue an assignment (missing parameters take defaults)
  suggestions ID                      list the suggestions of an experiment
  observe ID --suggestion S metric=value[±stddev]...
  observe ID --suggestion S --failed [--reason TEXT]
  observe ID --assignment name=value[,name=value...] metric=value...
                                      report a result (--assignment may repeat)
  observations ID [--format table|csv|json]
                                      list observations
  best ID                             best observation (the Pareto set for two metrics)
  pause ID | resume ID | archive ID   change the experiment's state
  checkpoints ID SUGGESTION           learning curve of a suggestion
  tokens                              list API tokens (admin)
  token-create NAME --role ROLE [--project P]
                                      create a token: admin, user, worker or read_only,
                                      optionally limited to project P; prints its secret once
  token-revoke TOKEN_ID               revoke a token (admin)
  backup PATH                         online backup of the server's database to PATH, an
                                      absolute path on the server's host (admin)
  help                                this text

Global flags (anywhere on the line):
  --server HOST:PORT   server address (default $HPO_SERVER, else 127.0.0.1:50051)
  --json               print the protobuf JSON of the response (proto field names)
  --timeout SECONDS    deadline of each call (default 30)
  --token TOKEN        API token (default $HPO_TOKEN) for servers run with --auth
  --tls_ca FILE        CA certificate (PEM) of a TLS server (default $HPO_TLS_CA)
  --tls_cert FILE, --tls_key FILE
                       client certificate and key for mutual TLS ($HPO_TLS_CERT, $HPO_TLS_KEY)
  --format FORMAT      table (default), csv or json for list, suggestions, observations,
                       best and checkpoints

"+-" may stand for "±". Times are UTC. Exit codes: 0 success, 1 server error, 2 usage error,
3 invalid spec file. Errors are printed as "error: CODE: message".
)";
}

absl::StatusOr<std::pair<std::string, std::string>> ParseNameValue(absl::string_view arg) {
  const size_t equals = arg.find('=');
  if (equals == absl::string_view::npos || equals == 0) {
    return UsageError(absl::StrCat("expected name=value, got \"", arg, "\""));
  }
  return std::make_pair(std::string(arg.substr(0, equals)), std::string(arg.substr(equals + 1)));
}

absl::StatusOr<MetricArg> ParseMetricArg(absl::string_view arg) {
  HPO_ASSIGN_OR_RETURN(auto pair, ParseNameValue(arg));
  MetricArg metric;
  metric.name = pair.first;
  absl::string_view text = pair.second;
  absl::string_view stddev_text;
  for (absl::string_view separator : {"±", "+/-", "+-"}) {
    const size_t at = text.find(separator);
    if (at != absl::string_view::npos) {
      stddev_text = text.substr(at + separator.size());
      text = text.substr(0, at);
      if (stddev_text.empty()) {
        return UsageError(
            absl::StrCat("missing stddev after \"", separator, "\" in \"", arg, "\""));
      }
      break;
    }
  }
  std::optional<double> value = ParseFiniteDouble(text);
  if (!value) {
    return UsageError(
        absl::StrCat("metric ", metric.name, ": expected a finite number, got \"", text, "\""));
  }
  metric.value = *value;
  if (!stddev_text.empty()) {
    std::optional<double> stddev = ParseFiniteDouble(stddev_text);
    if (!stddev || *stddev < 0) {
      return UsageError(absl::StrCat("metric ", metric.name,
                                     ": expected a finite stddev >= 0, got \"", stddev_text, "\""));
    }
    metric.stddev = *stddev;
  }
  return metric;
}

absl::StatusOr<CommandLine> ParseCommandLine(const std::vector<std::string>& args,
                                             const char* env_server) {
  CommandLine command;
  if (env_server != nullptr && *env_server != '\0') command.global.server = env_server;
  auto env = [](const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  command.global.token = env("HPO_TOKEN");
  command.global.tls_ca = env("HPO_TLS_CA");
  command.global.tls_cert = env("HPO_TLS_CERT");
  command.global.tls_key = env("HPO_TLS_KEY");
  std::vector<std::string> positional;
  std::set<std::string> command_flags_seen;
  std::optional<OutputFormat> format;
  bool help = false;

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      positional.insert(positional.end(), args.begin() + i + 1, args.end());
      break;
    }
    if (arg.size() < 2 || arg[0] != '-') {
      positional.push_back(arg);
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const size_t equals = arg.find('='); equals != std::string::npos) {
      name = arg.substr(0, equals);
      inline_value = arg.substr(equals + 1);
    }
    if (name == "-f") name = "--file";
    if (name == "-h") name = "--help";
    auto value = [&]() -> absl::StatusOr<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return UsageError(absl::StrCat(name, " needs a value"));
      return args[++i];
    };
    auto no_value = [&]() -> absl::Status {
      if (inline_value) return UsageError(absl::StrCat(name, " takes no value"));
      return absl::OkStatus();
    };

    if (name == "--help") {
      HPO_RETURN_IF_ERROR(no_value());
      help = true;
    } else if (name == "--server") {
      HPO_ASSIGN_OR_RETURN(command.global.server, value());
      if (command.global.server.empty()) return UsageError("--server needs HOST:PORT");
    } else if (name == "--json") {
      HPO_RETURN_IF_ERROR(no_value());
      command.global.json = true;
    } else if (name == "--timeout") {
      HPO_ASSIGN_OR_RETURN(std::string text, value());
      std::optional<double> seconds = ParseFiniteDouble(text);
      if (!seconds || *seconds <= 0) {
        return UsageError(absl::StrCat("--timeout: expected seconds > 0, got \"", text, "\""));
      }
      command.global.timeout = absl::Seconds(*seconds);
    } else if (name == "--token") {
      HPO_ASSIGN_OR_RETURN(command.global.token, value());
    } else if (name == "--tls_ca") {
      HPO_ASSIGN_OR_RETURN(command.global.tls_ca, value());
    } else if (name == "--tls_cert") {
      HPO_ASSIGN_OR_RETURN(command.global.tls_cert, value());
    } else if (name == "--tls_key") {
      HPO_ASSIGN_OR_RETURN(command.global.tls_key, value());
    } else if (name == "--role") {
      HPO_ASSIGN_OR_RETURN(command.role, value());
    } else if (name == "--file") {
      HPO_ASSIGN_OR_RETURN(command.spec_path, value());
    } else if (name == "--project") {
      HPO_ASSIGN_OR_RETURN(command.project, value());
    } else if (name == "--all") {
      HPO_RETURN_IF_ERROR(no_value());
      command.all = true;
    } else if (name == "--suggestion") {
      HPO_ASSIGN_OR_RETURN(std::string text, value());
      HPO_ASSIGN_OR_RETURN(command.suggestion_id, ParseId(text, "a suggestion ID"));
    } else if (name == "--assignment") {
      HPO_ASSIGN_OR_RETURN(std::string text, value());
      HPO_RETURN_IF_ERROR(AddAssignmentPairs(text, &command));
    } else if (name == "--failed") {
      HPO_RETURN_IF_ERROR(no_value());
      command.failed = true;
    } else if (name == "--reason") {
      HPO_ASSIGN_OR_RETURN(command.failure_reason, value());
    } else if (name == "--format") {
      HPO_ASSIGN_OR_RETURN(std::string text, value());
      if (text == "table") {
        format = OutputFormat::kTable;
      } else if (text == "csv") {
        format = OutputFormat::kCsv;
      } else if (text == "json") {
        format = OutputFormat::kJson;
      } else {
        return UsageError(
            absl::StrCat("--format: expected table, csv or json, got \"", text, "\""));
      }
    } else {
      return UsageError(absl::StrCat("unknown flag \"", arg, "\""));
    }
    static const std::set<std::string>* const kGlobal = new std::set<std::string>{
        "--help", "--server", "--json", "--timeout", "--token", "--tls_ca", "--tls_cert",
        "--tls_key"};
    if (kGlobal->count(name) == 0) {
      command_flags_seen.insert(name);
    }
  }

  if (help || (!positional.empty() && positional.front() == "help")) {
    command.command = "help";
    return command;
  }
  if (positional.empty()) return UsageError("no command given");
  command.command = positional.front();
  auto flags = CommandFlags().find(command.command);
  if (flags == CommandFlags().end()) {
    return UsageError(absl::StrCat("unknown command \"", command.command, "\""));
  }
  for (const std::string& flag : command_flags_seen) {
    if (flags->second.count(flag) == 0) {
      return UsageError(absl::StrCat(command.command, " does not take ", flag));
    }
  }
  if (format) command.format = *format;
  if (command.global.json) command.format = OutputFormat::kJson;
  HPO_RETURN_IF_ERROR(ParsePositional(
      std::vector<std::string>(positional.begin() + 1, positional.end()), &command));
  return command;
}

absl::StatusOr<hpo::v1::Assignment> BuildAssignment(
    const hpo::v1::SearchSpace& space,
    const std::vector<std::pair<std::string, std::string>>& pairs) {
  absl::flat_hash_map<std::string, const hpo::v1::Parameter*> parameters;
  for (const auto& parameter : space.parameters()) parameters[parameter.name()] = &parameter;
  absl::flat_hash_set<std::string> conditionals;
  for (const auto& conditional : space.conditionals()) conditionals.insert(conditional.name());

  hpo::v1::Assignment assignment;
  auto& values = *assignment.mutable_values();
  for (const auto& [name, text] : pairs) {
    if (values.count(name)) return UsageError(absl::StrCat(name, " is given more than once"));
    hpo::v1::ParameterValue& value = values[name];
    if (conditionals.count(name)) {
      value.set_string_value(text);
      continue;
    }
    auto it = parameters.find(name);
    if (it == parameters.end()) {
      return UsageError(absl::StrCat("unknown parameter \"", name, "\"; the space has: ",
                                     absl::StrJoin(AssignmentColumns(space), ", ")));
    }
    switch (it->second->type()) {
      case hpo::v1::PARAMETER_TYPE_DOUBLE: {
        std::optional<double> number = ParseFiniteDouble(text);
        if (!number) {
          return UsageError(absl::StrCat(name, ": expected a number, got \"", text, "\""));
        }
        value.set_number_value(*number);
        break;
      }
      case hpo::v1::PARAMETER_TYPE_INT: {
        int64_t integer = 0;
        std::optional<double> number = ParseFiniteDouble(text);
        if (absl::SimpleAtoi(text, &integer)) {
          value.set_int_value(integer);
        } else if (number && std::floor(*number) == *number && std::fabs(*number) < 9e15) {
          value.set_int_value(static_cast<int64_t>(*number));
        } else {
          return UsageError(absl::StrCat(name, ": expected an integer, got \"", text, "\""));
        }
        break;
      }
      default:
        value.set_string_value(text);
        break;
    }
  }
  return assignment;
}

absl::StatusOr<hpo::v1::CreateObservationRequest> BuildObservationRequest(
    const Experiment& experiment, const CommandLine& command) {
  hpo::v1::CreateObservationRequest request;
  request.set_experiment_id(command.experiment_id);
  request.set_suggestion_id(command.suggestion_id);
  request.set_failed(command.failed);
  request.set_failure_reason(command.failure_reason);

  absl::flat_hash_set<std::string> metrics;
  for (const auto& metric : experiment.metrics()) metrics.insert(metric.name());
  const std::vector<std::string> parameter_list = AssignmentColumns(experiment.search_space());
  const absl::flat_hash_set<std::string> parameters(parameter_list.begin(), parameter_list.end());
  const bool by_assignment = !command.assignment.empty();
  std::vector<std::pair<std::string, std::string>> assignment = command.assignment;

  for (const std::string& arg : command.values) {
    HPO_ASSIGN_OR_RETURN(auto pair, ParseNameValue(arg));
    if (metrics.count(pair.first)) {
      if (command.failed) {
        return UsageError(absl::StrCat("--failed takes no metric values, got \"", arg, "\""));
      }
      HPO_ASSIGN_OR_RETURN(MetricArg metric, ParseMetricArg(arg));
      hpo::v1::MetricValue* value = request.add_values();
      value->set_name(metric.name);
      value->set_value(metric.value);
      if (metric.stddev) value->set_stddev(*metric.stddev);
    } else if (parameters.count(pair.first)) {
      if (!by_assignment) {
        return UsageError(absl::StrCat("\"", pair.first,
                                       "\" is a parameter, not a metric; parameters go with "
                                       "--assignment"));
      }
      assignment.push_back(std::move(pair));
    } else {
      std::vector<std::string> names(metrics.begin(), metrics.end());
      std::sort(names.begin(), names.end());
      return UsageError(absl::StrCat("unknown metric \"", pair.first,
                                     "\"; the experiment has: ", absl::StrJoin(names, ", ")));
    }
  }
  if (!command.failed && request.values().empty()) {
    return UsageError("observe needs metric=value arguments, or --failed");
  }
  if (by_assignment) {
    HPO_ASSIGN_OR_RETURN(*request.mutable_assignment(),
                         BuildAssignment(experiment.search_space(), assignment));
  }
  return request;
}

int Run(const CommandLine& command, const client::HpoClient& client, std::ostream& out,
        std::ostream& err) {
  const std::string& name = command.command;
  const int64_t id = command.experiment_id;

  if (name == "create") {
    absl::StatusOr<Experiment> spec = hpo::client::LoadExperimentSpec(command.spec_path);
    if (!spec.ok()) return Fail(err, kExitSpec, spec.status());
    absl::StatusOr<Experiment> experiment = client.CreateExperiment(*spec);
    if (!experiment.ok()) return Fail(err, kExitServerError, experiment.status());
    hpo::v1::CreateExperimentResponse response;
    *response.mutable_experiment() = *experiment;
    return Emit(command, out, err, response,
                absl::StrCat("created experiment ", experiment->id(), " (", experiment->project(),
                             "/", experiment->name(), ")\n"));
  }

  if (name == "list") {
    std::vector<hpo::v1::ExperimentState> states;
    if (command.all) {
      for (int i = 0; i < hpo::v1::ExperimentState_descriptor()->value_count(); ++i) {
        const int number = hpo::v1::ExperimentState_descriptor()->value(i)->number();
        if (number != hpo::v1::EXPERIMENT_STATE_UNSPECIFIED) {
          states.push_back(static_cast<hpo::v1::ExperimentState>(number));
        }
      }
    }
    absl::StatusOr<std::vector<Experiment>> experiments =
        client.ListExperiments(command.project, states);
    if (!experiments.ok()) return Fail(err, kExitServerError, experiments.status());
    hpo::v1::ListExperimentsResponse response;
    for (const Experiment& experiment : *experiments) *response.add_experiments() = experiment;
    if (command.format == OutputFormat::kJson) return Emit(command, out, err, response, "");
    // One extra call per experiment for the BEST column; a failure there only blanks the cell.
    absl::flat_hash_map<int64_t, std::string> best_by_id;
    for (const Experiment& experiment : *experiments) {
      if (experiment.progress().observation_count() == 0) continue;
      absl::StatusOr<std::vector<hpo::v1::Observation>> best =
          client.GetBestAssignments(experiment.id());
      if (best.ok()) best_by_id[experiment.id()] = BestSummary(experiment, *best);
    }
    return Emit(command, out, err, response,
                RenderAs(command, ExperimentListTable(*experiments, best_by_id)));
  }

  if (name == "tokens") {
    absl::StatusOr<std::vector<hpo::v1::ApiToken>> tokens = client.ListTokens();
    if (!tokens.ok()) return Fail(err, kExitServerError, tokens.status());
    hpo::v1::ListTokensResponse response;
    Table table;
    table.header = {"ID", "NAME", "ROLE", "PROJECT", "CREATED", "REVOKED"};
    for (const hpo::v1::ApiToken& t : *tokens) {
      *response.add_tokens() = t;
      table.rows.push_back({absl::StrCat(t.id()), t.name(),
                            ShortEnumName(hpo::v1::Role_descriptor(), t.role()),
                            t.project().empty() ? "*" : t.project(),
                            FormatTimestamp(t.create_time()),
                            t.has_revoke_time() ? FormatTimestamp(t.revoke_time()) : ""});
    }
    return Emit(command, out, err, response, RenderAs(command, table));
  }
  if (name == "token-create") {
    hpo::v1::Role role;
    if (!hpo::v1::Role_Parse("ROLE_" + absl::AsciiStrToUpper(command.role), &role) ||
        role == hpo::v1::ROLE_UNSPECIFIED) {
      return Fail(err, kExitUsage,
                  absl::InvalidArgumentError(absl::StrCat(
                      "--role: expected admin, user, worker or read_only, got \"", command.role,
                      "\"")));
    }
    auto created = client.CreateToken(command.name, role, command.project);
    if (!created.ok()) return Fail(err, kExitServerError, created.status());
    return Emit(command, out, err, *created,
                absl::StrCat("created token ", created->token().id(), " \"",
                             created->token().name(), "\" (", command.role,
                             created->token().project().empty()
                                 ? ", every project"
                                 : absl::StrCat(", project ", created->token().project()),
                             "); its secret, shown only now:\n", created->secret(), "\n"));
  }
  if (name == "token-revoke") {
    auto revoked = client.RevokeToken(command.token_id);
    if (!revoked.ok()) return Fail(err, kExitServerError, revoked.status());
    hpo::v1::RevokeTokenResponse response;
    *response.mutable_token() = *revoked;
    return Emit(command, out, err, response,
                absl::StrCat("token ", revoked->id(), " \"", revoked->name(), "\" revoked\n"));
  }
  if (name == "backup") {
    auto backup = client.BackupDatabase(command.name);
    if (!backup.ok()) return Fail(err, kExitServerError, backup.status());
    return Emit(command, out, err, *backup,
                absl::StrCat("backed up to ", backup->path(), " (", backup->bytes(), " bytes)\n"));
  }
  if (name == "pause") return SetState(command, client, hpo::v1::EXPERIMENT_STATE_PAUSED, out, err);
  if (name == "resume") {
    return SetState(command, client, hpo::v1::EXPERIMENT_STATE_ACTIVE, out, err);
  }
  if (name == "archive") {
    return SetState(command, client, hpo::v1::EXPERIMENT_STATE_ARCHIVED, out, err);
  }

  if (name == "suggest") {
    absl::StatusOr<hpo::v1::Suggestion> suggestion = client.CreateSuggestion(id);
    if (!suggestion.ok()) return Fail(err, kExitServerError, suggestion.status());
    hpo::v1::CreateSuggestionResponse response;
    *response.mutable_suggestion() = *suggestion;
    return Emit(command, out, err, response, DescribeSuggestion(*suggestion));
  }

  if (name == "checkpoints") {
    absl::StatusOr<std::vector<hpo::v1::Checkpoint>> checkpoints =
        client.ListCheckpoints(id, command.suggestion_id);
    if (!checkpoints.ok()) return Fail(err, kExitServerError, checkpoints.status());
    hpo::v1::ListCheckpointsResponse response;
    for (const auto& checkpoint : *checkpoints) *response.add_checkpoints() = checkpoint;
    return Emit(command, out, err, response, RenderAs(command, CheckpointTable(*checkpoints)));
  }

  // The remaining commands need the experiment: its space types assignments and names columns.
  absl::StatusOr<Experiment> experiment = client.GetExperiment(id);
  if (!experiment.ok()) return Fail(err, kExitServerError, experiment.status());

  if (name == "get") {
    hpo::v1::GetExperimentResponse response;
    *response.mutable_experiment() = *experiment;
    return Emit(command, out, err, response, DescribeExperiment(*experiment));
  }

  if (name == "queue") {
    absl::StatusOr<hpo::v1::Assignment> assignment =
        BuildAssignment(experiment->search_space(), command.assignment);
    if (!assignment.ok()) return Fail(err, kExitUsage, assignment.status());
    absl::StatusOr<hpo::v1::Suggestion> suggestion = client.QueueSuggestion(id, *assignment);
    if (!suggestion.ok()) return Fail(err, kExitServerError, suggestion.status());
    hpo::v1::QueueSuggestionResponse response;
    *response.mutable_suggestion() = *suggestion;
    return Emit(command, out, err, response, DescribeSuggestion(*suggestion));
  }

  if (name == "suggestions") {
    absl::StatusOr<std::vector<hpo::v1::Suggestion>> suggestions = client.ListSuggestions(id);
    if (!suggestions.ok()) return Fail(err, kExitServerError, suggestions.status());
    hpo::v1::ListSuggestionsResponse response;
    for (const auto& suggestion : *suggestions) *response.add_suggestions() = suggestion;
    return Emit(command, out, err, response,
                RenderAs(command, SuggestionTable(*experiment, *suggestions,
                                                  command.format == OutputFormat::kCsv)));
  }

  if (name == "observe") {
    absl::StatusOr<hpo::v1::CreateObservationRequest> request =
        BuildObservationRequest(*experiment, command);
    if (!request.ok()) return Fail(err, kExitUsage, request.status());
    absl::StatusOr<hpo::v1::Observation> observation = client.CreateObservation(*request);
    if (!observation.ok()) return Fail(err, kExitServerError, observation.status());
    hpo::v1::CreateObservationResponse response;
    *response.mutable_observation() = *observation;
    std::string text = absl::StrCat("observation ", observation->id(), " recorded");
    if (observation->suggestion_id() != 0) {
      absl::StrAppend(&text, " for suggestion ", observation->suggestion_id());
    }
    if (observation->failed()) absl::StrAppend(&text, " (failed)");
    return Emit(command, out, err, response, text + "\n");
  }

  if (name == "observations" || name == "best") {
    absl::StatusOr<std::vector<hpo::v1::Observation>> observations =
        name == "best" ? client.GetBestAssignments(id) : client.ListObservations(id);
    if (!observations.ok()) return Fail(err, kExitServerError, observations.status());
    const bool csv = command.format == OutputFormat::kCsv;
    std::string text = RenderAs(command, ObservationTable(*experiment, *observations, csv));
    if (name == "best" && observations->empty() && !csv) text = "no feasible observation yet\n";
    if (name == "best") {
      hpo::v1::GetBestAssignmentsResponse response;
      for (const auto& observation : *observations) *response.add_observations() = observation;
      return Emit(command, out, err, response, text);
    }
    hpo::v1::ListObservationsResponse response;
    for (const auto& observation : *observations) *response.add_observations() = observation;
    return Emit(command, out, err, response, text);
  }

  return Fail(err, kExitUsage,
              absl::InvalidArgumentError(absl::StrCat("unknown command \"", name, "\"")));
}

int Main(const std::vector<std::string>& args, const char* env_server, std::ostream& out,
         std::ostream& err) {
  absl::StatusOr<CommandLine> command = ParseCommandLine(args, env_server);
  if (!command.ok()) {
    Fail(err, kExitUsage, command.status());
    err << "run 'hpo-cli help' for usage\n";
    return kExitUsage;
  }
  if (command->command == "help") {
    out << Usage();
    return kExitOk;
  }
  client::HpoClientOptions options;
  options.target = command->global.server;
  options.timeout = command->global.timeout;
  options.token = command->global.token;
  options.tls_ca_file = command->global.tls_ca;
  options.tls_cert_file = command->global.tls_cert;
  options.tls_key_file = command->global.tls_key;
  absl::StatusOr<std::unique_ptr<client::HpoClient>> client = client::HpoClient::Connect(options);
  if (!client.ok()) return Fail(err, kExitUsage, client.status());
  return Run(*command, **client, out, err);
}

}  // namespace hpo::cli
