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
#include <set>
#include <string_view>

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
#include "common/status_macros.h"

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

bool PlainName(const std::string& name) {
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') {
      return false;
    }
  }
  return true;
}

// A word bash's arithmetic cannot turn into a command (no subscript, expansion or assignment).
bool PlainWord(const std::string& value) {
  for (char c : value) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) &&
        std::string_view("_.,:/@%+-").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

std::string SingleQuote(const std::string& text) {
  return absl::StrCat("'", absl::StrReplaceAll(text, {{"'", "'\\''"}}), "'");
}

std::string Excerpt(const std::string& text) {
  return text.size() <= 40 ? text : absl::StrCat(text.substr(0, 40), "...");
}

// Rewrites a command template for /bin/sh in one pass, tracking just enough of the shell's
// grammar to know what each placeholder stands in: quotes, $( ) and `...` levels, arithmetic
// and ${...} expansions, [[ ]], comments, case patterns and here-documents.
class TemplateWriter {
 public:
  struct Value {
    std::string text;
    bool number = false;     // formatted by ValueText from a number: [-+0-9.e], inf or nan
    std::string var;         // HPO_ARG_<k>: the value
    std::string quoted_var;  // HPO_ARGQ_<k>: the value as one single-quoted shell word
  };

  TemplateWriter(const std::string& command, const std::map<std::string, Value>& values)
      : in_(command), values_(values) {}

  absl::StatusOr<std::string> Write() {
    frames_.emplace_back();
    while (i_ < in_.size()) {
      if (!heredocs_.empty() && at_line_start_) {
        HPO_RETURN_IF_ERROR(HereDocument());
        continue;
      }
      HPO_RETURN_IF_ERROR(Step());
    }
    return out_;
  }
  bool placeholders() const { return placeholders_; }
  const std::set<std::string>& quoted_used() const { return quoted_used_; }

 private:
  enum class Quote { kNone, kSingle, kDouble };
  struct Frame {
    Quote quote = Quote::kNone;
    int parens = 0;          // a $( ) level: its open parentheses
    bool backtick = false;   // a `...` level
    bool in_double = false;  // a `...` level opened inside double quotes
    int arithmetic = 0;      // open $(( / (( / ${ / [[ / name[ constructs
    int cases = 0;           // open `case` words in this level
  };
  struct HereDoc {
    std::string delimiter;
    bool quoted = false;
    bool strip_tabs = false;
  };

  char Peek(size_t ahead = 0) const { return i_ + ahead < in_.size() ? in_[i_ + ahead] : '\0'; }
  void Copy(size_t n = 1) {
    for (size_t k = 0; k < n && i_ < in_.size(); ++k) {
      at_line_start_ = in_[i_] == '\n';
      out_ += in_[i_++];
    }
  }
  bool WordStart() const {
    return i_ == 0 || std::string_view(" \t\n;&|(){}").find(in_[i_ - 1]) != std::string_view::npos;
  }
  bool NameBefore() const {
    return i_ > 0 &&
           (absl::ascii_isalnum(static_cast<unsigned char>(in_[i_ - 1])) || in_[i_ - 1] == '_');
  }
  bool Keyword(std::string_view word) const {
    if (!WordStart() || in_.compare(i_, word.size(), word) != 0) return false;
    const char after = Peek(word.size());
    return after == '\0' || std::string_view(" \t\n;&|()").find(after) != std::string_view::npos;
  }

  // A `{name}` at i_ naming an assigned parameter, or nullptr.
  const std::pair<const std::string, Value>* Placeholder(size_t* length) const {
    if (Peek() != '{') return nullptr;
    const size_t close = in_.find('}', i_ + 1);
    if (close == std::string::npos) return nullptr;
    auto it = values_.find(in_.substr(i_ + 1, close - i_ - 1));
    if (it == values_.end()) return nullptr;
    *length = close - i_ + 1;
    return &*it;
  }

