#include "client/cli/commands.h"

#include <fstream>
#include <sstream>

#include <unistd.h>

#include "gmock/gmock.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/client/fake_experiment_service.h"

namespace hpo::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;

absl::StatusOr<CommandLine> Parse(std::vector<std::string> args, const char* env = nullptr) {
  return ParseCommandLine(args, env);
}

std::string ParseError(std::vector<std::string> args) {
  absl::StatusOr<CommandLine> command = Parse(std::move(args));
  EXPECT_FALSE(command.ok());
  EXPECT_EQ(command.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(command.status().message());
}

// ---- ParseCommandLine --------------------------------------------------------------------

TEST(ParseCommandLineTest, GlobalFlagsAndDefaults) {
  absl::StatusOr<CommandLine> command = Parse({"list"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->command, "list");
  EXPECT_EQ(command->global.server, "127.0.0.1:50051");
  EXPECT_FALSE(command->global.json);
  EXPECT_EQ(command->global.timeout, absl::Seconds(30));

  command = Parse({"--server", "h:1", "--json", "--timeout=2.5", "get", "4"}, "env:9");
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->global.server, "h:1");
  EXPECT_TRUE(command->global.json);
  EXPECT_EQ(command->format, OutputFormat::kJson);
  EXPECT_EQ(command->global.timeout, absl::Milliseconds(2500));
  EXPECT_EQ(command->experiment_id, 4);
}

TEST(ParseCommandLineTest, ServerFromEnvironment) {
  absl::StatusOr<CommandLine> command = Parse({"list"}, "env:9");
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->global.server, "env:9");
  command = Parse({"list"}, "");
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->global.server, "127.0.0.1:50051");
}

TEST(ParseCommandLineTest, GlobalFlagsAfterTheCommandToo) {
  absl::StatusOr<CommandLine> command = Parse({"get", "4", "--server=x:1", "--json"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->global.server, "x:1");
  EXPECT_TRUE(command->global.json);
}

TEST(ParseCommandLineTest, Help) {
  for (std::vector<std::string> args :
       {std::vector<std::string>{"help"}, {"--help"}, {"-h"}, {"get", "--help"}}) {
    absl::StatusOr<CommandLine> command = Parse(args);
    ASSERT_TRUE(command.ok()) << command.status();
    EXPECT_EQ(command->command, "help");
  }
  EXPECT_THAT(Usage(), HasSubstr("observe ID --suggestion S metric=value[±stddev]"));
}

TEST(ParseCommandLineTest, CreateTakesAFile) {
  absl::StatusOr<CommandLine> command = Parse({"create", "-f", "spec.yaml"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->spec_path, "spec.yaml");
  command = Parse({"create", "--file=s.json"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->spec_path, "s.json");
  command = Parse({"create", "s.yaml"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->spec_path, "s.yaml");
  EXPECT_THAT(ParseError({"create"}), HasSubstr("create needs -f"));
  EXPECT_THAT(ParseError({"create", "-f"}), HasSubstr("--file needs a value"));
}

TEST(ParseCommandLineTest, ListFlags) {
  absl::StatusOr<CommandLine> command = Parse({"list", "--project", "dlrm", "--all"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->project, "dlrm");
  EXPECT_TRUE(command->all);
  EXPECT_THAT(ParseError({"list", "3"}), HasSubstr("usage: hpo-cli list"));
}

TEST(ParseCommandLineTest, IdsArePositiveIntegers) {
  EXPECT_THAT(ParseError({"get"}), HasSubstr("get needs an experiment ID"));
  EXPECT_THAT(ParseError({"get", "abc"}),
              HasSubstr("expected an experiment ID (a positive integer), got \"abc\""));
  EXPECT_THAT(ParseError({"get", "0"}), HasSubstr("positive integer"));
  EXPECT_THAT(ParseError({"get", "1", "2"}), HasSubstr("usage: hpo-cli get ID"));
  for (const char* name :
       {"suggest", "suggestions", "observations", "best", "pause", "resume", "archive"}) {
    absl::StatusOr<CommandLine> command = Parse({name, "12"});
    ASSERT_TRUE(command.ok()) << name << ": " << command.status();
    EXPECT_EQ(command->experiment_id, 12);
  }
}

TEST(ParseCommandLineTest, QueueKeepsPairsAsText) {
  absl::StatusOr<CommandLine> command = Parse({"queue", "3", "lr=0.1", "opt=sgd", "x=a=b"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_THAT(command->assignment,
              ::testing::ElementsAre(Pair("lr", "0.1"), Pair("opt", "sgd"), Pair("x", "a=b")));
  EXPECT_THAT(ParseError({"queue", "3", "lr"}), HasSubstr("expected name=value, got \"lr\""));
  EXPECT_THAT(ParseError({"queue", "3", "=1"}), HasSubstr("expected name=value"));
}

TEST(ParseCommandLineTest, ObserveWithSuggestion) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--suggestion", "17", "auc=0.81±0.01", "secs=12"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->suggestion_id, 17);
  EXPECT_THAT(command->values, ::testing::ElementsAre("auc=0.81±0.01", "secs=12"));
  EXPECT_FALSE(command->failed);

  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "17"}),
              HasSubstr("needs metric=value arguments, or --failed"));
  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "17", "auc=high"}),
              HasSubstr("metric auc: expected a finite number, got \"high\""));
  EXPECT_THAT(ParseError({"observe", "3", "auc=1"}),
              HasSubstr("observe needs either --suggestion S or --assignment name=value"));
  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "1", "--assignment", "x=1", "a=1"}),
              HasSubstr("either"));
}

