#include "server/space/validation.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace hpo::space {
namespace {

using hpo::v1::Assignment;
using hpo::v1::Experiment;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

// Parameters: 0 lr, 1 layers, 2 opt, 3 momentum (only when family == sgd), 4 x, 5 y.
Experiment ValidExperiment() {
  return Parse<Experiment>(R"pb(
    name: "exp1"
    project: "proj"
    search_space {
      parameters {
        name: "lr"
        type: PARAMETER_TYPE_DOUBLE
        bounds { min: 1e-5 max: 1 }
        transformation: TRANSFORMATION_LOG
      }
      parameters {
        name: "layers"
        type: PARAMETER_TYPE_INT
        bounds { min: 1 max: 8 }
        default_value { int_value: 2 }
      }
      parameters {
        name: "opt"
        type: PARAMETER_TYPE_CATEGORICAL
        categorical_values: "adam"
        categorical_values: "sgd"
      }
      parameters {
        name: "momentum"
        type: PARAMETER_TYPE_DOUBLE
        bounds { min: 0 max: 1 }
        conditions { name: "family" values: "sgd" }
      }
      parameters {
        name: "x"
        type: PARAMETER_TYPE_DOUBLE
        bounds { min: 0 max: 1 }
        prior { normal { mean: 0.5 scale: 0.2 } }
      }
      parameters { name: "y" type: PARAMETER_TYPE_DOUBLE grid: 0.1 grid: 0.2 grid: 0.5 }
      conditionals { name: "family" values: "adam" values: "sgd" }
      linear_constraints {
        terms { name: "x" weight: 1 }
        terms { name: "y" weight: 1 }
        threshold: 1.2
        type: CONSTRAINT_TYPE_LESS_THAN
      }
    }
    metrics { name: "auc" objective: OBJECTIVE_MAXIMIZE }
    metrics {
      name: "latency"
      strategy: METRIC_STRATEGY_CONSTRAINT
      threshold: 10
      objective: OBJECTIVE_MINIMIZE
    }
    metrics { name: "loss" strategy: METRIC_STRATEGY_STORE }
    observation_budget: 20
    pruner { median { startup_trials: 3 } }
    metadata { key: "owner" value: "me" }
  )pb");
}

hpo::v1::Parameter* Param(Experiment* e, int i) {
  return e->mutable_search_space()->mutable_parameters(i);
}

::testing::AssertionResult IsInvalid(const absl::Status& s, const std::string& substr) {
  if (s.code() != absl::StatusCode::kInvalidArgument) {
    return ::testing::AssertionFailure() << "expected INVALID_ARGUMENT, got " << s;
  }
  if (std::string(s.message()).find(substr) == std::string::npos) {
    return ::testing::AssertionFailure() << "message \"" << s.message() << "\" lacks \"" << substr << "\"";
  }
  return ::testing::AssertionSuccess();
}

#define EXPECT_INVALID(e, substr) EXPECT_TRUE(IsInvalid(ValidateExperiment(e), substr))

TEST(ValidateExperiment, AcceptsValidExperiment) {
  absl::Status s = ValidateExperiment(ValidExperiment());
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateExperiment, AcceptsUnspecifiedEnumsAndZeroBandwidth) {
  Experiment e = ValidExperiment();
  e.clear_project();
  e.set_parallel_bandwidth(0);
  e.mutable_metrics(0)->set_objective(hpo::v1::OBJECTIVE_UNSPECIFIED);
  e.mutable_metrics(0)->set_strategy(hpo::v1::METRIC_STRATEGY_UNSPECIFIED);
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateExperiment, RequiresName) {
  Experiment e = ValidExperiment();
  e.clear_name();
  EXPECT_INVALID(e, "name: is required");
}

TEST(ValidateExperiment, AcceptsDisplayNames) {
  Experiment e = ValidExperiment();
  for (const std::string& name : std::vector<std::string>{"Classifier Accuracy", "1st run (lr sweep)", "Точность модели",
                                 "精度 テスト", "emoji \xF0\x9F\x9A\x80", std::string(128, 'a')}) {
    e.set_name(name);
    absl::Status s = ValidateExperiment(e);
    EXPECT_TRUE(s.ok()) << name << ": " << s;
  }
  // 128 two-byte characters (256 bytes) are 128 characters.
  std::string accents;
  for (int i = 0; i < 128; ++i) accents += "\xC3\xA9";
  e.set_name(accents);
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateExperiment, RejectsBadDisplayNames) {
  Experiment e = ValidExperiment();
  e.set_name(std::string(129, 'a'));
  EXPECT_INVALID(e, "must be at most 128 characters");
  e.set_name("tab\there");
  EXPECT_INVALID(e, "name: \"tab\\there\" must not contain control characters (U+0009 at byte 3)");
  e.set_name("line\nbreak");
  EXPECT_INVALID(e, "control characters");
  e.set_name("c1 \xC2\x85");
  EXPECT_INVALID(e, "control characters (U+0085");
  e.set_name("bad \xC3");
  EXPECT_INVALID(e, "is not valid UTF-8 (at byte 4)");
  e.set_name("overlong \xC0\xAF");
  EXPECT_INVALID(e, "is not valid UTF-8");
  e.set_name("surrogate \xED\xA0\x80");
  EXPECT_INVALID(e, "is not valid UTF-8");
}

TEST(ValidateExperiment, ParameterNamesStayIdentifiers) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->set_name("num layers");
  EXPECT_INVALID(e, "search_space.parameters[1] (num layers).name: \"num layers\" must match");
}

TEST(ValidateExperiment, RejectsBadProjectPattern) {
  Experiment e = ValidExperiment();
  e.set_project("my project");
  EXPECT_INVALID(e, "project:");
}

TEST(ValidateExperiment, RequiresAParameter) {
  Experiment e = ValidExperiment();
  e.mutable_search_space()->clear_parameters();
  e.mutable_search_space()->clear_linear_constraints();
  EXPECT_INVALID(e, "search_space.parameters: at least one parameter");
}

