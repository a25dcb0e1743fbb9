#include "client/spec.h"

#include <cmath>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hpo/v1/experiment_service.pb.h"
#include "server/space/validation.h"
#include "tests/testing/status_matchers.h"

namespace hpo::client {
namespace {

using ::testing::HasSubstr;

std::string ExamplePath(const std::string& name) {
  return std::string(HPO_SOURCE_DIR) + "/deploy/examples/" + name;
}

hpo::v1::Experiment ParseOk(const std::string& text) {
  absl::StatusOr<hpo::v1::Experiment> experiment = ParseExperimentSpec(text, "spec.yaml");
  EXPECT_TRUE(experiment.ok()) << experiment.status();
  return experiment.ok() ? *experiment : hpo::v1::Experiment();
}

std::string ParseError(const std::string& text) {
  absl::StatusOr<hpo::v1::Experiment> experiment = ParseExperimentSpec(text, "spec.yaml");
  EXPECT_FALSE(experiment.ok());
  EXPECT_EQ(experiment.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(experiment.status().message());
}

const hpo::v1::Parameter* FindParameter(const hpo::v1::Experiment& experiment,
                                        const std::string& name) {
  for (const auto& parameter : experiment.search_space().parameters()) {
    if (parameter.name() == name) return &parameter;
  }
  return nullptr;
}

TEST(SpecExamplesTest, DlrmParses) {
  absl::StatusOr<hpo::v1::Experiment> experiment = LoadExperimentSpec(ExamplePath("dlrm.yaml"));
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  EXPECT_EQ(experiment->observation_budget(), 30);
  EXPECT_EQ(experiment->parallel_bandwidth(), 2);
  const hpo::v1::Parameter* lr = FindParameter(*experiment, "learning_rate");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->type(), hpo::v1::PARAMETER_TYPE_DOUBLE);
  EXPECT_EQ(lr->transformation(), hpo::v1::TRANSFORMATION_LOG);
  EXPECT_EQ(lr->bounds().min(), 0.001);
  EXPECT_EQ(lr->bounds().max(), 10);
  const hpo::v1::Parameter* beta1 = FindParameter(*experiment, "lamb_beta1");
  ASSERT_NE(beta1, nullptr);
  ASSERT_EQ(beta1->conditions_size(), 1);
  EXPECT_EQ(beta1->conditions(0).name(), "optimizer");
  EXPECT_THAT(beta1->conditions(0).values(), ::testing::ElementsAre("lamb"));
  ASSERT_EQ(experiment->search_space().conditionals_size(), 1);
  EXPECT_THAT(experiment->search_space().conditionals(0).values(),
              ::testing::ElementsAre("sgd", "lamb"));
  ASSERT_EQ(experiment->search_space().linear_constraints_size(), 2);
  const auto& constraint = experiment->search_space().linear_constraints(0);
  EXPECT_EQ(constraint.type(), hpo::v1::CONSTRAINT_TYPE_LESS_THAN);
  EXPECT_EQ(constraint.terms_size(), 2);
  ASSERT_EQ(experiment->metrics_size(), 2);
  EXPECT_EQ(experiment->metrics(0).objective(), hpo::v1::OBJECTIVE_MAXIMIZE);
  EXPECT_FALSE(experiment->metrics(1).has_threshold());
  EXPECT_EQ(experiment->metrics(1).strategy(), hpo::v1::METRIC_STRATEGY_STORE);
  EXPECT_TRUE(experiment->pruner().has_successive_halving());
  EXPECT_EQ(experiment->pruner().successive_halving().reduction_factor(), 3);
  EXPECT_EQ(experiment->training().max_steps(), 3000);
  EXPECT_EQ(experiment->training().parameter_mapping().at("learning_rate"), "learning_rate");
  EXPECT_EQ(experiment->training().fixed_options().at("batch_size"), "512");
  EXPECT_EQ(experiment->metadata().at("model"), "dlrm");
}

TEST(SpecExamplesTest, DlrmMultinodeParsesAndValidates) {
  absl::StatusOr<hpo::v1::Experiment> experiment =
      LoadExperimentSpec(ExamplePath("dlrm-multinode.yaml"));
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  EXPECT_EQ(experiment->training().ranks_per_trial(), 4);
  EXPECT_EQ(experiment->training().fixed_options().at("rank_memory_mb"), "65536");
  EXPECT_EQ(experiment->training().fixed_options().at("data_source"), "binary");
  HPO_EXPECT_OK(hpo::space::ValidateExperiment(*experiment));
}

TEST(SpecExamplesTest, BraninJsonParses) {
  absl::StatusOr<hpo::v1::Experiment> experiment = LoadExperimentSpec(ExamplePath("branin.json"));
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  EXPECT_EQ(experiment->search_space().parameters_size(), 2);
  EXPECT_EQ(experiment->metrics(0).objective(), hpo::v1::OBJECTIVE_MINIMIZE);
  EXPECT_EQ(experiment->optimizer().seed(), 42u);
  EXPECT_EQ(experiment->search_space().parameters(0).bounds().min(), -5);
}

TEST(SpecExamplesTest, MixedParses) {
  absl::StatusOr<hpo::v1::Experiment> experiment = LoadExperimentSpec(ExamplePath("mixed.yaml"));
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  const hpo::v1::Parameter* activation = FindParameter(*experiment, "activation");
  ASSERT_NE(activation, nullptr);
  EXPECT_EQ(activation->type(), hpo::v1::PARAMETER_TYPE_CATEGORICAL);
  EXPECT_EQ(activation->default_value().string_value(), "relu");
  const hpo::v1::Parameter* batch = FindParameter(*experiment, "batch_size");
  ASSERT_NE(batch, nullptr);
  EXPECT_THAT(batch->grid(), ::testing::ElementsAre(32, 64, 128, 256));
  EXPECT_EQ(batch->default_value().int_value(), 64);
  const hpo::v1::Parameter* lr = FindParameter(*experiment, "learning_rate");
  ASSERT_NE(lr, nullptr);
  EXPECT_EQ(lr->prior().normal().mean(), 1e-3);
  const hpo::v1::Parameter* dropout = FindParameter(*experiment, "dropout");
  ASSERT_NE(dropout, nullptr);
  EXPECT_EQ(dropout->prior().beta().shape_b(), 5);
}

TEST(SpecExamplesTest, MultimetricParses) {
  absl::StatusOr<hpo::v1::Experiment> experiment =
      LoadExperimentSpec(ExamplePath("multimetric.yaml"));
  ASSERT_TRUE(experiment.ok()) << experiment.status();
  int optimized = 0;
  for (const auto& metric : experiment->metrics()) {
    optimized += metric.strategy() == hpo::v1::METRIC_STRATEGY_OPTIMIZE;
  }
  EXPECT_EQ(optimized, 2);
  EXPECT_EQ(experiment->metrics(2).strategy(), hpo::v1::METRIC_STRATEGY_CONSTRAINT);
  EXPECT_EQ(experiment->metrics(2).threshold(), 512);
}

TEST(SpecTest, ShortEnumFormsAnyCase) {
  hpo::v1::Experiment experiment = ParseOk(R"(
state: Active
search_space:
  parameters:
    - {name: a, type: DOUBLE, transformation: Log}
    - {name: b, type: int}
    - {name: c, type: PARAMETER_TYPE_CATEGORICAL}
    - {name: d, type: parameter_type_double}
  linear_constraints:
    - {type: less-than}
    - {type: GREATER_THAN}
metrics:
  - {name: m, objective: minimize, strategy: constraint, reduction: max}
  - {name: n, objective: 1, strategy: store}
)");
  const auto& parameters = experiment.search_space().parameters();
  EXPECT_EQ(experiment.state(), hpo::v1::EXPERIMENT_STATE_ACTIVE);
  EXPECT_EQ(parameters[0].type(), hpo::v1::PARAMETER_TYPE_DOUBLE);
  EXPECT_EQ(parameters[0].transformation(), hpo::v1::TRANSFORMATION_LOG);
  EXPECT_EQ(parameters[1].type(), hpo::v1::PARAMETER_TYPE_INT);
  EXPECT_EQ(parameters[2].type(), hpo::v1::PARAMETER_TYPE_CATEGORICAL);
  EXPECT_EQ(parameters[3].type(), hpo::v1::PARAMETER_TYPE_DOUBLE);
  EXPECT_EQ(experiment.search_space().linear_constraints(0).type(),
            hpo::v1::CONSTRAINT_TYPE_LESS_THAN);
  EXPECT_EQ(experiment.search_space().linear_constraints(1).type(),
            hpo::v1::CONSTRAINT_TYPE_GREATER_THAN);
  EXPECT_EQ(experiment.metrics(0).objective(), hpo::v1::OBJECTIVE_MINIMIZE);
  EXPECT_EQ(experiment.metrics(0).strategy(), hpo::v1::METRIC_STRATEGY_CONSTRAINT);
  EXPECT_EQ(experiment.metrics(0).reduction(), hpo::v1::CURVE_REDUCTION_MAX);
  EXPECT_EQ(experiment.metrics(1).objective(), hpo::v1::OBJECTIVE_MAXIMIZE);
}

TEST(SpecTest, BadEnumListsTheShortNames) {
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n    - {name: a, type: float}\n"),
              HasSubstr("spec.yaml:3: search_space.parameters[0].type: expected one of: "
                        "double, int, categorical, got \"float\""));
}

TEST(SpecTest, DefaultValueFollowsTheParameterType) {
  hpo::v1::Experiment experiment = ParseOk(R"(
search_space:
  parameters:
    - {name: d, default_value: 0.01, type: double}
    - {name: d1, type: double, default_value: 1}
    - {name: i, type: int, default_value: 8000}
    - {name: i2, type: int, default_value: 1e3}
    - {name: c, type: categorical, default_value: 10}
    - {name: n, type: categorical, default_value: {string_value: x}}
)");
  const auto& p = experiment.search_space().parameters();
  EXPECT_EQ(p[0].default_value().kind_case(), hpo::v1::ParameterValue::kNumberValue);
  EXPECT_EQ(p[0].default_value().number_value(), 0.01);
  EXPECT_EQ(p[1].default_value().kind_case(), hpo::v1::ParameterValue::kNumberValue);
  EXPECT_EQ(p[1].default_value().number_value(), 1.0);
  EXPECT_EQ(p[2].default_value().kind_case(), hpo::v1::ParameterValue::kIntValue);
  EXPECT_EQ(p[2].default_value().int_value(), 8000);
  EXPECT_EQ(p[3].default_value().int_value(), 1000);
  EXPECT_EQ(p[4].default_value().kind_case(), hpo::v1::ParameterValue::kStringValue);
  EXPECT_EQ(p[4].default_value().string_value(), "10");
  EXPECT_EQ(p[5].default_value().string_value(), "x");
}

TEST(SpecTest, DefaultValueOfTheWrongKindIsAnError) {
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n"
                         "    - name: i\n      type: int\n      default_value: 2.5\n"),
              HasSubstr("spec.yaml:5: search_space.parameters[0].default_value: expected an "
                        "integer for an int parameter, got \"2.5\""));
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n"
                         "    - {name: d, type: double, default_value: abc}\n"),
              HasSubstr("expected a number for a double parameter, got \"abc\""));
}

