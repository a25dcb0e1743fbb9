#include "server/space/feasibility.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "server/space/rng.h"
#include "server/space/search_space.h"

namespace hpo::space {
namespace {

hpo::v1::SearchSpace Parse(const std::string& text) {
  hpo::v1::SearchSpace space;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &space)) << text;
  return space;
}

constexpr char kTwoDoubles[] = R"pb(
  parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
  parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
)pb";

std::string Constraint(double wx, double wy, double threshold, bool less) {
  return absl::StrCat("linear_constraints { terms { name: \"x\" weight: ", wx,
                      " } terms { name: \"y\" weight: ", wy, " } threshold: ", threshold,
                      " type: ", less ? "CONSTRAINT_TYPE_LESS_THAN" : "CONSTRAINT_TYPE_GREATER_THAN",
                      " }");
}

TEST(ConstraintFeasibility, NoConstraintsIsFeasible) {
  hpo::v1::SearchSpace space = Parse(kTwoDoubles);
  ConstraintFeasibility f(space);
  EXPECT_TRUE(f.CheckFeasible().ok());
}

TEST(ConstraintFeasibility, RejectsInfeasiblePair) {
  hpo::v1::SearchSpace space =
      Parse(absl::StrCat(kTwoDoubles, Constraint(1, 1, 1, true), Constraint(1, 1, 1.5, false)));
  ConstraintFeasibility f(space);
  absl::Status s = f.CheckFeasible();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("cannot all hold"), std::string::npos) << s;
}

TEST(ConstraintFeasibility, AcceptsThinButFeasibleSet) {
  hpo::v1::SearchSpace space = Parse(
      absl::StrCat(kTwoDoubles, Constraint(1, 1, 1, true), Constraint(1, 1, 0.9999999, false)));
  ConstraintFeasibility f(space);
  absl::Status s = f.CheckFeasible();
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ConstraintFeasibility, AcceptsEqualityAsTwoInequalities) {
  hpo::v1::SearchSpace space =
      Parse(absl::StrCat(kTwoDoubles, Constraint(1, -1, 0.25, true), Constraint(1, -1, 0.25, false)));
  ConstraintFeasibility f(space);
  EXPECT_TRUE(f.CheckFeasible().ok());
}

TEST(ConstraintFeasibility, IntegerRelaxationIsNotEnough) {
  hpo::v1::SearchSpace space = Parse(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 } }
    parameters { name: "y" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 } }
    linear_constraints { terms { name: "x" weight: 2 } terms { name: "y" weight: 2 }
                         threshold: 7.2 type: CONSTRAINT_TYPE_GREATER_THAN }
    linear_constraints { terms { name: "x" weight: 2 } terms { name: "y" weight: 2 }
                         threshold: 7.8 type: CONSTRAINT_TYPE_LESS_THAN }
  )pb");
  ConstraintFeasibility f(space);
  absl::Status s = f.CheckFeasible();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("exact integer"), std::string::npos) << s;
}

TEST(ConstraintFeasibility, FindsIntegerPointOnThinDiagonal) {
  // x + y == 13 exactly, plus x - 2y >= 1, with grid and int parameters.
  hpo::v1::SearchSpace space = Parse(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_INT bounds { min: 0 max: 20 } }
    parameters { name: "y" type: PARAMETER_TYPE_DOUBLE grid: 1 grid: 2 grid: 3 grid: 4 grid: 8 }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                         threshold: 13 type: CONSTRAINT_TYPE_GREATER_THAN }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                         threshold: 13 type: CONSTRAINT_TYPE_LESS_THAN }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: -2 }
                         threshold: 1 type: CONSTRAINT_TYPE_GREATER_THAN }
  )pb");
  ConstraintFeasibility f(space);
  EXPECT_TRUE(f.CheckFeasible().ok());
  for (uint64_t seed = 0; seed < 20; ++seed) {
    hpo::v1::Assignment a;
    Rng rng(seed);
    (*a.mutable_values())["x"].set_int_value(static_cast<int64_t>(rng.Below(21)));
    (*a.mutable_values())["y"].set_number_value(static_cast<double>(1 + rng.Below(4)));
    ASSERT_TRUE(f.Repair(&a, seed));
    EXPECT_EQ(FirstViolatedConstraint(space, a), -1);
    EXPECT_EQ(a.values().at("x").int_value() + a.values().at("y").number_value(), 13);
  }
}