TEST(ValidateExperiment, RejectsUnspecifiedParameterType) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_type(hpo::v1::PARAMETER_TYPE_UNSPECIFIED);
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).type");
}

TEST(ValidateExperiment, RejectsUnknownParameterType) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_type(static_cast<hpo::v1::ParameterType>(42));
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).type: unknown");
}

TEST(ValidateExperiment, RejectsBadParameterName) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_name("bad name");
  EXPECT_INVALID(e, "search_space.parameters[2] (bad name).name");
}

TEST(ValidateExperiment, RejectsDuplicateParameterNames) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_name("lr");
  EXPECT_INVALID(e, "search_space.parameters[2] (lr).name: duplicate name");
}

TEST(ValidateExperiment, RejectsParameterNamedLikeConditional) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_name("family");
  EXPECT_INVALID(e, "search_space.parameters[2] (family).name: duplicate name");
}

TEST(ValidateExperiment, RejectsDuplicateMetricNames) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(2)->set_name("auc");
  EXPECT_INVALID(e, "metrics[2] (auc).name: duplicate metric name");
}

TEST(ValidateExperiment, NumericParameterNeedsBoundsWithoutGrid) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->clear_bounds();
  Param(&e, 1)->clear_default_value();
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).bounds: required");
}

TEST(ValidateExperiment, GridReplacesBounds) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->clear_bounds();
  Param(&e, 1)->add_grid(2);
  Param(&e, 1)->add_grid(4);
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateExperiment, RejectsMinNotBelowMax) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_bounds()->set_min(1);
  EXPECT_INVALID(e, "search_space.parameters[4] (x).bounds: min (1) must be < max (1)");
}

TEST(ValidateExperiment, RejectsNonFiniteBounds) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_bounds()->set_max(INFINITY);
  EXPECT_INVALID(e, "search_space.parameters[4] (x).bounds: min and max must be finite");
}

// Found with tests/fuzz/validation_fuzzer's invariant (a validated space yields suggestions that
// validate): the samplers proposed NaN and infinity here (min + u * (max - min), infinite width).
TEST(ValidateExperiment, RejectsBoundsWhoseWidthOverflows) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_bounds()->set_min(-1e308);
  Param(&e, 4)->mutable_bounds()->set_max(1e308);
  Param(&e, 4)->mutable_prior()->Clear();
  EXPECT_INVALID(e, "search_space.parameters[4] (x).bounds: max - min must be finite");
  Param(&e, 4)->mutable_bounds()->set_min(0);
  EXPECT_TRUE(ValidateExperiment(e).ok()) << ValidateExperiment(e);
}

TEST(ValidateExperiment, RejectsFractionalIntBounds) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->mutable_bounds()->set_max(8.5);
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).bounds: min (1) and max (8.5) must be integers");
}

TEST(ValidateExperiment, RejectsLogWithNonPositiveMin) {
  Experiment e = ValidExperiment();
  Param(&e, 0)->mutable_bounds()->set_min(0);
  EXPECT_INVALID(e, "search_space.parameters[0] (lr).bounds: min (0) must be > 0 with transformation log");
}

TEST(ValidateExperiment, RejectsLogWithNonPositiveGridValue) {
  Experiment e = ValidExperiment();
  Param(&e, 0)->clear_bounds();
  Param(&e, 0)->add_grid(0);
  Param(&e, 0)->add_grid(0.1);
  EXPECT_INVALID(e, "search_space.parameters[0] (lr).grid[0]: 0 must be > 0 with transformation log");
}

TEST(ValidateExperiment, CategoricalNeedsTwoValues) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->mutable_categorical_values()->RemoveLast();
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).categorical_values: at least 2");
}

TEST(ValidateExperiment, RejectsDuplicateCategoricalValues) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->add_categorical_values("adam");
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).categorical_values[2]: duplicate");
}

TEST(ValidateExperiment, RejectsCategoricalValuesOnNumeric) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->add_categorical_values("a");
  EXPECT_INVALID(e, "search_space.parameters[4] (x).categorical_values: only allowed");
}

TEST(ValidateExperiment, RejectsBoundsOnCategorical) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->mutable_bounds()->set_max(1);
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).bounds: not allowed");
}

TEST(ValidateExperiment, RejectsGridOnCategorical) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->add_grid(1);
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).grid: not allowed");
}

TEST(ValidateExperiment, RejectsTransformationOnCategorical) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->set_transformation(hpo::v1::TRANSFORMATION_LOG);
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).transformation: not allowed");
}

TEST(ValidateExperiment, RejectsPriorOnCategorical) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->mutable_prior()->mutable_beta()->set_shape_a(1);
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).prior: not allowed");
}

TEST(ValidateExperiment, GridNeedsTwoUniqueValues) {
  Experiment e = ValidExperiment();
  Param(&e, 5)->clear_grid();
  Param(&e, 5)->add_grid(0.1);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).grid: at least 2 unique values");
  Param(&e, 5)->add_grid(0.1);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).grid[1]: duplicate value");
}

TEST(ValidateExperiment, RejectsNonFiniteGridValue) {
  Experiment e = ValidExperiment();
  Param(&e, 5)->add_grid(NAN);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).grid[3]: must be finite");
}

TEST(ValidateExperiment, RejectsGridValueOutsideBounds) {
  Experiment e = ValidExperiment();
  Param(&e, 5)->mutable_bounds()->set_min(0);
  Param(&e, 5)->mutable_bounds()->set_max(0.3);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).grid[2]: 0.5 is outside the bounds");
}

TEST(ValidateExperiment, RejectsFractionalIntGridValue) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->clear_bounds();
  Param(&e, 1)->clear_default_value();
  Param(&e, 1)->add_grid(1);
  Param(&e, 1)->add_grid(2.5);
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).grid[1]: 2.5 must be an integer");
}