TEST(SpecTest, ErrorsNameThePathAndLine) {
  const std::string message = ParseError(R"(name: x
search_space:
  parameters:
    - name: lr
      type: double
      bounds:
        min: 0
        max: 1
    - name: other
      type: double
      bounds:
        min: abc
        max: 1
)");
  EXPECT_EQ(message,
            "spec.yaml:12: search_space.parameters[1].bounds.min: expected a number, got \"abc\"");
}

TEST(SpecTest, UnknownFieldIsNamedWithASuggestion) {
  EXPECT_EQ(ParseError("name: x\nsearch_space:\n  parameters:\n    - name: a\n      bound: {}\n"),
            "spec.yaml:5: search_space.parameters[0]: unknown field \"bound\" in hpo.v1.Parameter "
            "(did you mean \"bounds\"?)");
  EXPECT_THAT(ParseError("frobnicate: 1\n"),
              HasSubstr("spec.yaml:1: unknown field \"frobnicate\" in hpo.v1.Experiment"));
}

TEST(SpecTest, CamelCaseJsonNamesAndJson) {
  hpo::v1::Experiment experiment = ParseOk(R"({
  "name": "j",
  "observationBudget": 12,
  "parallelBandwidth": 3,
  "searchSpace": {"parameters": [{"name": "x", "type": "double",
                                   "bounds": {"min": 0, "max": 1}, "defaultValue": 0.5,
                                   "categoricalValues": []}]},
  "metrics": [{"name": "m", "threshold": 0}]
})");
  EXPECT_EQ(experiment.observation_budget(), 12);
  EXPECT_EQ(experiment.parallel_bandwidth(), 3);
  EXPECT_EQ(experiment.search_space().parameters(0).default_value().number_value(), 0.5);
  EXPECT_TRUE(experiment.metrics(0).has_threshold());  // proto3 optional: set even when 0
  EXPECT_EQ(experiment.metrics(0).threshold(), 0);
}