  absl::Status Substitute(const std::pair<const std::string, Value>& p, Quote quote,
                          bool arithmetic) {
    placeholders_ = true;
    const Value& v = p.second;
    if (v.number) {  // digits, signs, '.', 'e', inf, nan: no shell reads them as anything else
      out_ += v.text;
      return absl::OkStatus();
    }
    if (arithmetic && !PlainWord(v.text)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "placeholder {", p.first,
          "} stands where bash evaluates arithmetic ($((...)), ((...)), "
          "[[...]], ${...} or a subscript), and its value \"",
          Excerpt(v.text), "\" is not a number or a plain word; pass it as \"$HPO_PARAM_", p.first,
          "\" elsewhere"));
    }
    switch (quote) {
      case Quote::kNone:
        out_ += absl::StrCat("\"${", v.var, "}\"");
        break;
      case Quote::kDouble:
        out_ += absl::StrCat("${", v.var, "}");
        break;
      case Quote::kSingle:
        // Single-quoted text is for another parser (ssh, srun, sh -c): it gets one quoted word.
        out_ += absl::StrCat("'\"${", v.quoted_var, "}\"'");
        quoted_used_.insert(v.quoted_var);
        break;
    }
    return absl::OkStatus();
  }

  // $( ), $(( )) and ${ }, which open alike in bare and double-quoted text. True when one
  // opened or closed here (and was copied).
  bool Expansion(Frame& f) {
    if (Peek() == '$' && Peek(1) == '(') {
      const bool arithmetic = Peek(2) == '(';
      Copy(arithmetic ? 3 : 2);
      Frame inner;
      inner.parens = arithmetic ? 2 : 1;
      inner.arithmetic = arithmetic ? 1 : 0;
      frames_.push_back(inner);  // `f` is not used after this
      return true;
    }
    if (Peek() == '$' && Peek(1) == '{') {
      Copy(2);
      ++f.arithmetic;
      braces_.push_back(frames_.size());
      return true;
    }
    if (Peek() == '}' && !braces_.empty() && braces_.back() == frames_.size()) {
      braces_.pop_back();
      --f.arithmetic;
      Copy();
      return true;
    }
    return false;
  }

  absl::Status Step() {
    Frame& f = frames_.back();
    size_t length = 0;
    if (const auto* p = Placeholder(&length)) {
      i_ += length;
      at_line_start_ = false;
      return Substitute(*p, f.quote, f.arithmetic > 0);
    }
    const char c = Peek();
    switch (f.quote) {
      case Quote::kSingle:
        if (c == '\'') f.quote = Quote::kNone;
        Copy();
        return absl::OkStatus();
      case Quote::kDouble:
        if (c == '\\') {
          // In `...` inside "...", \" ends a quote of the inner command.
          if (f.backtick && f.in_double && Peek(1) == '"') f.quote = Quote::kNone;
          Copy(2);
          return absl::OkStatus();
        }
        if (Expansion(f)) return absl::OkStatus();
        if (c == '"') {
          f.quote = Quote::kNone;
        } else if (c == '`') {
          Copy();
          Frame inner;
          inner.backtick = true;
          inner.in_double = true;
          frames_.push_back(inner);
          return absl::OkStatus();
        }
        Copy();
        return absl::OkStatus();
      case Quote::kNone:
        break;
    }
    // Unquoted.
    if (c == '\\') {
      // In `...` inside "...", \" is a quote of the inner command.
      if (f.backtick && f.in_double && Peek(1) == '"') {
        f.quote = Quote::kDouble;
        Copy(2);
        return absl::OkStatus();
      }
      Copy(2);
      return absl::OkStatus();
    }
    if (c == '#' && WordStart()) {  // a comment: to the end of the line, untouched
      while (i_ < in_.size() && Peek() != '\n') Copy();
      return absl::OkStatus();
    }
    if (c == '\'') {
      f.quote = Quote::kSingle;
    } else if (c == '"') {
      f.quote = Quote::kDouble;
    } else if (c == '`') {
      if (f.backtick) {
        frames_.pop_back();
      } else {
        Copy();
        Frame inner;
        inner.backtick = true;
        frames_.push_back(inner);
        return absl::OkStatus();
      }
    } else if (Expansion(f)) {
      return absl::OkStatus();
    } else if (c == '(' && Peek(1) == '(' && WordStart()) {  // (( arithmetic command ))
      Copy(2);
      ++f.arithmetic;
      double_parens_.push_back(frames_.size());
      return absl::OkStatus();
    } else if (c == ')' && Peek(1) == ')' && !double_parens_.empty() &&
               double_parens_.back() == frames_.size() && f.parens == 0) {
      double_parens_.pop_back();
      --f.arithmetic;
      Copy(2);
      return absl::OkStatus();
    } else if (c == '[' && Peek(1) == '[' && WordStart()) {
      ++f.arithmetic;
      brackets_.push_back(frames_.size());
      Copy(2);
      return absl::OkStatus();
    } else if (c == ']' && Peek(1) == ']' && !brackets_.empty() &&
               brackets_.back() == frames_.size()) {
      brackets_.pop_back();
      --f.arithmetic;
      Copy(2);
      return absl::OkStatus();
    } else if (c == '[' && NameBefore()) {  // name[subscript]: arithmetic in bash
      ++f.arithmetic;
      subscripts_.push_back(frames_.size());
    } else if (c == ']' && !subscripts_.empty() && subscripts_.back() == frames_.size()) {
      subscripts_.pop_back();
      --f.arithmetic;
    } else if (Keyword("case")) {
      ++f.cases;
    } else if (Keyword("esac") && f.cases > 0) {
      --f.cases;
    } else if (c == '(' && f.parens > 0) {
      ++f.parens;
    } else if (c == ')' && f.parens > 0 && f.cases == 0) {
      if (--f.parens == 0 && frames_.size() > 1) {
        Copy();
        frames_.pop_back();
        return absl::OkStatus();
      }
    } else if (c == '<' && Peek(1) == '<' && Peek(2) != '<') {
      Copy(2);
      return ReadHereDocDelimiter();
    }
    Copy();
    return absl::OkStatus();
  }

  // After "<<": [-] [blanks] word, where a quoted word means a body without expansions.
  absl::Status ReadHereDocDelimiter() {
    HereDoc doc;
    if (Peek() == '-') {
      doc.strip_tabs = true;
      Copy();
    }
    while (Peek() == ' ' || Peek() == '\t') Copy();
    while (i_ < in_.size() &&
           std::string_view(" \t\n;&|<>()").find(Peek()) == std::string_view::npos) {
      const char c = Peek();
      if (c == '\'' || c == '"') {
        doc.quoted = true;
        Copy();
        while (i_ < in_.size() && Peek() != c) {
          doc.delimiter += Peek();
          Copy();
        }
        Copy();
      } else if (c == '\\') {
        doc.quoted = true;
        Copy();
        doc.delimiter += Peek();
        Copy();
      } else {
        doc.delimiter += c;
        Copy();
      }
    }
    if (doc.delimiter.empty())
      return absl::InvalidArgumentError("a here-document without a delimiter");
    heredocs_.push_back(doc);
    return absl::OkStatus();
  }

  // One body line of the first pending here-document.
  absl::Status HereDocument() {
    const HereDoc& doc = heredocs_.front();
    size_t end = in_.find('\n', i_);
    if (end == std::string::npos) end = in_.size();
    std::string_view line(in_.data() + i_, end - i_);
    if (doc.strip_tabs) line.remove_prefix(std::min(line.find_first_not_of('\t'), line.size()));
    if (line == doc.delimiter) {
      Copy(end - i_ + (end < in_.size() ? 1 : 0));
      heredocs_.pop_front();
      at_line_start_ = true;
      return absl::OkStatus();
    }
    while (i_ < end) {
      size_t length = 0;
      if (const auto* p = Placeholder(&length)) {
        if (doc.quoted && !p->second.number) {
          return absl::InvalidArgumentError(absl::StrCat(
              "placeholder {", p->first, "} is in a quoted here-document (<<'", doc.delimiter,
              "'), where nothing is expanded; unquote the delimiter or read $HPO_PARAM_",
              p->first));
        }
        i_ += length;
        HPO_RETURN_IF_ERROR(Substitute(*p, Quote::kDouble, false));
        continue;
      }
      if (!doc.quoted && (Peek() == '\\' || Peek() == '$')) {
        Copy(Peek() == '\\' ? 2 : 1);
        continue;
      }
      Copy();
    }
    if (i_ < in_.size()) Copy();  // the newline
    at_line_start_ = true;
    return absl::OkStatus();
  }

  const std::string& in_;
  const std::map<std::string, Value>& values_;
  size_t i_ = 0;
  std::string out_;
  std::vector<Frame> frames_;
  std::vector<size_t> braces_, double_parens_, brackets_, subscripts_;  // frame depth of each
  std::deque<HereDoc> heredocs_;
  bool at_line_start_ = false;
  bool placeholders_ = false;
  std::set<std::string> quoted_used_;
};

}  // namespace