TEST(ValidateExperiment, RejectsPriorOnInt) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->mutable_prior()->mutable_normal()->set_mean(3);
  Param(&e, 1)->mutable_prior()->mutable_normal()->set_scale(1);
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).prior: only allowed for double parameters");
}

TEST(ValidateExperiment, RejectsPriorWithGrid) {
  Experiment e = ValidExperiment();
  Param(&e, 5)->mutable_prior()->mutable_beta()->set_shape_a(2);
  Param(&e, 5)->mutable_prior()->mutable_beta()->set_shape_b(2);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).prior: only allowed for double parameters without a grid");
}

TEST(ValidateExperiment, RejectsNormalPriorMeanOutsideBounds) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_prior()->mutable_normal()->set_mean(1.5);
  EXPECT_INVALID(e, "search_space.parameters[4] (x).prior.normal.mean: mean (1.5) must lie within");
}

TEST(ValidateExperiment, RejectsNormalPriorNonPositiveScale) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_prior()->mutable_normal()->set_scale(0);
  EXPECT_INVALID(e, "search_space.parameters[4] (x).prior.normal.scale");
}

TEST(ValidateExperiment, RejectsBetaPriorNonPositiveShape) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_prior()->mutable_beta()->set_shape_a(2);
  Param(&e, 4)->mutable_prior()->mutable_beta()->set_shape_b(-1);
  EXPECT_INVALID(e, "search_space.parameters[4] (x).prior.beta.shape_b");
}

TEST(ValidateExperiment, RejectsDefaultValueOfWrongKind) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->mutable_default_value()->set_number_value(2);
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).default_value: expected int_value");
}

TEST(ValidateExperiment, RejectsDefaultValueOutsideDomain) {
  Experiment e = ValidExperiment();
  Param(&e, 1)->mutable_default_value()->set_int_value(9);
  EXPECT_INVALID(e, "search_space.parameters[1] (layers).default_value: 9 is outside the bounds");
  e = ValidExperiment();
  Param(&e, 5)->mutable_default_value()->set_number_value(0.3);
  EXPECT_INVALID(e, "search_space.parameters[5] (y).default_value: 0.3 is not a grid value");
  e = ValidExperiment();
  Param(&e, 2)->mutable_default_value()->set_string_value("rmsprop");
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).default_value: \"rmsprop\" is not a categorical value");
}

TEST(ValidateExperiment, ConditionalNeedsTwoValues) {
  Experiment e = ValidExperiment();
  e.mutable_search_space()->mutable_conditionals(0)->mutable_values()->RemoveLast();
  EXPECT_INVALID(e, "search_space.conditionals[0] (family).values: at least 2");
}

TEST(ValidateExperiment, RejectsDuplicateConditionalValues) {
  Experiment e = ValidExperiment();
  e.mutable_search_space()->mutable_conditionals(0)->add_values("sgd");
  EXPECT_INVALID(e, "search_space.conditionals[0] (family).values[2]: duplicate value");
}

TEST(ValidateExperiment, RejectsConditionOnUnknownConditional) {
  Experiment e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->set_name("nope");
  EXPECT_INVALID(e, "search_space.parameters[3] (momentum).conditions[0]: unknown conditional");
}

TEST(ValidateExperiment, RejectsConditionWithUnknownValue) {
  Experiment e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->add_values("rmsprop");
  EXPECT_INVALID(e, "search_space.parameters[3] (momentum).conditions[0]: \"rmsprop\" is not a value");
}

TEST(ValidateExperiment, RejectsConditionWithoutValues) {
  Experiment e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->clear_values();
  EXPECT_INVALID(e, "search_space.parameters[3] (momentum).conditions[0]: values must not be empty");
}

TEST(ValidateExperiment, RejectsDuplicateConditionValues) {
  Experiment e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->add_values("sgd");
  EXPECT_INVALID(e,
                 "search_space.parameters[3] (momentum).conditions[0].values[1]: duplicate value "
                 "\"sgd\"");
}

hpo::v1::LinearConstraint* Constraint(Experiment* e) {
  return e->mutable_search_space()->mutable_linear_constraints(0);
}

TEST(ValidateExperiment, RejectsConstraintOnUnknownParameter) {
  Experiment e = ValidExperiment();
  Constraint(&e)->mutable_terms(1)->set_name("zz");
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (zz): unknown parameter");
}

TEST(ValidateExperiment, RejectsConstraintOnCategorical) {
  Experiment e = ValidExperiment();
  Constraint(&e)->mutable_terms(1)->set_name("opt");
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (opt): categorical");
}

TEST(ValidateExperiment, RejectsConstraintOnLogParameter) {
  Experiment e = ValidExperiment();
  Constraint(&e)->mutable_terms(1)->set_name("lr");
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (lr): parameters with transformation log");
}

TEST(ValidateExperiment, RejectsConstraintWithoutTerms) {
  Experiment e = ValidExperiment();
  Constraint(&e)->clear_terms();
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms: at least one term");
}

TEST(ValidateExperiment, RejectsDuplicateConstraintTerms) {
  Experiment e = ValidExperiment();
  Constraint(&e)->mutable_terms(1)->set_name("x");
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (x): duplicate term");
}

TEST(ValidateExperiment, RejectsZeroOrNonFiniteWeight) {
  Experiment e = ValidExperiment();
  Constraint(&e)->mutable_terms(1)->set_weight(0);
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (y).weight");
  Constraint(&e)->mutable_terms(1)->set_weight(INFINITY);
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms[1] (y).weight");
}