TEST(SpecTest, TabIndentedJsonParses) {
  hpo::v1::Experiment experiment =
      ParseOk("{\n\t\"name\": \"t\",\n\t\"metrics\": [\n\t\t{\"name\": \"m\"}\n\t]\n}\n");
  EXPECT_EQ(experiment.name(), "t");
  EXPECT_EQ(experiment.metrics(0).name(), "m");
}

TEST(SpecTest, OneofAlternativesAreExclusive) {
  hpo::v1::Experiment experiment = ParseOk(
      "search_space:\n  parameters:\n    - name: a\n      prior: {normal: {mean: 1, scale: 2}}\n"
      "pruner:\n  hyperband: {}\n");
  EXPECT_TRUE(experiment.search_space().parameters(0).prior().has_normal());
  EXPECT_EQ(experiment.search_space().parameters(0).prior().normal().scale(), 2);
  EXPECT_TRUE(experiment.pruner().has_hyperband());  // an empty mapping still selects it

  EXPECT_THAT(ParseError("search_space:\n  parameters:\n    - name: a\n      prior:\n"
                         "        normal: {mean: 1, scale: 2}\n"
                         "        beta: {shape_a: 1, shape_b: 1}\n"),
              HasSubstr("spec.yaml:6: search_space.parameters[0].prior.beta: \"normal\" and "
                        "\"beta\" are alternatives"));
}

