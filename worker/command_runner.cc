#include "worker/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/logging.h"

namespace hpo::worker {
namespace {

std::string ValueText(const hpo::v1::ParameterValue& v) {
  switch (v.kind_case()) {
    case hpo::v1::ParameterValue::kNumberValue: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.17g", v.number_value());
      return buf;
    }
    case hpo::v1::ParameterValue::kIntValue:
      return absl::StrCat(v.int_value());
    case hpo::v1::ParameterValue::kStringValue:
      return v.string_value();
    default:
      return "";
  }
}

absl::StatusOr<double> ParseNumber(absl::string_view text, absl::string_view what) {
  double v;
  if (!absl::SimpleAtod(text, &v)) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": not a number: \"", text, "\""));
  }
  return v;
}

// Parses "name=value" pairs; `with_stddev` accepts value+-stddev.
absl::Status ParsePairs(const std::vector<absl::string_view>& tokens, bool with_stddev,
                        hpo::v1::Checkpoint* checkpoint,
                        std::vector<hpo::v1::MetricValue>* values) {
  for (absl::string_view token : tokens) {
    if (token.empty()) continue;
    const size_t eq = token.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      return absl::InvalidArgumentError(absl::StrCat("expected name=value, got \"", token, "\""));
    }
    const absl::string_view name = token.substr(0, eq);
    absl::string_view value = token.substr(eq + 1);
    if (checkpoint != nullptr && name == "step") {
      int64_t step;
      if (!absl::SimpleAtoi(value, &step)) {
        return absl::InvalidArgumentError(absl::StrCat("step: not an integer: \"", value, "\""));
      }
      checkpoint->set_step(step);
      continue;
    }
    if (checkpoint != nullptr && name == "elapsed") {
      auto e = ParseNumber(value, "elapsed");
      if (!e.ok()) return e.status();
      checkpoint->set_elapsed_seconds(*e);
      continue;
    }
    hpo::v1::MetricValue m;
    m.set_name(std::string(name));
    if (with_stddev) {
      const size_t pm = value.find("+-");
      if (pm != absl::string_view::npos) {
        auto sd = ParseNumber(value.substr(pm + 2), name);
        if (!sd.ok()) return sd.status();
        m.set_stddev(*sd);
        value = value.substr(0, pm);
      }
    }
    // "nan" and "inf" are accepted: a diverging run reports them and the regulator stops it.
    auto v = ParseNumber(value, name);
    if (!v.ok()) return v.status();
    m.set_value(*v);
    if (checkpoint != nullptr) {
      *checkpoint->add_metrics() = m;
    } else {
      values->push_back(m);
    }
  }
  return absl::OkStatus();
}

// Kills the process group: SIGTERM, then SIGKILL after `grace`. Returns the wait status.
int KillAndWait(pid_t pid, absl::Duration grace) {
  ::kill(-pid, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  int status = 0;
  while (absl::Now() < deadline) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    absl::SleepFor(absl::Milliseconds(20));  // polling a child's exit: no event to wait on
  }
  ::kill(-pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return status;
}

}  // namespace

absl::StatusOr<ProtocolLine> ParseProtocolLine(const std::string& raw) {
  ProtocolLine out;
  absl::string_view line = absl::StripAsciiWhitespace(raw);
  std::vector<absl::string_view> tokens = absl::StrSplit(line, ' ', absl::SkipEmpty());
  if (tokens.empty()) return out;
  if (tokens[0] == "HPO_CHECKPOINT") {
    out.kind = ProtocolLine::Kind::kCheckpoint;
    out.checkpoint.set_step(-1);
    tokens.erase(tokens.begin());
    absl::Status s = ParsePairs(tokens, false, &out.checkpoint, nullptr);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("HPO_CHECKPOINT: ", s.message()));
    if (out.checkpoint.step() < 0) {
      return absl::InvalidArgumentError("HPO_CHECKPOINT: step=<int> is required");
    }
  } else if (tokens[0] == "HPO_RESULT") {
    out.kind = ProtocolLine::Kind::kResult;
    tokens.erase(tokens.begin());
    absl::Status s = ParsePairs(tokens, true, nullptr, &out.values);
    if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("HPO_RESULT: ", s.message()));
  } else if (tokens[0] == "HPO_FAILED") {
    out.kind = ProtocolLine::Kind::kFailed;
    out.reason = std::string(absl::StripAsciiWhitespace(line.substr(tokens[0].size())));
    if (out.reason.empty()) out.reason = "the program reported HPO_FAILED";
  }
  return out;
}