// Found with tests/fuzz/validation_fuzzer's invariant: an infinite weighted sum compared true
// against a tolerance scaled by itself, so suggestions violating the constraint were accepted.
TEST(ValidateExperiment, RejectsConstraintsWhoseSumCanOverflow) {
  Experiment e = ValidExperiment();
  Param(&e, 4)->mutable_bounds()->set_max(1e300);
  EXPECT_TRUE(ValidateExperiment(e).ok()) << ValidateExperiment(e);
  e.mutable_search_space()->mutable_linear_constraints(0)->mutable_terms(0)->set_weight(1e10);
  EXPECT_INVALID(e, "search_space.linear_constraints[0].terms: weight * value can exceed the "
                    "double range");
}

TEST(ValidateExperiment, RejectsUnspecifiedConstraintType) {
  Experiment e = ValidExperiment();
  Constraint(&e)->set_type(hpo::v1::CONSTRAINT_TYPE_UNSPECIFIED);
  EXPECT_INVALID(e, "search_space.linear_constraints[0].type");
}

TEST(ValidateExperiment, RejectsNonFiniteConstraintThreshold) {
  Experiment e = ValidExperiment();
  Constraint(&e)->set_threshold(NAN);
  EXPECT_INVALID(e, "search_space.linear_constraints[0].threshold: must be finite");
}

TEST(ValidateExperiment, RejectsInfeasibleConstraints) {
  Experiment e = ValidExperiment();
  auto* c = e.mutable_search_space()->add_linear_constraints();
  *c = *Constraint(&e);
  c->set_type(hpo::v1::CONSTRAINT_TYPE_GREATER_THAN);
  c->set_threshold(1.6);  // x + y >= 1.6 but x + y <= 1.2
  EXPECT_INVALID(e, "search_space.linear_constraints: the linear constraints cannot all hold");
}

TEST(ValidateExperiment, RejectsConstraintsWithoutIntegerPoint) {
  Experiment e = ValidExperiment();
  // 2 * layers in [3.2, 3.8]: layers in [1.6, 1.9] has no integer.
  *Constraint(&e) = Parse<hpo::v1::LinearConstraint>(
      R"pb(terms { name: "layers" weight: 2 } threshold: 3.2 type: CONSTRAINT_TYPE_GREATER_THAN)pb");
  auto* c = e.mutable_search_space()->add_linear_constraints();
  *c = Parse<hpo::v1::LinearConstraint>(
      R"pb(terms { name: "layers" weight: 2 } threshold: 3.8 type: CONSTRAINT_TYPE_LESS_THAN)pb");
  EXPECT_INVALID(e, "search_space.linear_constraints: the linear constraints admit no point with exact integer");
}

TEST(ValidateExperiment, AcceptsConstraintsFeasibleOnlyWhenConditionalParameterInactive) {
  Experiment e = ValidExperiment();
  Param(&e, 3)->mutable_bounds()->set_min(0.8);  // momentum in [0.8, 1], active only for sgd
  *Constraint(&e) = Parse<hpo::v1::LinearConstraint>(R"pb(
    terms { name: "x" weight: 1 }
    terms { name: "momentum" weight: 1 }
    threshold: 0.5
    type: CONSTRAINT_TYPE_LESS_THAN
  )pb");
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
  // With momentum unconditional the same constraint has no solution.
  Param(&e, 3)->clear_conditions();
  EXPECT_INVALID(e, "search_space.linear_constraints");
}

TEST(ValidateExperiment, RequiresAMetric) {
  Experiment e = ValidExperiment();
  e.clear_metrics();
  EXPECT_INVALID(e, "metrics: at least one metric");
}

TEST(ValidateExperiment, RequiresMetricName) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(1)->clear_name();
  EXPECT_INVALID(e, "metrics[1].name: is required");
}

TEST(ValidateExperiment, AllowsAtMostTwoOptimizedMetrics) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(1)->set_strategy(hpo::v1::METRIC_STRATEGY_OPTIMIZE);
  e.mutable_metrics(2)->set_strategy(hpo::v1::METRIC_STRATEGY_UNSPECIFIED);
  EXPECT_INVALID(e, "metrics: at most 2 metrics may have strategy optimize (got 3)");
}

TEST(ValidateExperiment, RequiresAnOptimizedMetric) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(0)->set_strategy(hpo::v1::METRIC_STRATEGY_STORE);
  EXPECT_INVALID(e, "metrics: at least one metric must have strategy optimize");
}

TEST(ValidateExperiment, ConstraintMetricNeedsThreshold) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(1)->clear_threshold();
  EXPECT_INVALID(e, "metrics[1] (latency).threshold: is required for constraint metrics");
}

TEST(ValidateExperiment, RejectsNonFiniteMetricThreshold) {
  Experiment e = ValidExperiment();
  e.mutable_metrics(0)->set_threshold(INFINITY);
  EXPECT_INVALID(e, "metrics[0] (auc).threshold: must be finite");
}

TEST(ValidateExperiment, ObservationBudgetMustBePositive) {
  Experiment e = ValidExperiment();
  e.set_observation_budget(0);
  EXPECT_INVALID(e, "observation_budget: must be > 0");
}

TEST(ValidateExperiment, RejectsNegativeParallelBandwidth) {
  Experiment e = ValidExperiment();
  e.set_parallel_bandwidth(-1);
  EXPECT_INVALID(e, "parallel_bandwidth: must be >= 0");
}

TEST(ValidateExperiment, ChecksAlgorithmName) {
  Experiment e = ValidExperiment();
  e.mutable_optimizer()->set_algorithm("random");
  EXPECT_TRUE(ValidateExperiment(e).ok());
  e.mutable_optimizer()->set_algorithm("gp_ei");
  EXPECT_INVALID(e, "optimizer.algorithm: unknown algorithm \"gp_ei\"");
  const std::vector<std::string> names = {"gp_ei"};
  EXPECT_TRUE(ValidateExperiment(e, names).ok());
}

TEST(ValidateExperiment, RejectsNegativeInitialDesignSize) {
  Experiment e = ValidExperiment();
  e.mutable_optimizer()->set_initial_design_size(-1);
  EXPECT_INVALID(e, "optimizer.initial_design_size: must be >= 0");
}