TEST(SpecTest, MapsAndRepeatedScalars) {
  hpo::v1::Experiment experiment = ParseOk(
      "metadata:\n  owner: ads\n  version: 3\nsearch_space:\n  parameters:\n"
      "    - {name: g, type: double, grid: [1, 2.5, 1e3]}\n");
  EXPECT_EQ(experiment.metadata().at("owner"), "ads");
  EXPECT_EQ(experiment.metadata().at("version"), "3");
  EXPECT_THAT(experiment.search_space().parameters(0).grid(), ::testing::ElementsAre(1, 2.5, 1000));
  EXPECT_THAT(ParseError("metadata: [a, b]\n"),
              HasSubstr("spec.yaml:1: metadata: expected a mapping, got a list"));
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n    - {name: g, grid: 3}\n"),
              HasSubstr("search_space.parameters[0].grid: expected a list, got \"3\""));
  EXPECT_THAT(ParseError("metadata:\n  owner: [x]\n"),
              HasSubstr("spec.yaml:2: metadata[\"owner\"]: expected a string, got a list"));
}

TEST(SpecTest, IntegersAcceptIntegralNumbersOnly) {
  hpo::v1::Experiment experiment =
      ParseOk("observation_budget: 4e1\noptimizer: {seed: \"18446744073709551615\"}\n");
  EXPECT_EQ(experiment.observation_budget(), 40);
  EXPECT_EQ(experiment.optimizer().seed(), 18446744073709551615ull);
  EXPECT_THAT(ParseError("observation_budget: 2.5\n"),
              HasSubstr("spec.yaml:1: observation_budget: expected a 32-bit integer, got \"2.5\""));
  EXPECT_THAT(ParseError("observation_budget: 99999999999\n"),
              HasSubstr("expected a 32-bit integer"));
  EXPECT_THAT(ParseError("optimizer: {seed: -1}\n"), HasSubstr("optimizer.seed"));
}

TEST(SpecTest, NullLeavesFieldsUnset) {
  hpo::v1::Experiment experiment = ParseOk("name: n\npruner: ~\nmetrics:\n");
  EXPECT_FALSE(experiment.has_pruner());
  EXPECT_TRUE(experiment.metrics().empty());
}

TEST(SpecTest, DuplicateFieldsAreErrors) {
  EXPECT_THAT(ParseError("observation_budget: 1\nobservationBudget: 2\n"),
              HasSubstr("spec.yaml:2: observation_budget: given more than once"));
}

TEST(SpecTest, WrongShapesAreErrors) {
  EXPECT_THAT(ParseError("- a\n- b\n"),
              HasSubstr("spec.yaml:1: expected a mapping (hpo.v1.Experiment), got a list"));
  EXPECT_THAT(ParseError("search_space: 3\n"),
              HasSubstr("search_space: expected a mapping (hpo.v1.SearchSpace), got \"3\""));
  EXPECT_THAT(ParseError("name: [1]\n"), HasSubstr("name: expected a string, got a list"));
}

