#include "worker/command_runner.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace hpo::worker {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class NeverStop final : public ProgressSink {
 public:
  bool Report(const hpo::v1::Checkpoint&) override { return false; }
  bool StopRequested() const override { return false; }
};

hpo::v1::Experiment ScoreExperiment() {
  hpo::v1::Experiment e;
  e.set_id(7);
  e.add_metrics()->set_name("score");
  return e;
}

hpo::v1::Suggestion WithStrings(std::initializer_list<std::pair<const char*, const char*>> values) {
  hpo::v1::Suggestion s;
  s.set_id(11);
  for (const auto& [name, value] : values) {
    (*s.mutable_assignment()->mutable_values())[name].set_string_value(value);
  }
  return s;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class CommandRunnerTest : public ::testing::Test {
 protected:
  // Runs `command` in the scratch folder and returns the out.txt it wrote there.
  std::string RunAndRead(const std::string& command, const hpo::v1::Suggestion& suggestion,
                         CommandRunnerOptions options = {}) {
    options.command = absl::StrCat("echo HPO_RESULT score=1; cd '", dir_.path(), "' && ", command);
    CommandRunner runner(options);
    NeverStop sink;
    absl::StatusOr<TrialOutcome> outcome = runner.Run(ScoreExperiment(), suggestion, &sink);
    EXPECT_TRUE(outcome.ok()) << outcome.status();
    if (outcome.ok()) {
      EXPECT_FALSE(outcome->failed) << outcome->failure_reason;
    }
    return ReadFile(Path("out.txt"));
  }
  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }
  bool Exists(const std::string& name) const { return std::filesystem::exists(Path(name)); }

  hpo::testing::TempDir dir_;
};

TEST_F(CommandRunnerTest, AValueHoldingAnotherPlaceholderStaysData) {
  // The substituted text of {a} is never scanned again, so {b} inside it is not expanded, and
  // b's shell syntax is printed, not run.
  const std::string out = RunAndRead("printf '[%s]' {a} {b} > out.txt",
                                     WithStrings({{"a", "{b}"}, {"b", "x; touch PWNED; echo "}}));
  EXPECT_EQ(out, "[{b}][x; touch PWNED; echo ]");
  EXPECT_FALSE(Exists("PWNED"));
}

TEST_F(CommandRunnerTest, APlaceholderInDoubleQuotesRunsNoCommandSubstitution) {
  const std::string value = "$(touch PWNED)`touch PWNED2`\"; touch PWNED3; \"\\";
  const std::string out =
      RunAndRead("printf '%s' \"--opt={c}\" > out.txt", WithStrings({{"c", value.c_str()}}));
  EXPECT_EQ(out, "--opt=" + value);
  EXPECT_FALSE(Exists("PWNED"));
  EXPECT_FALSE(Exists("PWNED2"));
  EXPECT_FALSE(Exists("PWNED3"));
}

TEST_F(CommandRunnerTest, APlaceholderInSingleQuotesIsOneQuotedWordForTheShellThatReadsIt) {
  // Single-quoted text is for another parser (ssh, srun, sh -c): it gets one quoted word.
  const std::string value = "it's $HOME; touch PWNED";
  const std::string out =
      RunAndRead("sh -c 'printf \"[%s]\" {x} {x}' > out.txt", WithStrings({{"x", value.c_str()}}));
  EXPECT_EQ(out, "[" + value + "][" + value + "]");
  EXPECT_FALSE(Exists("PWNED"));
}

TEST_F(CommandRunnerTest, NumbersStandAsTheyAreEvenInArithmetic) {
  hpo::v1::Suggestion s;
  (*s.mutable_assignment()->mutable_values())["n"].set_int_value(3);
  (*s.mutable_assignment()->mutable_values())["lr"].set_number_value(0.25);
  const std::string out = RunAndRead("printf '%s|' $(( {n} + 1 )) '{lr}' \"{lr}\" > out.txt", s);
  EXPECT_EQ(out, "4|0.25|0.25|");
}