TEST(ValidateExperiment, PercentileMustBeInOpenRange) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->mutable_percentile()->set_percentile(100);
  EXPECT_INVALID(e, "pruner.percentile.percentile: must be in (0, 100)");
  e.mutable_pruner()->mutable_percentile()->set_percentile(0);
  EXPECT_INVALID(e, "pruner.percentile.percentile");
}

TEST(ValidateExperiment, RejectsReductionFactorOne) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->mutable_successive_halving()->set_reduction_factor(1);
  EXPECT_INVALID(e, "pruner.successive_halving.reduction_factor: must be 0 (default) or >= 2");
  e.mutable_pruner()->mutable_hyperband()->set_reduction_factor(1);
  EXPECT_INVALID(e, "pruner.hyperband.reduction_factor");
}

TEST(ValidateExperiment, RejectsNegativeStepsAndResources) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->mutable_median()->set_warmup_steps(-1);
  EXPECT_INVALID(e, "pruner.median.warmup_steps: must be >= 0");
  e.mutable_pruner()->mutable_hyperband()->set_min_resource(-2);
  EXPECT_INVALID(e, "pruner.hyperband.min_resource: must be >= 0");
  e.mutable_pruner()->mutable_successive_halving()->set_min_resource(-2);
  EXPECT_INVALID(e, "pruner.successive_halving.min_resource");
}

TEST(ValidateExperiment, ThresholdPrunerNeedsABound) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->mutable_threshold()->set_warmup_steps(1);
  EXPECT_INVALID(e, "pruner.threshold: lower or upper is required");
  e.mutable_pruner()->mutable_threshold()->set_upper(1.0);
  EXPECT_TRUE(ValidateExperiment(e).ok());
}

TEST(ValidateExperiment, RejectsNegativePatience) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->set_patience(-1);
  EXPECT_INVALID(e, "pruner.patience: must be >= 0");
}

TEST(ValidateExperiment, RejectsPrunerOnUnknownMetric) {
  Experiment e = ValidExperiment();
  e.mutable_pruner()->set_metric("accuracy");
  EXPECT_INVALID(e, "pruner.metric: unknown metric");
}

TEST(ValidateExperiment, LimitsMetadataEntries) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 64; ++i) (*e.mutable_metadata())[absl::StrCat("k", i)] = "v";
  EXPECT_INVALID(e, "metadata: at most 64 entries");
}

TEST(ValidateExperiment, LimitsMetadataKeyLength) {
  Experiment e = ValidExperiment();
  (*e.mutable_metadata())[""] = "v";
  EXPECT_INVALID(e, "metadata[\"\"]: keys must be 1 to 128 bytes (got 0)");
  e = ValidExperiment();
  (*e.mutable_metadata())[std::string(129, 'k')] = "v";
  EXPECT_INVALID(e, "keys must be 1 to 128 bytes (got 129)");
}

TEST(ValidateExperiment, LimitsMetadataValueLength) {
  Experiment e = ValidExperiment();
  (*e.mutable_metadata())["big"] = std::string(4097, 'v');
  EXPECT_INVALID(e, "metadata[\"big\"]: values must be at most 4096 bytes (got 4097)");
}

TEST(ValidateExperiment, LimitsParameterCount) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 100; ++i) {
    auto* p = e.mutable_search_space()->add_parameters();
    p->set_name(absl::StrCat("p", i));
    p->set_type(hpo::v1::PARAMETER_TYPE_DOUBLE);
    p->mutable_bounds()->set_max(1);
  }
  EXPECT_INVALID(e, "search_space.parameters: at most 100 parameters");
}

TEST(ValidateExperiment, LimitsConditionalCount) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 100; ++i) {
    auto* c = e.mutable_search_space()->add_conditionals();
    c->set_name(absl::StrCat("c", i));
    c->add_values("a");
    c->add_values("b");
  }
  EXPECT_INVALID(e, "search_space.conditionals: at most 100 conditionals");
}

TEST(ValidateExperiment, LimitsConstraintCount) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 100; ++i) *e.mutable_search_space()->add_linear_constraints() = *Constraint(&e);
  EXPECT_INVALID(e, "search_space.linear_constraints: at most 100 linear constraints");
}

TEST(ValidateExperiment, LimitsCategoricalValues) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 999; ++i) Param(&e, 2)->add_categorical_values(absl::StrCat("v", i));
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).categorical_values: at most 1000 values");
}

TEST(ValidateExperiment, LimitsMetricCount) {
  Experiment e = ValidExperiment();
  for (int i = 0; i < 14; ++i) {
    auto* m = e.add_metrics();
    m->set_name(absl::StrCat("m", i));
    m->set_strategy(hpo::v1::METRIC_STRATEGY_STORE);
  }
  EXPECT_INVALID(e, "metrics: at most 16 metrics");
}

// ---- Assignments ----

Assignment ValidAssignment() {
  return Parse<Assignment>(R"pb(
    values { key: "family" value { string_value: "sgd" } }
    values { key: "lr" value { number_value: 0.01 } }
    values { key: "layers" value { int_value: 3 } }
    values { key: "opt" value { string_value: "adam" } }
    values { key: "momentum" value { number_value: 0.9 } }
    values { key: "x" value { number_value: 0.5 } }
    values { key: "y" value { number_value: 0.2 } }
  )pb");
}

absl::Status Check(const Assignment& a) {
  return ValidateAssignment(ValidExperiment().search_space(), a, "assignment");
}

TEST(ValidateAssignment, AcceptsValidAssignment) {
  absl::Status s = Check(ValidAssignment());
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateAssignment, RejectsUnknownName) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["zz"].set_int_value(1);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[zz]: unknown parameter or conditional"));
}

TEST(ValidateAssignment, RequiresEveryConditional) {
  Assignment a = ValidAssignment();
  a.mutable_values()->erase("family");
  a.mutable_values()->erase("momentum");
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[family]: conditional family is missing"));
}