TEST(ConstraintFeasibility, InactiveParameterMakesSpaceFeasible) {
  hpo::v1::SearchSpace space = Parse(R"pb(
    parameters { name: "x" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
    parameters { name: "y" type: PARAMETER_TYPE_DOUBLE bounds { min: 2 max: 3 }
                 conditions { name: "c" values: "on" } }
    conditionals { name: "c" values: "on" values: "off" }
    linear_constraints { terms { name: "x" weight: 1 } terms { name: "y" weight: 1 }
                         threshold: 1.5 type: CONSTRAINT_TYPE_LESS_THAN }
  )pb");
  ConstraintFeasibility f(space);
  ASSERT_TRUE(f.CheckFeasible().ok());
  ASSERT_TRUE(f.feasible_conditionals().has_value());
  EXPECT_EQ(f.feasible_conditionals()->values().at("c").string_value(), "off");
  hpo::v1::Assignment on;
  (*on.mutable_values())["c"].set_string_value("on");
  EXPECT_FALSE(f.BranchFeasible(on));
  hpo::v1::Assignment off;
  (*off.mutable_values())["c"].set_string_value("off");
  EXPECT_TRUE(f.BranchFeasible(off));
}

TEST(ConstraintFeasibility, RepairKeepsFeasibleValuesAndFixesOthers) {
  hpo::v1::SearchSpace space =
      Parse(absl::StrCat(kTwoDoubles, Constraint(1, 1, 0.5, true)));
  ConstraintFeasibility f(space);
  hpo::v1::Assignment ok;
  (*ok.mutable_values())["x"].set_number_value(0.1);
  (*ok.mutable_values())["y"].set_number_value(0.2);
  hpo::v1::Assignment copy = ok;
  ASSERT_TRUE(f.Repair(&copy, 1));
  EXPECT_EQ(copy.values().at("x").number_value(), 0.1);
  hpo::v1::Assignment bad;
  (*bad.mutable_values())["x"].set_number_value(0.9);
  (*bad.mutable_values())["y"].set_number_value(0.9);
  ASSERT_TRUE(f.Repair(&bad, 1));
  EXPECT_EQ(FirstViolatedConstraint(space, bad), -1);
}


// The shape of a costly CreateExperiment (about 140 KB): 12 two-valued conditionals (4096
// branches), 88 int parameters each gated on one of them, two constraints whose continuous
// relaxation holds in every branch but that no integer point satisfies (2 * sum in [7.2, 7.8]),
// and 98 loose constraints over every parameter that make each LP large.
hpo::v1::SearchSpace IntegerInfeasibleConditionalSpace() {
  hpo::v1::SearchSpace space;
  for (int c = 0; c < 12; ++c) {
    hpo::v1::Conditional* conditional = space.add_conditionals();
    conditional->set_name(absl::StrCat("c", c));
    conditional->add_values("on");
    conditional->add_values("off");
  }
  hpo::v1::LinearConstraint* low = space.add_linear_constraints();
  low->set_type(hpo::v1::CONSTRAINT_TYPE_GREATER_THAN);
  low->set_threshold(7.2);
  hpo::v1::LinearConstraint* high = space.add_linear_constraints();
  high->set_type(hpo::v1::CONSTRAINT_TYPE_LESS_THAN);
  high->set_threshold(7.8);
  for (int i = 0; i < 88; ++i) {
    hpo::v1::Parameter* p = space.add_parameters();
    p->set_name(absl::StrCat("p", i));
    p->set_type(hpo::v1::PARAMETER_TYPE_INT);
    p->mutable_bounds()->set_min(0);
    p->mutable_bounds()->set_max(10);
    hpo::v1::Condition* condition = p->add_conditions();
    condition->set_name(absl::StrCat("c", i % 12));
    condition->add_values("on");
    for (hpo::v1::LinearConstraint* c : {low, high}) {
      hpo::v1::LinearConstraintTerm* term = c->add_terms();
      term->set_name(p->name());
      term->set_weight(2);
    }
  }
  for (int k = 0; k < 98; ++k) {
    hpo::v1::LinearConstraint* c = space.add_linear_constraints();
    c->set_type(hpo::v1::CONSTRAINT_TYPE_LESS_THAN);
    c->set_threshold(10000);
    for (int i = 0; i < 88; ++i) {
      hpo::v1::LinearConstraintTerm* term = c->add_terms();
      term->set_name(absl::StrCat("p", i));
      term->set_weight(1 + ((i * 31 + k * 17) % 97) / 97.0);
    }
  }
  return space;
}

TEST(ConstraintFeasibility, CostlySearchGivesUpWithinTheDefaultBudget) {
  hpo::v1::SearchSpace space = IntegerInfeasibleConditionalSpace();
  ConstraintFeasibility f(space);
  absl::Status s = f.CheckFeasible();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

// 12 two-valued conditionals all gating one int parameter whose constraint cannot hold: 4096
// combinations of conditional values but only two distinct branches (two small LPs), so nearly
// all the work is the enumeration itself.
hpo::v1::SearchSpace ManyCombinations() {
  std::string text = "parameters { name: \"x\" type: PARAMETER_TYPE_INT bounds { min: 0 max: 10 }";
  std::string conditionals;
  for (int i = 0; i < 12; ++i) {
    absl::StrAppend(&text, " conditions { name: \"c", i, "\" values: \"a\" }");
    absl::StrAppend(&conditionals, "conditionals { name: \"c", i,
                    "\" values: \"a\" values: \"b\" }\n");
  }
  absl::StrAppend(&text, " }\n", conditionals,
                  "linear_constraints { terms { name: \"x\" weight: 1 } threshold: 20 "
                  "type: CONSTRAINT_TYPE_GREATER_THAN }");
  return Parse(text);
}

TEST(ConstraintFeasibility, EnumeratingCombinationsIsChargedToTheBudget) {
  hpo::v1::SearchSpace space = ManyCombinations();
  {
    ConstraintFeasibility f(space);
    absl::Status s = f.CheckFeasible();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
  WorkLimits limits;
  limits.max_work = 20'000;  // far more than the two LPs, far less than the enumeration
  ConstraintFeasibility f(space, limits);
  absl::Status s = f.CheckFeasible();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(ConstraintFeasibility, EnumerationPollsForCancellation) {
  hpo::v1::SearchSpace space = ManyCombinations();
  WorkLimits limits;
  int polls = 0;
  limits.cancelled = [&polls] { return ++polls > 1; };  // gone after the first poll
  ConstraintFeasibility f(space, limits);
  absl::Status s = f.CheckFeasible();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
}

}  // namespace
}  // namespace hpo::space