TEST_F(CommandRunnerTest, AStringWhereBashEvaluatesArithmeticIsRefused) {
  // bash evaluates a[$(...)] inside $((...)), ((...)), [[ -eq ]], ${s:...} and subscripts.
  for (const char* command : {"echo $(( {v} + 1 ))", "(( x = {v} ))", "[[ {v} -eq 1 ]]",
                              "echo ${s:{v}}", "a[{v}]=1", "echo \"$(( {v} ))\""}) {
    absl::StatusOr<CommandLine> line = CommandRunner::BuildCommandLine(
        command, WithStrings({{"v", "a[$(touch PWNED)]"}}).assignment());
    EXPECT_FALSE(line.ok()) << command;
    EXPECT_THAT(line.status().message(), HasSubstr("{v}")) << command;
  }
  // A plain word is fine there, and the refusal fails the trial, saying why.
  EXPECT_TRUE(
      CommandRunner::BuildCommandLine("[[ {v} == sgd ]]", WithStrings({{"v", "lamb"}}).assignment())
          .ok());
  CommandRunnerOptions options;
  options.command = "echo $(( {v} ))";
  CommandRunner runner(options);
  NeverStop sink;
  absl::StatusOr<TrialOutcome> outcome =
      runner.Run(ScoreExperiment(), WithStrings({{"v", "a[$(touch PWNED)]"}}), &sink);
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_TRUE(outcome->failed);
  EXPECT_THAT(outcome->failure_reason, HasSubstr("arithmetic"));
}

TEST_F(CommandRunnerTest, CommentsAndHereDocumentsKeepTheirMeaning) {
  const std::string value = "x   * $(touch PWNED)";
  // An apostrophe in a comment opens no quote.
  EXPECT_EQ(
      RunAndRead("printf '<%s>' {a} > out.txt # don't {a}", WithStrings({{"a", value.c_str()}})),
      "<" + value + ">");
  EXPECT_EQ(RunAndRead("cat > out.txt <<EOF\nv={a}\nEOF\n", WithStrings({{"a", value.c_str()}})),
            "v=" + value + "\n");
  absl::StatusOr<CommandLine> quoted = CommandRunner::BuildCommandLine(
      "cat <<'EOF'\n{a}\nEOF\n", WithStrings({{"a", "v"}}).assignment());
  EXPECT_FALSE(quoted.ok());
  EXPECT_FALSE(Exists("PWNED"));
}

TEST_F(CommandRunnerTest, QuotesInsideBackticksInsideDoubleQuotes) {
  const std::string value = "x   *";
  EXPECT_EQ(RunAndRead("printf '<%s>' \"`printf '%s' \\\"{a}\\\"`\" > out.txt",
                       WithStrings({{"a", value.c_str()}})),
            "<" + value + ">");
}

TEST_F(CommandRunnerTest, CasePatternsInsideCommandSubstitution) {
  const std::string value = "x   *";
  EXPECT_EQ(RunAndRead("printf '<%s>' \"$(case y in y) printf '%s' {a};; esac)\" > out.txt",
                       WithStrings({{"a", value.c_str()}})),
            "<" + value + ">");
}

TEST_F(CommandRunnerTest, APlaceholderInsideCommandSubstitutionIsData) {
  const std::string value = "a  b\"; touch PWNED; \"*";
  const std::string out =
      RunAndRead("printf '%s|' \"$(printf '%s' \"{x}\")\" `printf '%s' {x}` > out.txt",
                 WithStrings({{"x", value.c_str()}}));
  EXPECT_THAT(out, HasSubstr(value + "|"));
  EXPECT_FALSE(Exists("PWNED"));
}

TEST_F(CommandRunnerTest, EscapedBracesAndUnknownNamesStayLiteral) {
  const std::string out = RunAndRead("printf '%s|' \\{x} {y} '{print $1}' {z} > out.txt",
                                     WithStrings({{"x", "v"}, {"z", "w"}}));
  EXPECT_EQ(out, "{x}|{y}|{print $1}|w|");
}

TEST_F(CommandRunnerTest, WithoutPlaceholdersEveryValueIsOneFlag) {
  hpo::v1::Suggestion s = WithStrings({{"b", "x'y \"$(touch PWNED)\""}, {"a", "v 1"}});
  (*s.mutable_assignment()->mutable_values())["lr"].set_number_value(0.25);
  (*s.mutable_assignment()->mutable_values())["n"].set_int_value(3);
  const std::string out = RunAndRead("printf '[%s]' > out.txt", s);
  EXPECT_EQ(out, "[--a=v 1][--b=x'y \"$(touch PWNED)\"][--lr=0.25][--n=3]");
  EXPECT_FALSE(Exists("PWNED"));
}