TEST(SpecTest, InvalidYamlAndEmptyDocuments) {
  EXPECT_THAT(ParseError("name: x\nmetrics: [\n"), HasSubstr("invalid YAML"));
  EXPECT_THAT(ParseError(""), HasSubstr("spec.yaml: the spec is empty"));
  EXPECT_THAT(ParseError("# only a comment\n"), HasSubstr("the spec is empty"));
}

TEST(SpecTest, SpecialDoublesAndTimestamps) {
  hpo::v1::Experiment experiment = ParseOk(
      "search_space:\n  parameters:\n    - {name: a, bounds: {min: -.inf, max: .inf}}\n"
      "create_time: \"2024-05-01T13:45:07Z\"\n");
  EXPECT_TRUE(std::isinf(experiment.search_space().parameters(0).bounds().min()));
  EXPECT_EQ(experiment.create_time().seconds(), 1714571107);
  EXPECT_THAT(ParseError("create_time: yesterday\n"), HasSubstr("expected an RFC 3339 time"));
}

// Found by tests/fuzz/spec_yaml_fuzzer: bytes that are not UTF-8 reached proto3 string fields,
// so the request failed on the server ("failed to parse") instead of here, naming the field.
TEST(SpecTest, StringsMustBeUtf8) {
  EXPECT_THAT(ParseError("name: \xfe\n"),
              HasSubstr("spec.yaml:1: name: expected UTF-8 text, got \"\\xfe\""));
  EXPECT_THAT(ParseError("metadata:\n  \"k\xc3\": v\n"),
              HasSubstr("spec.yaml:2: metadata[\"k\\xc3\"]: expected UTF-8 text"));
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n"
                         "    - {name: c, type: categorical, default_value: \"\xed\xa0\x80\"}\n"),
              HasSubstr("search_space.parameters[0].default_value: expected UTF-8 text"));
  EXPECT_THAT(ParseError("search_space:\n  parameters:\n    - {name: c, default_value: \xc0\xaf}\n"),
              HasSubstr("search_space.parameters[0].default_value: expected UTF-8 text"));
  const std::string name = "gr\xc3\xbc\xc3\x9f" "e \xf0\x9f\x98\x80";  // "grüße 😀"
  EXPECT_EQ(ParseOk("name: \"" + name + "\"\n").name(), name);
}

// Found by tests/fuzz/spec_json_fuzzer: yaml-cpp took a lone "\r" (a YAML line break, and JSON
// whitespace) for part of the next key.
TEST(SpecTest, CarriageReturnsAreLineBreaks) {
  hpo::v1::Experiment experiment =
      ParseOk("{\"name\": \"t\",\r\"metrics\": [{\"name\": \"m\"}]}\r");
  EXPECT_EQ(experiment.name(), "t");
  ASSERT_EQ(experiment.metrics_size(), 1);
  experiment = ParseOk("name: t\rproject: p\r\nobservation_budget: 3\r");
  EXPECT_EQ(experiment.project(), "p");
  EXPECT_EQ(experiment.observation_budget(), 3);
  EXPECT_THAT(ParseError("name: t\rbudget: 3\r"), HasSubstr("spec.yaml:2: unknown field \"budget\""));
}

TEST(SpecTest, GenericMessagesAndAssignmentValuesAreGuessed) {
  hpo::v1::QueueSuggestionRequest request;
  absl::Status status =
      ParseSpecInto("experiment_id: 3\nassignment:\n  values: {a: 1, b: 0.5, c: sgd, d: \"7\"}\n",
                    "q.yaml", &request);
  ASSERT_TRUE(status.ok()) << status;
  const auto& values = request.assignment().values();
  EXPECT_EQ(values.at("a").int_value(), 1);
  EXPECT_EQ(values.at("b").number_value(), 0.5);
  EXPECT_EQ(values.at("c").string_value(), "sgd");
  EXPECT_EQ(values.at("d").string_value(), "7");
}

TEST(SpecTest, MissingFileIsNotFound) {
  EXPECT_EQ(LoadExperimentSpec("/nonexistent/spec.yaml").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SpecTest, FileErrorsNameTheFile) {
  const std::string path = ::testing::TempDir() + "/bad_spec.yaml";
  {
    std::ofstream file(path);
    file << "name: x\nobservation_budget: lots\n";
  }
  absl::StatusOr<hpo::v1::Experiment> experiment = LoadExperimentSpec(path);
  EXPECT_EQ(experiment.status().message(),
            path + ":2: observation_budget: expected a 32-bit integer, got \"lots\"");
}

}  // namespace
}  // namespace hpo::client
