#include "client/cli/format.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hpo/v1/experiment_service.pb.h"

namespace hpo::cli {
namespace {

using ::testing::HasSubstr;

hpo::v1::Experiment TwoParameterExperiment() {
  hpo::v1::Experiment experiment;
  experiment.set_id(7);
  experiment.set_name("demo");
  experiment.set_project("p");
  experiment.set_state(hpo::v1::EXPERIMENT_STATE_ACTIVE);
  experiment.set_observation_budget(40);
  experiment.mutable_progress()->set_observation_count(3);
  experiment.mutable_progress()->set_open_suggestion_count(2);
  experiment.mutable_create_time()->set_seconds(1714571107);
  auto* space = experiment.mutable_search_space();
  auto* lr = space->add_parameters();
  lr->set_name("lr");
  lr->set_type(hpo::v1::PARAMETER_TYPE_DOUBLE);
  lr->mutable_bounds()->set_min(0.01);
  lr->mutable_bounds()->set_max(30);
  lr->set_transformation(hpo::v1::TRANSFORMATION_LOG);
  auto* steps = space->add_parameters();
  steps->set_name("steps");
  steps->set_type(hpo::v1::PARAMETER_TYPE_INT);
  steps->add_conditions()->set_name("opt");
  steps->mutable_conditions(0)->add_values("sgd");
  auto* opt = space->add_conditionals();
  opt->set_name("opt");
  opt->add_values("sgd");
  opt->add_values("lamb");
  auto* auc = experiment.add_metrics();
  auc->set_name("auc");
  auc->set_objective(hpo::v1::OBJECTIVE_MAXIMIZE);
  auc->set_threshold(0.8025);
  auto* seconds = experiment.add_metrics();
  seconds->set_name("train_seconds");
  seconds->set_strategy(hpo::v1::METRIC_STRATEGY_STORE);
  return experiment;
}

hpo::v1::Observation MakeObservation(int64_t id, double lr, const std::string& opt, double auc,
                                     std::optional<double> stddev) {
  hpo::v1::Observation observation;
  observation.set_id(id);
  observation.set_suggestion_id(id + 10);
  auto& values = *observation.mutable_assignment()->mutable_values();
  values["lr"].set_number_value(lr);
  values["opt"].set_string_value(opt);
  auto* value = observation.add_values();
  value->set_name("auc");
  value->set_value(auc);
  if (stddev) value->set_stddev(*stddev);
  return observation;
}

TEST(RenderTableTest, AlignsColumnsWithoutTrailingSpaces) {
  Table table{{"ID", "NAME", "X"}, {{"1", "a", ""}, {"100", "longer", "z"}}};
  EXPECT_EQ(RenderTable(table),
            "ID   NAME    X\n"
            "1    a\n"
            "100  longer  z\n");
}

TEST(RenderTableTest, CountsPlusMinusAsOneColumn) {
  Table table{{"A", "B"}, {{"1±2", "x"}, {"1234", "y"}}};
  EXPECT_EQ(RenderTable(table), "A     B\n1±2   x\n1234  y\n");
}

TEST(CsvTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvField("cr\r"), "\"cr\r\"");
  EXPECT_EQ(CsvField(""), "");
}

TEST(CsvTest, FormulasBecomeText) {
  EXPECT_EQ(CsvField("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
  EXPECT_EQ(CsvField("=1+2"), "'=1+2");
  EXPECT_EQ(CsvField("+cmd"), "'+cmd");
  EXPECT_EQ(CsvField("-2+3"), "'-2+3");
  EXPECT_EQ(CsvField("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(CsvField("\tx"), "'\tx");
  EXPECT_EQ(CsvField("\rx"), "\"'\rx\"");
  // Numbers stay numbers.
  EXPECT_EQ(CsvField("-1.5"), "-1.5");
  EXPECT_EQ(CsvField("-2e-05"), "-2e-05");
  EXPECT_EQ(CsvField("+3"), "+3");
  EXPECT_EQ(CsvField("-inf"), "-inf");
  EXPECT_EQ(CsvField("a=b"), "a=b");
  EXPECT_EQ(CsvField("-"), "-");  // the tables' "none"
}

TEST(CsvTest, RendersRfc4180Lines) {
  Table table{{"ID", "NOTE"}, {{"1", "a,b"}, {"2"}}};
  EXPECT_EQ(RenderCsv(table), "ID,NOTE\r\n1,\"a,b\"\r\n2,\r\n");
}

TEST(FormatTest, DoublesAreShortestRoundTrip) {
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(30), "30");
  EXPECT_EQ(FormatDouble(1e-5), "1e-05");
  EXPECT_EQ(FormatDouble(0.8025), "0.8025");
  EXPECT_EQ(FormatDouble(-2.5), "-2.5");
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "inf");
}

TEST(FormatTest, ParameterValuesAndTimes) {
  hpo::v1::ParameterValue value;
  EXPECT_EQ(FormatParameterValue(value), "");
  value.set_int_value(8000);
  EXPECT_EQ(FormatParameterValue(value), "8000");
  value.set_string_value("lamb");
  EXPECT_EQ(FormatParameterValue(value), "lamb");
  google::protobuf::Timestamp time;
  EXPECT_EQ(FormatTimestamp(time), "-");
  time.set_seconds(1714571107);
  EXPECT_EQ(FormatTimestamp(time), "2024-05-01 13:45:07");
}

TEST(FormatTest, ShortEnumNames) {
  EXPECT_EQ(ShortEnumName(hpo::v1::ExperimentState_descriptor(), hpo::v1::EXPERIMENT_STATE_PAUSED),
            "paused");
  EXPECT_EQ(ShortEnumName(hpo::v1::Transformation_descriptor(), hpo::v1::TRANSFORMATION_LOG),
            "log");
  EXPECT_EQ(ShortEnumName(hpo::v1::SuggestionState_descriptor(), 99), "99");
}

TEST(ExperimentListTableTest, HasTheDocumentedColumns) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  std::string text = RenderTable(ExperimentListTable({experiment}, {{7, "0.81"}}));
  EXPECT_EQ(text,
            "ID  NAME  PROJECT  STATE   OBSERVATIONS/BUDGET  OPEN  BEST  CREATED\n"
            "7   demo  p        active  3/40                 2     0.81  2024-05-01 13:45:07\n");
}

TEST(BestSummaryTest, SingleParetoAndNone) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  EXPECT_EQ(BestSummary(experiment, {}), "-");
  EXPECT_EQ(BestSummary(experiment, {MakeObservation(1, 0.1, "sgd", 0.81, {})}), "0.81");
  EXPECT_EQ(BestSummary(experiment, {MakeObservation(1, 0.1, "sgd", 0.81, {}),
                                     MakeObservation(2, 0.1, "sgd", 0.8, {})}),
            "2 pareto");
}

TEST(ObservationTableTest, OneColumnPerParameterAndMetric) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  hpo::v1::Observation failed;
  failed.set_id(3);
  failed.set_failed(true);
  std::string text = RenderTable(ObservationTable(
      experiment,
      {MakeObservation(1, 0.5, "lamb", 0.8, 0.01), MakeObservation(2, 12, "sgd", 0.79, {}), failed},
      /*for_csv=*/false));
  EXPECT_EQ(text,
            "ID  SUGGESTION  opt   lr   steps  auc       train_seconds  FAILED\n"
            "1   11          lamb  0.5         0.8±0.01\n"
            "2   12          sgd   12          0.79\n"
            "3   -                                                      yes\n");
}