TEST(ValidateAssignment, RejectsUnknownConditionalValue) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["family"].set_string_value("rmsprop");
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[family]: \"rmsprop\" is not a value"));
}

TEST(ValidateAssignment, RequiresActiveParameters) {
  Assignment a = ValidAssignment();
  a.mutable_values()->erase("momentum");
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[momentum]: missing value for active parameter"));
}

TEST(ValidateAssignment, RejectsInactiveParameters) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["family"].set_string_value("adam");
  EXPECT_TRUE(IsInvalid(Check(a),
                        "assignment[momentum]: parameter momentum is inactive because conditional "
                        "family is adam"));
  a.mutable_values()->erase("momentum");
  EXPECT_TRUE(Check(a).ok());
}

TEST(ValidateAssignment, RejectsWrongKind) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["layers"].set_number_value(3);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[layers]: expected int_value"));
  a = ValidAssignment();
  (*a.mutable_values())["x"].set_number_value(NAN);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[x]: value of x must be finite"));
}

TEST(ValidateAssignment, RejectsValuesOutsideBounds) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["lr"].set_number_value(2);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[lr]: 2 is outside the bounds"));
}

TEST(ValidateAssignment, ChecksGridMembershipWithTolerance) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["y"].set_number_value(0.2 + 1e-12);
  EXPECT_TRUE(Check(a).ok());
  (*a.mutable_values())["y"].set_number_value(0.25);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[y]: 0.25 is not a grid value"));
}

TEST(ValidateAssignment, RejectsUnknownCategoricalValue) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["opt"].set_string_value("lbfgs");
  EXPECT_TRUE(IsInvalid(Check(a), "assignment[opt]: \"lbfgs\" is not a categorical value"));
}

TEST(ValidateAssignment, RejectsConstraintViolation) {
  Assignment a = ValidAssignment();
  (*a.mutable_values())["x"].set_number_value(0.9);
  (*a.mutable_values())["y"].set_number_value(0.5);
  EXPECT_TRUE(IsInvalid(Check(a), "assignment: violates linear constraint 0"));
}

TEST(CompleteAssignment, FillsDefaultsAndFirstConditionalValue) {
  hpo::v1::SearchSpace space = ValidExperiment().search_space();
  Assignment partial = Parse<Assignment>(R"pb(
    values { key: "lr" value { number_value: 0.01 } }
    values { key: "opt" value { string_value: "sgd" } }
    values { key: "x" value { number_value: 0.5 } }
    values { key: "y" value { number_value: 0.5 } }
  )pb");
  absl::StatusOr<Assignment> full = CompleteAssignment(space, partial, "assignment");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->values().at("family").string_value(), "adam");
  EXPECT_EQ(full->values().at("layers").int_value(), 2);
  EXPECT_FALSE(full->values().contains("momentum"));
}

TEST(CompleteAssignment, FailsWithoutDefault) {
  hpo::v1::SearchSpace space = ValidExperiment().search_space();
  Assignment partial = Parse<Assignment>(R"pb(
    values { key: "opt" value { string_value: "sgd" } }
    values { key: "x" value { number_value: 0.5 } }
    values { key: "y" value { number_value: 0.5 } }
  )pb");
  EXPECT_TRUE(IsInvalid(CompleteAssignment(space, partial, "assignment").status(),
                        "assignment[lr]: missing value for active parameter lr, which has no default_value"));
}

TEST(CompleteAssignment, ValidatesTheResult) {
  hpo::v1::SearchSpace space = ValidExperiment().search_space();
  Assignment partial = ValidAssignment();
  (*partial.mutable_values())["x"].set_number_value(1.0);
  (*partial.mutable_values())["y"].set_number_value(0.5);
  EXPECT_TRUE(IsInvalid(CompleteAssignment(space, partial, "assignment").status(),
                        "violates linear constraint"));
}

// ---- Observation values and checkpoints ----

google::protobuf::RepeatedPtrField<hpo::v1::MetricValue> Values(const std::string& text) {
  return Parse<hpo::v1::Observation>(text).values();
}

absl::Status CheckValues(const std::string& text, bool failed = false) {
  return ValidateObservationValues(ValidExperiment(), Values(text), failed, "values");
}

TEST(ValidateObservationValues, AcceptsOptimizeAndConstraintMetrics) {
  absl::Status s = CheckValues(R"pb(values { name: "auc" value: 0.8 stddev: 0.01 }
                                    values { name: "latency" value: 3 })pb");
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateObservationValues, FailedObservationHasNoValues) {
  EXPECT_TRUE(CheckValues("", true).ok());
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "auc" value: 0.8 })pb", true),
                        "values: must be empty for a failed observation"));
}

TEST(ValidateObservationValues, RequiresOptimizeAndConstraintMetrics) {
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "auc" value: 0.8 })pb"),
                        "values: missing value for metric latency"));
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "latency" value: 0.8 })pb"),
                        "values: missing value for metric auc"));
}

TEST(ValidateObservationValues, StoreMetricsAreOptional) {
  EXPECT_TRUE(CheckValues(R"pb(values { name: "auc" value: 0.8 }
                               values { name: "latency" value: 3 }
                               values { name: "loss" value: 0.1 })pb")
                  .ok());
}

TEST(ValidateObservationValues, RejectsUnknownAndDuplicateNames) {
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "acc" value: 0.8 })pb"),
                        "values[0] (acc): unknown metric"));
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "auc" value: 0.8 }
                                         values { name: "auc" value: 0.7 })pb"),
                        "values[1] (auc): duplicate value"));
}

TEST(ValidateObservationValues, RejectsNonFiniteValues) {
  hpo::v1::Observation o;
  auto* v = o.add_values();
  v->set_name("auc");
  v->set_value(NAN);
  EXPECT_TRUE(IsInvalid(ValidateObservationValues(ValidExperiment(), o.values(), false, "values"),
                        "values[0] (auc).value: must be finite"));
  v->set_value(INFINITY);
  EXPECT_TRUE(IsInvalid(ValidateObservationValues(ValidExperiment(), o.values(), false, "values"),
                        "values[0] (auc).value"));
}