TEST(ParseCommandLineTest, ObserveFailed) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--suggestion", "17", "--failed", "--reason", "OOM, again"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_TRUE(command->failed);
  EXPECT_EQ(command->failure_reason, "OOM, again");
  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "17", "--failed", "auc=1"}),
              HasSubstr("--failed takes no metric values"));
  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "17", "--reason", "x", "auc=1"}),
              HasSubstr("--reason is only for --failed"));
  EXPECT_THAT(ParseError({"observe", "3", "--suggestion", "17", "--failed=yes"}),
              HasSubstr("--failed takes no value"));
}

TEST(ParseCommandLineTest, ObserveWithAssignment) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--assignment", "lr=0.1,opt=sgd", "--assignment=steps=5", "auc=0.8"});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_THAT(command->assignment,
              ::testing::ElementsAre(Pair("lr", "0.1"), Pair("opt", "sgd"), Pair("steps", "5")));
  EXPECT_EQ(command->suggestion_id, 0);
}

TEST(ParseCommandLineTest, FormatAndCheckpoints) {
  absl::StatusOr<CommandLine> command = Parse({"observations", "3", "--format", "csv"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->format, OutputFormat::kCsv);
  command = Parse({"--json", "observations", "3", "--format", "csv"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->format, OutputFormat::kJson);  // --json wins
  EXPECT_THAT(ParseError({"observations", "3", "--format", "xml"}),
              HasSubstr("expected table, csv or json, got \"xml\""));
  command = Parse({"checkpoints", "3", "17"});
  ASSERT_TRUE(command.ok());
  EXPECT_EQ(command->suggestion_id, 17);
  EXPECT_THAT(ParseError({"checkpoints", "3"}), HasSubstr("usage: hpo-cli checkpoints ID SUGG"));
}

TEST(ParseCommandLineTest, UsageErrors) {
  EXPECT_THAT(ParseError({}), HasSubstr("no command given"));
  EXPECT_THAT(ParseError({"frob"}), HasSubstr("unknown command \"frob\""));
  EXPECT_THAT(ParseError({"list", "--bogus"}), HasSubstr("unknown flag \"--bogus\""));
  EXPECT_THAT(ParseError({"get", "1", "--all"}), HasSubstr("get does not take --all"));
  EXPECT_THAT(ParseError({"--timeout", "0", "list"}), HasSubstr("--timeout: expected seconds"));
  EXPECT_THAT(ParseError({"--timeout", "soon", "list"}), HasSubstr("got \"soon\""));
  EXPECT_THAT(ParseError({"list", "--server"}), HasSubstr("--server needs a value"));
}

// ---- Value parsing -----------------------------------------------------------------------

TEST(ParseMetricArgTest, ValueAndStddev) {
  absl::StatusOr<MetricArg> metric = ParseMetricArg("auc=0.8");
  ASSERT_TRUE(metric.ok());
  EXPECT_EQ(metric->name, "auc");
  EXPECT_EQ(metric->value, 0.8);
  EXPECT_FALSE(metric->stddev.has_value());
  for (const char* text : {"auc=0.8±0.01", "auc=0.8+-0.01", "auc=0.8+/-0.01"}) {
    metric = ParseMetricArg(text);
    ASSERT_TRUE(metric.ok()) << text;
    EXPECT_EQ(metric->value, 0.8);
    EXPECT_EQ(metric->stddev, 0.01);
  }
  metric = ParseMetricArg("loss=-1e-3");
  ASSERT_TRUE(metric.ok());
  EXPECT_EQ(metric->value, -1e-3);
  EXPECT_FALSE(ParseMetricArg("auc=nan").ok());
  EXPECT_FALSE(ParseMetricArg("auc=0.8±-1").ok());
  EXPECT_FALSE(ParseMetricArg("auc=0.8±").ok());
  EXPECT_FALSE(ParseMetricArg("auc").ok());
}

hpo::v1::Experiment SmallExperiment() {
  hpo::v1::Experiment experiment;
  experiment.set_id(3);
  experiment.set_name("small");
  auto* space = experiment.mutable_search_space();
  auto* lr = space->add_parameters();
  lr->set_name("lr");
  lr->set_type(hpo::v1::PARAMETER_TYPE_DOUBLE);
  auto* steps = space->add_parameters();
  steps->set_name("steps");
  steps->set_type(hpo::v1::PARAMETER_TYPE_INT);
  auto* act = space->add_parameters();
  act->set_name("act");
  act->set_type(hpo::v1::PARAMETER_TYPE_CATEGORICAL);
  act->add_categorical_values("relu");
  act->add_categorical_values("tanh");
  auto* opt = space->add_conditionals();
  opt->set_name("opt");
  opt->add_values("sgd");
  opt->add_values("lamb");
  experiment.add_metrics()->set_name("auc");
  experiment.add_metrics()->set_name("secs");
  experiment.set_observation_budget(5);
  return experiment;
}

TEST(BuildAssignmentTest, TypesFromTheSpace) {
  absl::StatusOr<hpo::v1::Assignment> assignment =
      BuildAssignment(SmallExperiment().search_space(),
                      {{"lr", "1"}, {"steps", "8000"}, {"act", "relu"}, {"opt", "lamb"}});
  ASSERT_TRUE(assignment.ok()) << assignment.status();
  const auto& values = assignment->values();
  EXPECT_EQ(values.at("lr").kind_case(), hpo::v1::ParameterValue::kNumberValue);
  EXPECT_EQ(values.at("lr").number_value(), 1.0);
  EXPECT_EQ(values.at("steps").int_value(), 8000);
  EXPECT_EQ(values.at("act").string_value(), "relu");
  EXPECT_EQ(values.at("opt").string_value(), "lamb");

  assignment = BuildAssignment(SmallExperiment().search_space(), {{"steps", "1e3"}});
  ASSERT_TRUE(assignment.ok());
  EXPECT_EQ(assignment->values().at("steps").int_value(), 1000);
}

TEST(BuildAssignmentTest, Errors) {
  const hpo::v1::SearchSpace space = SmallExperiment().search_space();
  EXPECT_THAT(BuildAssignment(space, {{"nope", "1"}}).status().message(),
              HasSubstr("unknown parameter \"nope\"; the space has: opt, lr, steps, act"));
  EXPECT_THAT(BuildAssignment(space, {{"lr", "x"}}).status().message(),
              HasSubstr("lr: expected a number, got \"x\""));
  EXPECT_THAT(BuildAssignment(space, {{"steps", "2.5"}}).status().message(),
              HasSubstr("steps: expected an integer"));
  EXPECT_THAT(BuildAssignment(space, {{"lr", "1"}, {"lr", "2"}}).status().message(),
              HasSubstr("lr is given more than once"));
}

TEST(BuildObservationRequestTest, MetricsWithSuggestion) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--suggestion", "17", "auc=0.81±0.01", "secs=12"});
  ASSERT_TRUE(command.ok());
  absl::StatusOr<hpo::v1::CreateObservationRequest> request =
      BuildObservationRequest(SmallExperiment(), *command);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->experiment_id(), 3);
  EXPECT_EQ(request->suggestion_id(), 17);
  ASSERT_EQ(request->values_size(), 2);
  EXPECT_EQ(request->values(0).name(), "auc");
  EXPECT_EQ(request->values(0).stddev(), 0.01);
  EXPECT_FALSE(request->values(1).has_stddev());
  EXPECT_FALSE(request->has_assignment());
}