TEST(ObservationTableTest, CsvSplitsStddevAndSpellsBooleans) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  experiment.mutable_search_space()->mutable_conditionals(0)->set_name("opt,name");
  hpo::v1::Observation observation = MakeObservation(1, 0.5, "a \"b\"", 0.8, 0.01);
  (*observation.mutable_assignment()->mutable_values())["opt,name"].set_string_value("x,y");
  std::string csv = RenderCsv(ObservationTable(experiment, {observation}, /*for_csv=*/true));
  EXPECT_EQ(csv,
            "ID,SUGGESTION,\"opt,name\",lr,steps,opt,auc,auc.stddev,train_seconds,FAILED\r\n"
            "1,11,\"x,y\",0.5,,\"a \"\"b\"\"\",0.8,0.01,,false\r\n");
}

TEST(SuggestionAndCheckpointTablesTest, Render) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  hpo::v1::Suggestion suggestion;
  suggestion.set_id(4);
  suggestion.set_state(hpo::v1::SUGGESTION_STATE_OPEN);
  suggestion.set_source("random");
  (*suggestion.mutable_assignment()->mutable_values())["steps"].set_int_value(5);
  EXPECT_EQ(RenderTable(SuggestionTable(experiment, {suggestion})),
            "ID  STATE  SOURCE  WORKER  opt  lr  steps  CREATED  STOPPED_AT  STOP_REASON\n"
            "4   open   random                   5      -\n");
  suggestion.set_state(hpo::v1::SUGGESTION_STATE_PRUNED);
  suggestion.set_worker_id("w-1");
  suggestion.set_stop_step(300);
  suggestion.set_stop_reason("asha: auc 0.71 below the rung");
  EXPECT_EQ(RenderTable(SuggestionTable(experiment, {suggestion})),
            "ID  STATE   SOURCE  WORKER  opt  lr  steps  CREATED  STOPPED_AT  STOP_REASON\n"
            "4   pruned  random  w-1              5      -        300         asha: auc 0.71 below the rung\n");

  hpo::v1::Checkpoint checkpoint;
  checkpoint.set_step(100);
  checkpoint.set_elapsed_seconds(2.5);
  auto* value = checkpoint.add_metrics();
  value->set_name("auc");
  value->set_value(0.75);
  EXPECT_EQ(RenderTable(CheckpointTable({checkpoint})),
            "STEP  ELAPSED_S  auc   CREATED\n"
            "100   2.5        0.75  -\n");
}