TEST_F(CommandRunnerTest, TheCommandGetsACleanEnvironment) {
  ::setenv("HPO_TOKEN", "hpo_secret", 1);
  ::setenv("HPO_TLS_KEY", "/etc/hpo/worker.key", 1);
  ::setenv("UNRELATED_SECRET", "s3", 1);
  ::setenv("OMP_NUM_THREADS", "3", 1);
  ::setenv("TOY_DIR", "/data", 1);
  hpo::v1::Suggestion s = WithStrings({{"x", "1"}});
  s.set_worker_id("w-1");
  std::string env = RunAndRead(": {x}; env > out.txt", s);
  EXPECT_THAT(env, Not(HasSubstr("hpo_secret")));
  EXPECT_THAT(env, Not(HasSubstr("HPO_TLS_KEY")));
  EXPECT_THAT(env, Not(HasSubstr("UNRELATED_SECRET")));
  EXPECT_THAT(env, Not(HasSubstr("TOY_DIR")));
  EXPECT_THAT(env, HasSubstr("OMP_NUM_THREADS=3\n"));
  EXPECT_THAT(env, HasSubstr("PATH="));
  EXPECT_THAT(env, HasSubstr("HPO_PARAM_x=1\n"));
  EXPECT_THAT(env, HasSubstr("HPO_EXPERIMENT_ID=7\n"));
  EXPECT_THAT(env, HasSubstr("HPO_SUGGESTION_ID=11\n"));
  EXPECT_THAT(env, HasSubstr("HPO_WORKER_ID=w-1\n"));

  // Named variables pass; the worker's HPO_ variables never do, even when named.
  CommandRunnerOptions options;
  options.pass_env.insert(options.pass_env.end(), {"TOY_*", "HPO_TOKEN", "HPO_*"});
  env = RunAndRead(": {x}; env > out.txt", s, options);
  EXPECT_THAT(env, HasSubstr("TOY_DIR=/data\n"));
  EXPECT_THAT(env, Not(HasSubstr("hpo_secret")));
  EXPECT_THAT(env, Not(HasSubstr("HPO_TLS_KEY")));
  for (const char* name :
       {"HPO_TOKEN", "HPO_TLS_KEY", "UNRELATED_SECRET", "OMP_NUM_THREADS", "TOY_DIR"}) {
    ::unsetenv(name);
  }
}

TEST(FilterEnvironmentTest, NamesAndPrefixes) {
  EXPECT_THAT(CommandRunner::FilterEnvironment(
                  {"PATH=/bin", "PATHX=1", "LC_ALL=C", "HPO_TOKEN=t", "HPO_X=1", "A=1", "=odd"},
                  {"PATH", "LC_*", "HPO_*", "*"}),
              ElementsAre("PATH=/bin", "PATHX=1", "LC_ALL=C", "A=1"));
  EXPECT_THAT(CommandRunner::FilterEnvironment({"PATH=/bin", "PATHX=1"}, {"PATH"}),
              ElementsAre("PATH=/bin"));
  EXPECT_THAT(DefaultPassEnv(), Contains("PATH"));
  EXPECT_THAT(DefaultPassEnv(), Not(Contains("HPO_TOKEN")));
}

TEST(ProtocolLineTest, ParsesCheckpointsResultsAndFailures) {
  absl::StatusOr<ProtocolLine> c = ParseProtocolLine("HPO_CHECKPOINT step=3 elapsed=1.5 auc=0.75");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->kind, ProtocolLine::Kind::kCheckpoint);
  EXPECT_EQ(c->checkpoint.step(), 3);
  ASSERT_EQ(c->checkpoint.metrics_size(), 1);
  EXPECT_EQ(c->checkpoint.metrics(0).name(), "auc");

  absl::StatusOr<ProtocolLine> r = ParseProtocolLine("HPO_RESULT auc=0.8+-0.01");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->values.size(), 1u);
  EXPECT_DOUBLE_EQ(r->values[0].stddev(), 0.01);

  EXPECT_FALSE(ParseProtocolLine("HPO_CHECKPOINT auc=1").ok());  // no step
  EXPECT_FALSE(ParseProtocolLine("HPO_RESULT auc=high").ok());
  absl::StatusOr<ProtocolLine> f = ParseProtocolLine("HPO_FAILED out of memory");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->reason, "out of memory");
  EXPECT_EQ(ParseProtocolLine("just output")->kind, ProtocolLine::Kind::kNone);
}

}  // namespace
}  // namespace hpo::worker