TEST(BuildObservationRequestTest, PositionalParametersJoinTheAssignment) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--assignment", "lr=0.1", "opt=sgd", "steps=4", "auc=0.8"});
  ASSERT_TRUE(command.ok()) << command.status();
  absl::StatusOr<hpo::v1::CreateObservationRequest> request =
      BuildObservationRequest(SmallExperiment(), *command);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->assignment().values().at("lr").number_value(), 0.1);
  EXPECT_EQ(request->assignment().values().at("opt").string_value(), "sgd");
  EXPECT_EQ(request->assignment().values().at("steps").int_value(), 4);
  ASSERT_EQ(request->values_size(), 1);
  EXPECT_EQ(request->values(0).value(), 0.8);
}

TEST(BuildObservationRequestTest, Errors) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--suggestion", "17", "accuracy=0.8"});
  ASSERT_TRUE(command.ok());
  EXPECT_THAT(BuildObservationRequest(SmallExperiment(), *command).status().message(),
              HasSubstr("unknown metric \"accuracy\"; the experiment has: auc, secs"));
  command = Parse({"observe", "3", "--suggestion", "17", "lr=0.8"});
  ASSERT_TRUE(command.ok());
  EXPECT_THAT(BuildObservationRequest(SmallExperiment(), *command).status().message(),
              HasSubstr("\"lr\" is a parameter"));
  command = Parse({"observe", "3", "--assignment", "lr=0.1", "steps=4"});
  ASSERT_TRUE(command.ok());
  EXPECT_THAT(BuildObservationRequest(SmallExperiment(), *command).status().message(),
              HasSubstr("needs metric=value"));
}