absl::StatusOr<CommandLine> CommandRunner::BuildCommandLine(
    const std::string& command, const hpo::v1::Assignment& assignment) {
  std::map<std::string, TemplateWriter::Value> values;
  for (const auto& [name, value] : assignment.values()) {
    TemplateWriter::Value v;
    v.text = ValueText(value);
    v.number = value.kind_case() == hpo::v1::ParameterValue::kNumberValue ||
               value.kind_case() == hpo::v1::ParameterValue::kIntValue;
    values[name] = std::move(v);
  }
  CommandLine out;
  int k = 0;
  for (auto& [name, v] : values) {
    v.var = absl::StrCat("HPO_ARG_", k);
    v.quoted_var = absl::StrCat("HPO_ARGQ_", k);
    ++k;
    out.env.push_back(absl::StrCat(v.var, "=", v.text));
  }
  TemplateWriter writer(command, values);
  absl::StatusOr<std::string> script = writer.Write();
  if (!script.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("command: ", script.status().message()));
  }
  out.script = *std::move(script);
  for (const auto& [name, v] : values) {
    if (writer.quoted_used().count(v.quoted_var) > 0) {
      out.env.push_back(absl::StrCat(v.quoted_var, "=", SingleQuote(v.text)));
    }
  }
  if (!writer.placeholders()) {
    for (const auto& [name, v] : values) {
      const std::string flag = absl::StrCat("--", name, "=");
      absl::StrAppend(&out.script, " ",
                      v.number ? SingleQuote(flag + v.text)
                      : PlainName(name)
                          ? absl::StrCat("\"", flag, "${", v.var, "}\"")
                          : absl::StrCat(SingleQuote(flag), "\"${", v.var, "}\""));
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
  absl::StatusOr<CommandLine> built = BuildCommandLine(options_.command, suggestion.assignment());
  if (!built.ok()) {  // this assignment cannot be passed safely: the trial fails, saying why
    TrialOutcome outcome;
    outcome.failed = true;
    outcome.failure_reason = std::string(built.status().message());
    return outcome;
  }
  CommandLine& line = *built;
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