TEST(DescribeTest, ExperimentMentionsSpaceAndMetrics) {
  hpo::v1::Experiment experiment = TwoParameterExperiment();
  auto* constraint = experiment.mutable_search_space()->add_linear_constraints();
  constraint->set_type(hpo::v1::CONSTRAINT_TYPE_LESS_THAN);
  constraint->set_threshold(100);
  constraint->add_terms()->set_name("steps");
  constraint->mutable_terms(0)->set_weight(2);
  const std::string text = DescribeExperiment(experiment);
  EXPECT_THAT(text, HasSubstr("name:                demo\n"));
  EXPECT_THAT(text, HasSubstr("observations:        3/40 (0 failed)"));
  EXPECT_THAT(text, HasSubstr("auc            maximize   optimize  0.8025"));
  EXPECT_THAT(text, HasSubstr("lr         double       [0.01, 30]  log"));
  EXPECT_THAT(text, HasSubstr("opt in {sgd}"));
  EXPECT_THAT(text, HasSubstr("2*steps <= 100"));
}

TEST(DescribeTest, SuggestionListsSortedNames) {
  hpo::v1::Suggestion suggestion;
  suggestion.set_id(17);
  suggestion.set_state(hpo::v1::SUGGESTION_STATE_OPEN);
  suggestion.set_source("random");
  auto& values = *suggestion.mutable_assignment()->mutable_values();
  values["z"].set_number_value(0.5);
  values["a"].set_string_value("sgd");
  EXPECT_EQ(DescribeSuggestion(suggestion),
            "suggestion 17 (open, source random)\n"
            "NAME  VALUE\n"
            "a     sgd\n"
            "z     0.5\n");
}

TEST(JsonTest, UsesProtoNamesAndPrintsDefaults) {
  hpo::v1::ListObservationsResponse response;
  *response.add_observations() = MakeObservation(1, 0.5, "sgd", 0.8, {});
  absl::StatusOr<std::string> json = ToJson(response);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_THAT(*json, HasSubstr("\"suggestion_id\": \"11\""));
  EXPECT_THAT(*json, HasSubstr("\"failed\": false"));
  EXPECT_THAT(*json, HasSubstr("\"number_value\": 0.5"));
  EXPECT_EQ(json->back(), '\n');
}

}  // namespace
}  // namespace hpo::cli