TEST(BuildObservationRequestTest, FailedWithAssignment) {
  absl::StatusOr<CommandLine> command =
      Parse({"observe", "3", "--assignment", "lr=0.1", "--failed", "--reason", "nan loss"});
  ASSERT_TRUE(command.ok()) << command.status();
  absl::StatusOr<hpo::v1::CreateObservationRequest> request =
      BuildObservationRequest(SmallExperiment(), *command);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_TRUE(request->failed());
  EXPECT_EQ(request->failure_reason(), "nan loss");
  EXPECT_TRUE(request->values().empty());
}

// ---- Run against the in-process fake server -----------------------------------------------

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.ok()); }

  // Runs hpo-cli with `args` (the server flag is added); returns the exit code.
  int RunCli(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    args.insert(args.begin(), {"--server", server_.address(), "--timeout", "10"});
    return Main(args, nullptr, out_, err_);
  }

  std::string WriteSpec(const std::string& text) {
    // ctest runs each test in its own process, in parallel: one file per test and process.
    const std::string path =
        absl::StrCat(::testing::TempDir(), "/run_test_spec_",
                     ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
                     ::getpid(), ".yaml");
    std::ofstream(path) << text;
    return path;
  }

  int64_t CreateSmall() {
    const std::string spec = WriteSpec(
        "name: small\nsearch_space:\n  parameters:\n"
        "    - {name: x, type: double, bounds: {min: 0, max: 1}}\n"
        "    - {name: n, type: int, bounds: {min: 1, max: 4}}\n"
        "  conditionals:\n    - {name: opt, values: [sgd, lamb]}\n"
        "metrics:\n  - {name: loss, objective: minimize}\nobservation_budget: 5\n");
    EXPECT_EQ(RunCli({"create", "-f", spec}), kExitOk) << err_.str();
    EXPECT_EQ(out_.str(), "created experiment 1 (default/small)\n");
    return 1;
  }

  hpo::testing::FakeServer server_;
  std::ostringstream out_;
  std::ostringstream err_;
};