TEST(ValidateObservationValues, RejectsBadStddev) {
  EXPECT_TRUE(IsInvalid(CheckValues(R"pb(values { name: "auc" value: 0.8 stddev: -1 })pb"),
                        "values[0] (auc).stddev: must be finite and >= 0"));
}

hpo::v1::Checkpoint ValidCheckpoint() {
  return Parse<hpo::v1::Checkpoint>(
      R"pb(step: 10 elapsed_seconds: 2.5 metrics { name: "auc" value: 0.7 })pb");
}

absl::Status CheckCheckpoint(const hpo::v1::Checkpoint& c) {
  return ValidateCheckpoint(ValidExperiment(), c, "checkpoint");
}

TEST(ValidateCheckpoint, AcceptsValidCheckpoint) { EXPECT_TRUE(CheckCheckpoint(ValidCheckpoint()).ok()); }

TEST(ValidateCheckpoint, RejectsNegativeStep) {
  hpo::v1::Checkpoint c = ValidCheckpoint();
  c.set_step(-1);
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.step: must be >= 0"));
}

TEST(ValidateCheckpoint, RejectsBadElapsed) {
  hpo::v1::Checkpoint c = ValidCheckpoint();
  c.set_elapsed_seconds(-1);
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.elapsed_seconds"));
  c.set_elapsed_seconds(NAN);
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.elapsed_seconds"));
}

TEST(ValidateCheckpoint, RequiresNamedUniqueFiniteMetrics) {
  hpo::v1::Checkpoint c = ValidCheckpoint();
  c.mutable_metrics(0)->set_name("train_loss");  // curves may carry extra signals
  EXPECT_TRUE(CheckCheckpoint(c).ok());
  *c.add_metrics() = c.metrics(0);
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.metrics[1] (train_loss): duplicate"));
  c.mutable_metrics(1)->set_name("");
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.metrics[1].name"));
  c = ValidCheckpoint();
  c.mutable_metrics(0)->set_value(NAN);
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.metrics[0] (auc).value: must be finite"));
  c.clear_metrics();
  EXPECT_TRUE(IsInvalid(CheckCheckpoint(c), "checkpoint.metrics: at least one metric"));
}

// Every refusal quotes user text by a short prefix: a default gRPC client refuses status
// messages over 8 KB (RESOURCE_EXHAUSTED instead of the INVALID_ARGUMENT).
TEST(ValidateExperiment, MessagesQuoteOnlyAPrefixOfLongInput) {
  const std::string huge(100000, 'x');
  std::vector<std::pair<std::string, Experiment>> cases;
  Experiment e = ValidExperiment();
  e.set_name(huge);
  cases.emplace_back("name", e);
  e = ValidExperiment();
  e.set_name(std::string(50000, '\n'));
  cases.emplace_back("name with control characters", e);
  e = ValidExperiment();
  e.set_project(huge);
  cases.emplace_back("project", e);
  e = ValidExperiment();
  Param(&e, 0)->set_name(huge);
  cases.emplace_back("parameter name", e);
  e = ValidExperiment();
  Param(&e, 2)->add_categorical_values(huge);
  cases.emplace_back("categorical value", e);
  e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->set_name(huge);
  cases.emplace_back("condition name", e);
  e = ValidExperiment();
  Param(&e, 3)->mutable_conditions(0)->add_values(huge);
  cases.emplace_back("condition value", e);
  e = ValidExperiment();
  e.mutable_search_space()->mutable_linear_constraints(0)->mutable_terms(0)->set_name(huge);
  cases.emplace_back("constraint term", e);
  e = ValidExperiment();
  e.mutable_metrics(0)->set_name(huge);
  cases.emplace_back("metric name", e);
  e = ValidExperiment();
  e.mutable_pruner()->set_metric(huge);
  cases.emplace_back("pruner metric", e);
  e = ValidExperiment();
  e.mutable_optimizer()->set_algorithm(huge);
  cases.emplace_back("algorithm", e);
  e = ValidExperiment();
  (*e.mutable_metadata())[huge] = "v";
  cases.emplace_back("metadata key", e);
  e = ValidExperiment();
  (*e.mutable_training()->mutable_parameter_mapping())["lr"] = huge;
  cases.emplace_back("parameter_mapping value", e);
  for (const auto& [what, experiment] : cases) {
    absl::Status s = ValidateExperiment(experiment);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << what << ": " << s.code();
    EXPECT_LT(s.message().size(), 400u) << what << ": " << s.message().substr(0, 400);
  }
  e = ValidExperiment();
  e.set_name(huge);
  EXPECT_INVALID(e, "name: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" "
                    "(100000 bytes) must be at most 128 characters");

  Assignment a;
  (*a.mutable_values())[huge].set_string_value(huge);
  absl::Status s = ValidateAssignment(ValidExperiment().search_space(), a, "assignment");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_LT(s.message().size(), 400u) << s.message().substr(0, 400);
  a = Parse<Assignment>(R"pb(
    values { key: "family" value { string_value: "adam" } }
    values { key: "lr" value { number_value: 0.01 } }
    values { key: "layers" value { int_value: 2 } }
    values { key: "x" value { number_value: 0.1 } }
    values { key: "y" value { number_value: 0.2 } }
  )pb");
  (*a.mutable_values())["opt"].set_string_value(huge);
  s = ValidateAssignment(ValidExperiment().search_space(), a, "assignment");
  EXPECT_TRUE(IsInvalid(s, "assignment[opt]: \"xxx")) << s.message().substr(0, 400);
  EXPECT_LT(s.message().size(), 400u) << s.message().substr(0, 400);
}