std::vector<std::string> DefaultPassEnv() {
  return {"PATH",       "HOME",        "USER",         "LOGNAME",
          "SHELL",      "LANG",        "LANGUAGE",     "LC_*",
          "TZ",         "TMPDIR",      "TERM",         "PYTHONPATH",
          "PYTHONHOME", "VIRTUAL_ENV", "CONDA_PREFIX", "LD_LIBRARY_PATH",
          "OMP_*",      "KMP_*",       "GOMP_*",       "MKL_*",
          "OPENBLAS_*", "DNNL_*",      "ONEDNN_*",     "CUDA_VISIBLE_DEVICES",
          "SLURM_*"};
}

namespace {

// Quoting context of a /bin/sh script position, per command-substitution level.
struct ShellFrame {
  enum class Quote { kNone, kSingle, kDouble } quote = Quote::kNone;
  int parens = 0;         // open parentheses of a $( ) frame; 0 for the script and `...`
  bool backtick = false;  // a `...` frame
};

// A reference to environment variable `var` that the shell expands as one word wherever it
// stands: the reference is written for the quoting context, the value is never shell source.
std::string VariableReference(const std::string& var, ShellFrame::Quote quote) {
  switch (quote) {
    case ShellFrame::Quote::kNone:
      return absl::StrCat("\"${", var, "}\"");
    case ShellFrame::Quote::kDouble:
      return absl::StrCat("${", var, "}");
    case ShellFrame::Quote::kSingle:
      return absl::StrCat("'\"${", var, "}\"'");
  }
  return "";
}

bool PlainName(const std::string& name) {
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

std::string SingleQuote(const std::string& text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

}  // namespace

CommandLine CommandRunner::BuildCommandLine(const std::string& command,
                                            const hpo::v1::Assignment& assignment) {
  std::map<std::string, std::string> sorted;
  for (const auto& [name, value] : assignment.values()) sorted[name] = ValueText(value);
  CommandLine out;
  std::map<std::string, std::string> variables;  // parameter name -> HPO_ARG_<k>
  for (const auto& [name, value] : sorted) {
    const std::string var = absl::StrCat("HPO_ARG_", variables.size());
    variables[name] = var;
    out.env.push_back(absl::StrCat(var, "=", value));
  }
  // One pass over the command: substituted text is never scanned again.
  using Quote = ShellFrame::Quote;
  std::vector<ShellFrame> frames(1);
  bool placeholders = false;
  std::string& script = out.script;
  const size_t n = command.size();
  for (size_t i = 0; i < n;) {
    const char c = command[i];
    if (c == '{') {
      const size_t close = command.find('}', i + 1);
      if (close != std::string::npos) {
        auto it = variables.find(command.substr(i + 1, close - i - 1));
        if (it != variables.end()) {
          script += VariableReference(it->second, frames.back().quote);
          placeholders = true;
          i = close + 1;
          continue;
        }
      }
    }
    script += c;
    ++i;
    ShellFrame& frame = frames.back();
    const bool next_paren = i < n && command[i] == '(';
    switch (frame.quote) {
      case Quote::kSingle:
        if (c == '\'') frame.quote = Quote::kNone;
        break;
      case Quote::kDouble:
        if (c == '\\' && i < n) {
          script += command[i++];
        } else if (c == '"') {
          frame.quote = Quote::kNone;
        } else if (c == '$' && next_paren) {
          script += command[i++];
          frames.push_back(ShellFrame{Quote::kNone, 1, false});
        } else if (c == '`') {
          frames.push_back(ShellFrame{Quote::kNone, 0, true});
        }
        break;
      case Quote::kNone:
        if (c == '\\' && i < n) {
          script += command[i++];
        } else if (c == '\'') {
          frame.quote = Quote::kSingle;
        } else if (c == '"') {
          frame.quote = Quote::kDouble;
        } else if (c == '`') {
          if (frame.backtick) {
            frames.pop_back();
          } else {
            frames.push_back(ShellFrame{Quote::kNone, 0, true});
          }
        } else if (c == '$' && next_paren) {
          script += command[i++];
          frames.push_back(ShellFrame{Quote::kNone, 1, false});
        } else if (c == '(' && frame.parens > 0) {
          ++frame.parens;
        } else if (c == ')' && frame.parens > 0 && --frame.parens == 0 && frames.size() > 1) {
          frames.pop_back();
        }
        break;
    }
  }
  if (!placeholders) {
    for (const auto& [name, var] : variables) {
      const std::string flag = absl::StrCat("--", name, "=");
      absl::StrAppend(&script, " ",
                      PlainName(name) ? absl::StrCat("\"", flag, "${", var, "}\"")
                                      : SingleQuote(flag) + VariableReference(var, Quote::kNone));
    }
  }
  return out;
}

std::vector<std::string> CommandRunner::FilterEnvironment(
    const std::vector<std::string>& inherited, const std::vector<std::string>& pass_env) {
  std::vector<std::string> out;
  for (const std::string& entry : inherited) {
    const absl::string_view name = absl::string_view(entry).substr(0, entry.find('='));
    if (name.empty() || absl::StartsWith(name, "HPO_")) continue;
    for (const std::string& pattern : pass_env) {
      const bool match =
          absl::EndsWith(pattern, "*")
              ? absl::StartsWith(name, absl::string_view(pattern).substr(0, pattern.size() - 1))
              : name == pattern;
      if (match) {
        out.push_back(entry);
        break;
      }
    }
  }
  return out;
}

absl::StatusOr<TrialOutcome> CommandRunner::Run(const hpo::v1::Experiment& experiment,
                                                const hpo::v1::Suggestion& suggestion,
                                                ProgressSink* sink) {
  return RunRank(experiment, suggestion, GangPlace(), sink);
}

absl::StatusOr<TrialOutcome> CommandRunner::RunRank(const hpo::v1::Experiment& experiment,
                                                    const hpo::v1::Suggestion& suggestion,
                                                    const GangPlace& gang, ProgressSink* sink) {
  if (options_.command.empty()) return absl::InvalidArgumentError("command: required");
  CommandLine line = BuildCommandLine(options_.command, suggestion.assignment());
  std::vector<std::string> inherited;
  for (char** e = environ; *e != nullptr; ++e) inherited.emplace_back(*e);
  std::vector<std::string> env = FilterEnvironment(inherited, options_.pass_env);
  env.insert(env.end(), line.env.begin(), line.env.end());
  for (const auto& [name, value] : suggestion.assignment().values()) {
    env.push_back(absl::StrCat("HPO_PARAM_", name, "=", ValueText(value)));
  }
  env.push_back(absl::StrCat("HPO_EXPERIMENT_ID=", experiment.id()));
  env.push_back(absl::StrCat("HPO_SUGGESTION_ID=", suggestion.id()));
  env.push_back(absl::StrCat("HPO_WORKER_ID=", options_.worker_id.empty() ? suggestion.worker_id()
                                                                        : options_.worker_id));
  if (experiment.training().max_steps() > 0) {
    env.push_back(absl::StrCat("HPO_MAX_STEPS=", experiment.training().max_steps()));
  }
  if (gang.world_size > 1) {
    env.push_back(absl::StrCat("HPO_RANK=", gang.rank));
    env.push_back(absl::StrCat("HPO_WORLD_SIZE=", gang.world_size));
    env.push_back(absl::StrCat("HPO_MASTER_ADDR=", gang.master_addr));
    env.push_back(absl::StrCat("HPO_MASTER_PORT=", gang.master_port));
  }
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  const absl::Time start = absl::Now();
  const pid_t pid = ::fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(pipefd[1], STDOUT_FILENO);
    ::dup2(pipefd[1], STDERR_FILENO);
    const char* argv[] = {"/bin/sh", "-c", line.script.c_str(), nullptr};
    ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  ::close(pipefd[1]);
  HPO_LOG(INFO) << "suggestion " << suggestion.id() << ": running " << line.script << " with "
                << absl::StrJoin(line.env, " ");

  TrialOutcome outcome;
  std::string tail, pending;
  hpo::v1::Checkpoint last;
  bool have_checkpoint = false, have_result = false, reported_failed = false;
  bool killed = false;
  int wait_status = 0;
  auto handle_line = [&](const std::string& text) {
    absl::StatusOr<ProtocolLine> parsed = ParseProtocolLine(text);
    if (!parsed.ok()) {
      HPO_LOG(WARNING) << "suggestion " << suggestion.id() << ": " << parsed.status().message();
      return;
    }
    switch (parsed->kind) {
      case ProtocolLine::Kind::kCheckpoint: {
        hpo::v1::Checkpoint c = parsed->checkpoint;
        if (c.elapsed_seconds() == 0) c.set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - start));
        last = c;
        have_checkpoint = true;
        if (sink->Report(c) && !killed) {
          killed = true;
          outcome.stopped = true;
          wait_status = KillAndWait(pid, options_.kill_grace);
        }
        break;
      }
      case ProtocolLine::Kind::kResult:
        outcome.values = parsed->values;
        have_result = true;
        break;
      case ProtocolLine::Kind::kFailed:
        reported_failed = true;
        outcome.failure_reason = parsed->reason;
        break;
      case ProtocolLine::Kind::kNone:
        break;
    }
  };

