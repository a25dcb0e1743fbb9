// File: worker/command_runner.h
//
// Runs any training program per trial (hpo-worker --command), so any language or framework
// can be tuned.
//
// The command runs under /bin/sh -c in its own process group. Assignment values reach it as
//   - `{name}` placeholders in the command; without any placeholder, ` --name=value` arguments
//     are appended for every assigned name;
//   - environment variables HPO_PARAM_<name>=value, plus HPO_EXPERIMENT_ID, HPO_SUGGESTION_ID,
//     HPO_WORKER_ID and HPO_MAX_STEPS (when the experiment's training spec sets it).
// Values are data, never shell source. The command is scanned once (substituted text is never
// scanned again), tracking quotes, $( ) and `...` levels, comments, case patterns and
// here-documents, and each placeholder is written for where it stands:
//   - a number (double or int parameter) as its digits, anywhere;
//   - a string as a quoted reference to an environment variable holding it (HPO_ARG_<k>), so
//     the shell only ever expands it as one word;
//   - a string inside 'single quotes' as a reference to HPO_ARGQ_<k>, the value as one
//     single-quoted shell word: single-quoted text is for another shell (ssh, srun, sh -c);
//     other interpreters (python -c) should read $HPO_PARAM_<name> instead;
//   - a string where bash evaluates arithmetic ($((...)), ((...)), [[...]], ${...}, name[...])
//     only when it is a plain word; otherwise the trial fails saying why. So does a string
//     placeholder in a quoted here-document (<<'EOF'), where nothing expands.
// Text in double quotes that another shell parses again (sh -c "... {x}") is the command's own
// business: quote it with single quotes instead.
// The program gets a clean environment: only the variables named by
// CommandRunnerOptions::pass_env (names, or prefixes ending in '*') and the HPO_ trial variables
// above; the worker's own HPO_* variables (its token and TLS files) never reach it.
// The program talks back through lines on stdout or stderr (other lines are ignored):
//   HPO_CHECKPOINT step=<int> [elapsed=<seconds>] <metric>=<value> ...
//   HPO_RESULT <metric>=<value>[+-<stddev>] ...
//   HPO_FAILED <reason>
// When the trial must stop (pruned, lease lost, shutdown), the process group gets SIGTERM, then
// SIGKILL after `kill_grace`; the outcome is `stopped` with the last checkpoint's values. A
// non-zero exit status is a failed trial whose reason carries the status and the output's tail.
// A zero exit without HPO_RESULT uses the last checkpoint's values.
#ifndef HPO_WORKER_COMMAND_RUNNER_H_
#define HPO_WORKER_COMMAND_RUNNER_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "worker/trial_runner.h"

namespace hpo::worker {

// The variables a command inherits by default: the login basics (PATH, HOME, USER, LANG,
// LC_*, TZ, TMPDIR, ...), Python environments and the threading knobs of BLAS and OpenMP.
std::vector<std::string> DefaultPassEnv();

struct CommandRunnerOptions {
  std::string command;  // required
  std::string worker_id;
  // Variables of the worker's environment the command inherits: names, or prefixes ending in
  // '*'. Names starting with HPO_ are never passed.
  std::vector<std::string> pass_env = DefaultPassEnv();
  absl::Duration kill_grace = absl::Seconds(5);
  size_t tail_bytes = 2000;  // output kept for failure reasons
};

// The shell script for one trial and the environment entries its placeholders read.
struct CommandLine {
  std::string script;
  std::vector<std::string> env;  // "HPO_ARG_<k>=value"
};

class CommandRunner final : public TrialRunner {
 public:
  explicit CommandRunner(CommandRunnerOptions options) : options_(std::move(options)) {}

  absl::StatusOr<TrialOutcome> Run(const hpo::v1::Experiment& experiment,
                                   const hpo::v1::Suggestion& suggestion,
                                   ProgressSink* sink) override;
  // Gang trials: the command also gets HPO_RANK, HPO_WORLD_SIZE, HPO_MASTER_ADDR and
  // HPO_MASTER_PORT in its environment.
  absl::StatusOr<TrialOutcome> RunRank(const hpo::v1::Experiment& experiment,
                                       const hpo::v1::Suggestion& suggestion, const GangPlace& gang,
                                       ProgressSink* sink) override;

  // The script and placeholder variables for `assignment` (exposed for tests).
  // INVALID_ARGUMENT ("command: ...") when a value cannot stand where its placeholder is.
  static absl::StatusOr<CommandLine> BuildCommandLine(const std::string& command,
                                                      const hpo::v1::Assignment& assignment);
  // The entries of `inherited` ("NAME=value") that `pass_env` lets through (exposed for tests).
  static std::vector<std::string> FilterEnvironment(const std::vector<std::string>& inherited,
                                                    const std::vector<std::string>& pass_env);

 private:
  CommandRunnerOptions options_;
};

// One parsed protocol line (exposed for tests).
struct ProtocolLine {
  enum class Kind { kNone, kCheckpoint, kResult, kFailed } kind = Kind::kNone;
  hpo::v1::Checkpoint checkpoint;            // kCheckpoint
  std::vector<hpo::v1::MetricValue> values;  // kResult
  std::string reason;                        // kFailed
};
// Parses a line; a malformed protocol line is INVALID_ARGUMENT naming the problem.
absl::StatusOr<ProtocolLine> ParseProtocolLine(const std::string& line);

}  // namespace hpo::worker

#endif  // HPO_WORKER_COMMAND_RUNNER_H_