TEST(ValidateExperiment, QuotedPrefixIsCutAtACharacterBoundary) {
  Experiment e = ValidExperiment();
  std::string name;
  for (int i = 0; i < 200; ++i) name += "\xC3\xA9";  // 200 characters, 400 bytes
  e.set_name(name);
  absl::Status s = ValidateExperiment(e);
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // 32 whole characters (64 bytes), no dangling lead byte.
  std::string prefix;
  for (int i = 0; i < 32; ++i) prefix += "\xC3\xA9";
  EXPECT_TRUE(IsInvalid(s, absl::StrCat("name: \"", prefix, "...\" (400 bytes)"))) << s;
}

TEST(ValidateExperiment, LimitsValueLengths) {
  Experiment e = ValidExperiment();
  Param(&e, 2)->add_categorical_values(std::string(257, 'v'));
  EXPECT_INVALID(e, "search_space.parameters[2] (opt).categorical_values[2]: \"vvvv");
  EXPECT_INVALID(e, "(257 bytes) must be 1 to 256 bytes long");
  e = ValidExperiment();
  Param(&e, 2)->add_categorical_values(std::string(256, 'v'));
  EXPECT_TRUE(ValidateExperiment(e).ok());
  e = ValidExperiment();
  e.mutable_search_space()->mutable_conditionals(0)->add_values(std::string(2'000'000, 'v'));
  EXPECT_INVALID(e, "experiment: is 2000");
  e = ValidExperiment();
  e.mutable_search_space()->mutable_conditionals(0)->add_values(std::string(300, 'v'));
  EXPECT_INVALID(e, "search_space.conditionals[0] (family).values[2]:");
  e = ValidExperiment();
  e.mutable_search_space()->mutable_conditionals(0)->add_values("");
  EXPECT_INVALID(e, "search_space.conditionals[0] (family).values[2]: \"\" must be 1 to 256 bytes");
  e = ValidExperiment();
  e.mutable_pruner()->mutable_regulator()->set_loss_metric(std::string(129, 'l'));
  EXPECT_INVALID(e, "pruner.regulator.loss_metric:");
  e = ValidExperiment();
  (*e.mutable_training()->mutable_fixed_options())["batch_size"] = std::string(4097, '1');
  EXPECT_INVALID(e, "training.fixed_options[\"batch_size\"]: values must be at most 4096 bytes");
  e = ValidExperiment();
  (*e.mutable_training()->mutable_fixed_options())[std::string(129, 'o')] = "1";
  EXPECT_INVALID(e, "training.fixed_options[\"ooo");
}

// Two 1.9 MB categorical values made a lease reply larger than a default client accepts.
TEST(ValidateExperiment, LimitsTheSerializedExperiment) {
  Experiment e = ValidExperiment();
  // 100 parameters x 1000 values of 11 bytes: every single limit holds, the whole does not.
  e.mutable_search_space()->clear_linear_constraints();
  e.mutable_search_space()->clear_parameters();
  for (int i = 0; i < 100; ++i) {
    hpo::v1::Parameter* p = e.mutable_search_space()->add_parameters();
    p->set_name(absl::StrCat("p", i));
    p->set_type(hpo::v1::PARAMETER_TYPE_CATEGORICAL);
    for (int j = 0; j < 1000; ++j) p->add_categorical_values(absl::StrFormat("value%06d", j));
  }
  ASSERT_GT(e.ByteSizeLong(), kMaxExperimentBytes);
  EXPECT_INVALID(e, "experiment: is ");
  EXPECT_INVALID(e, "bytes serialized; at most 1048576 are allowed");
  e.mutable_search_space()->mutable_parameters()->DeleteSubrange(50, 50);
  ASSERT_LE(e.ByteSizeLong(), kMaxExperimentBytes);
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ValidateExperiment, ParameterMappingNamesParametersOrConditionals) {
  Experiment e = ValidExperiment();
  auto& mapping = *e.mutable_training()->mutable_parameter_mapping();
  mapping["learning_rate"] = "lr";
  mapping["optimizer_family"] = "family";
  absl::Status s = ValidateExperiment(e);
  EXPECT_TRUE(s.ok()) << s;
  mapping["momentum"] = "x_typo";
  EXPECT_INVALID(e, "training.parameter_mapping[\"momentum\"]: \"x_typo\" is not a parameter or "
                    "conditional of the search space");
  mapping.erase("momentum");
  mapping[""] = "lr";
  EXPECT_INVALID(e, "training.parameter_mapping[\"\"]: keys must be 1 to 128 bytes");
}

// A search the work limit stops is refused with the field and what to simplify; a caller that
// went away gets CANCELLED. The work limit makes this deterministic.
TEST(ValidateSearchSpace, FeasibilitySearchStopsAtItsBudget) {
  hpo::v1::SearchSpace space = Parse<hpo::v1::SearchSpace>(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 } }
    parameters { name: "y" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 } }
    linear_constraints { terms { name: "x" weight: 2 } terms { name: "y" weight: 2 }
                         threshold: 7.2 type: CONSTRAINT_TYPE_GREATER_THAN }
    linear_constraints { terms { name: "x" weight: 2 } terms { name: "y" weight: 2 }
                         threshold: 7.8 type: CONSTRAINT_TYPE_LESS_THAN }
  )pb");
  EXPECT_TRUE(IsInvalid(ValidateSearchSpace(space, "search_space"), "exact integer"));
  WorkLimits tiny;
  tiny.max_work = 10;
  absl::Status s = ValidateSearchSpace(space, "search_space", tiny);
  EXPECT_TRUE(IsInvalid(s, "search_space.linear_constraints: feasibility could not be decided "
                           "within the budget (10 units of LP work); simplify the space"))
      << s;
  WorkLimits gone;
  gone.cancelled = [] { return true; };
  s = ValidateSearchSpace(space, "search_space", gone);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  WorkLimits late;
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(ValidateSearchSpace(space, "search_space", late).code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace hpo::space