  char buffer[4096];
  while (!killed) {
    pollfd pfd{pipefd[0], POLLIN, 0};
    const int ready = ::poll(&pfd, 1, 200);
    if (ready < 0 && errno != EINTR) break;
    if (ready == 0) {
      if (sink->StopRequested()) {  // stop between checkpoints (heartbeat said so)
        killed = true;
        outcome.stopped = true;
        wait_status = KillAndWait(pid, options_.kill_grace);
      }
      continue;
    }
    const ssize_t n = ::read(pipefd[0], buffer, sizeof(buffer));
    if (n <= 0) break;  // EOF: the program closed its output
    tail.append(buffer, static_cast<size_t>(n));
    if (tail.size() > options_.tail_bytes) tail.erase(0, tail.size() - options_.tail_bytes);
    pending.append(buffer, static_cast<size_t>(n));
    size_t nl;
    while (!killed && (nl = pending.find('\n')) != std::string::npos) {
      handle_line(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  if (!killed && !pending.empty()) handle_line(pending);
  ::close(pipefd[0]);
  if (!killed) ::waitpid(pid, &wait_status, 0);
  outcome.metadata["elapsed_seconds"] = absl::StrCat(absl::ToDoubleSeconds(absl::Now() - start));

  if (outcome.stopped) {
    outcome.values = have_checkpoint ? ExperimentMetrics(experiment, last)
                                     : std::vector<hpo::v1::MetricValue>{};
    outcome.metadata["stopped_at_step"] = absl::StrCat(have_checkpoint ? last.step() : 0);
    return outcome;
  }
  if (reported_failed) {
    outcome.failed = true;
    outcome.values.clear();
    return outcome;
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    outcome.failed = true;
    outcome.values.clear();
    outcome.failure_reason =
        WIFSIGNALED(wait_status)
            ? absl::StrCat("killed by signal ", WTERMSIG(wait_status), " (", strsignal(WTERMSIG(wait_status)), ")")
            : absl::StrCat("exit status ", WEXITSTATUS(wait_status));
    absl::StrAppend(&outcome.failure_reason, "; output tail: ", tail);
    return outcome;
  }
  if (!have_result) {
    if (gang.rank > 0) return outcome;  // a gang's rank > 0 does its part; rank 0 reports
    if (!have_checkpoint) {
      outcome.failed = true;
      outcome.failure_reason = absl::StrCat(
          "the program exited 0 without an HPO_RESULT or HPO_CHECKPOINT line; output tail: ", tail);
      return outcome;
    }
    outcome.values = ExperimentMetrics(experiment, last);
  }
  return outcome;
}

}  // namespace hpo::worker