TEST_F(RunTest, HelpPrintsUsage) {
  EXPECT_EQ(Main({"help"}, nullptr, out_, err_), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("usage: hpo-cli"));
}

TEST_F(RunTest, UsageErrorExitsTwo) {
  EXPECT_EQ(Main({"get"}, nullptr, out_, err_), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("error: INVALID_ARGUMENT: get needs an experiment ID\n"));
  EXPECT_THAT(err_.str(), HasSubstr("hpo-cli help"));
}

TEST_F(RunTest, ServerErrorExitsOneWithCodeAndMessage) {
  EXPECT_EQ(RunCli({"get", "42"}), kExitServerError);
  EXPECT_EQ(err_.str(), "error: NOT_FOUND: experiment 42 not found\n");
  EXPECT_EQ(out_.str(), "");
}

TEST_F(RunTest, BadSpecExitsThree) {
  const std::string spec = WriteSpec("name: x\nobservation_budget: lots\n");
  EXPECT_EQ(RunCli({"create", "-f", spec}), kExitSpec);
  EXPECT_THAT(err_.str(), HasSubstr("error: INVALID_ARGUMENT: " + spec +
                                    ":2: observation_budget: expected a 32-bit integer"));
}

TEST_F(RunTest, CreateListGetAndJson) {
  CreateSmall();
  ASSERT_EQ(RunCli({"list"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("ID  NAME   PROJECT  STATE   OBSERVATIONS/BUDGET  OPEN  BEST"));
  EXPECT_THAT(out_.str(), HasSubstr("1   small  default  active  0/5"));

  ASSERT_EQ(RunCli({"list", "--all"}), kExitOk);
  EXPECT_EQ(server_.experiments().last_list_request().states_size(), 4);

  ASSERT_EQ(RunCli({"--json", "list"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"experiments\": ["));
  EXPECT_THAT(out_.str(), HasSubstr("\"observation_budget\": 5"));

  ASSERT_EQ(RunCli({"get", "1"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("loss"));
  EXPECT_THAT(out_.str(), HasSubstr("opt"));

  ASSERT_EQ(RunCli({"get", "1", "--json"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"experiment\": {"));
  EXPECT_THAT(out_.str(), HasSubstr("\"state\": \"EXPERIMENT_STATE_ACTIVE\""));
}

TEST_F(RunTest, QueueTypesValuesFromTheSpace) {
  CreateSmall();
  ASSERT_EQ(RunCli({"queue", "1", "x=1", "n=3", "opt=lamb"}), kExitOk) << err_.str();
  hpo::v1::QueueSuggestionRequest request = server_.experiments().last_queue_request();
  EXPECT_EQ(request.assignment().values().at("x").kind_case(),
            hpo::v1::ParameterValue::kNumberValue);
  EXPECT_EQ(request.assignment().values().at("n").int_value(), 3);
  EXPECT_EQ(request.assignment().values().at("opt").string_value(), "lamb");
  EXPECT_THAT(out_.str(), HasSubstr("suggestion 1 (queued, source queued)"));

  EXPECT_EQ(RunCli({"queue", "1", "y=1"}), kExitUsage);
  EXPECT_THAT(err_.str(), HasSubstr("unknown parameter \"y\""));
}

TEST_F(RunTest, SuggestObserveObservationsBest) {
  CreateSmall();
  ASSERT_EQ(RunCli({"suggest", "1"}), kExitOk) << err_.str();
  EXPECT_THAT(out_.str(), HasSubstr("suggestion 1 (open, source random)"));

  ASSERT_EQ(RunCli({"observe", "1", "--suggestion", "1", "loss=0.25+-0.5"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "observation 1 recorded for suggestion 1\n");
  hpo::v1::CreateObservationRequest request = server_.experiments().last_observation_request();
  ASSERT_EQ(request.values_size(), 1);
  EXPECT_EQ(request.values(0).stddev(), 0.5);

  ASSERT_EQ(RunCli({"observe", "1", "--assignment", "x=0.5,opt=sgd", "--failed"}), kExitOk);
  EXPECT_EQ(out_.str(), "observation 2 recorded (failed)\n");

  // The fake keeps no assignment for observations reported by suggestion id: row 1 has none.
  ASSERT_EQ(RunCli({"observations", "1"}), kExitOk);
  EXPECT_EQ(out_.str(),
            "ID  SUGGESTION  opt  x    n  loss      FAILED\n"
            "1   1                        0.25±0.5\n"
            "2   -           sgd  0.5               yes\n");

  ASSERT_EQ(RunCli({"observations", "1", "--format", "csv"}), kExitOk);
  EXPECT_EQ(out_.str(),
            "ID,SUGGESTION,opt,x,n,loss,loss.stddev,FAILED\r\n"
            "1,1,,,,0.25,0.5,false\r\n"
            "2,-,sgd,0.5,,,,true\r\n");

  ASSERT_EQ(RunCli({"observations", "1", "--format", "json"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("\"observations\": ["));

  ASSERT_EQ(RunCli({"best", "1"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("0.25±0.5"));

  ASSERT_EQ(RunCli({"list"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("small"));

  ASSERT_EQ(RunCli({"suggestions", "1"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("1   open   random"));

  ASSERT_EQ(RunCli({"checkpoints", "1", "1"}), kExitOk);
  EXPECT_THAT(out_.str(), HasSubstr("STEP  ELAPSED_S  auc"));
}

TEST_F(RunTest, StateChanges) {
  CreateSmall();
  ASSERT_EQ(RunCli({"pause", "1"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "experiment 1 is now paused\n");
  ASSERT_EQ(RunCli({"resume", "1"}), kExitOk);
  EXPECT_EQ(out_.str(), "experiment 1 is now active\n");
  ASSERT_EQ(RunCli({"archive", "1"}), kExitOk);
  EXPECT_EQ(out_.str(), "experiment 1 is now archived\n");
  EXPECT_EQ(RunCli({"pause", "9"}), kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("error: NOT_FOUND: "));
}

TEST_F(RunTest, TimeoutFlagSetsTheDeadline) {
  out_.str("");
  err_.str("");
  EXPECT_EQ(Main({"--server", server_.address(), "--timeout", "0.1", "get",
                  absl::StrCat(hpo::testing::kSlowExperimentId)},
                 nullptr, out_, err_),
            kExitServerError);
  EXPECT_THAT(err_.str(), HasSubstr("error: DEADLINE_EXCEEDED: "));
}

}  // namespace
}  // namespace hpo::cli
