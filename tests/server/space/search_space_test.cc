#include "server/space/search_space.h"

#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"

namespace hpo::space {
namespace {

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

hpo::v1::SearchSpace Space() {
  return Parse<hpo::v1::SearchSpace>(R"pb(
    parameters { name: "a" type: PARAMETER_TYPE_DOUBLE bounds { min: 0 max: 1 } }
    parameters {
      name: "b"
      type: PARAMETER_TYPE_INT
      bounds { min: 0 max: 10 }
      conditions { name: "kind" values: "x" values: "y" }
      conditions { name: "size" values: "big" }
    }
    conditionals { name: "kind" values: "x" values: "y" values: "z" }
    conditionals { name: "size" values: "small" values: "big" }
    linear_constraints {
      terms { name: "a" weight: 2 }
      terms { name: "b" weight: 1 }
      threshold: 3
      type: CONSTRAINT_TYPE_LESS_THAN
    }
  )pb");
}

hpo::v1::Assignment A(const std::string& text) { return Parse<hpo::v1::Assignment>(text); }

TEST(FindParameter, FindsByName) {
  hpo::v1::SearchSpace space = Space();
  ASSERT_NE(FindParameter(space, "b"), nullptr);
  EXPECT_EQ(FindParameter(space, "b")->type(), hpo::v1::PARAMETER_TYPE_INT);
  EXPECT_EQ(FindParameter(space, "kind"), nullptr);
  EXPECT_EQ(ParameterIndex(space, "b"), 1);
  EXPECT_EQ(ParameterIndex(space, "nope"), -1);
}

TEST(FindConditional, FindsByName) {
  hpo::v1::SearchSpace space = Space();
  ASSERT_NE(FindConditional(space, "size"), nullptr);
  EXPECT_EQ(FindConditional(space, "size")->values_size(), 2);
  EXPECT_EQ(FindConditional(space, "a"), nullptr);
}

TEST(IsActive, RequiresEveryCondition) {
  const hpo::v1::SearchSpace space = Space();
  const hpo::v1::Parameter& b = space.parameters(1);
  EXPECT_TRUE(IsActive(b, A(R"pb(values { key: "kind" value { string_value: "y" } }
                                  values { key: "size" value { string_value: "big" } })pb")));
  EXPECT_FALSE(IsActive(b, A(R"pb(values { key: "kind" value { string_value: "z" } }
                                   values { key: "size" value { string_value: "big" } })pb")));
  EXPECT_FALSE(IsActive(b, A(R"pb(values { key: "kind" value { string_value: "x" } }
                                   values { key: "size" value { string_value: "small" } })pb")));
  EXPECT_FALSE(IsActive(b, A(R"pb(values { key: "kind" value { string_value: "x" } })pb")));
}

TEST(IsActive, UnconditionalParameterIsAlwaysActive) {
  EXPECT_TRUE(IsActive(Space().parameters(0), hpo::v1::Assignment()));
}

TEST(InactiveReason, NamesTheFailingConditional) {
  const hpo::v1::SearchSpace space = Space();
  const hpo::v1::Parameter& b = space.parameters(1);
  EXPECT_EQ(InactiveReason(b, A(R"pb(values { key: "kind" value { string_value: "z" } })pb")),
            "conditional kind is z");
  EXPECT_EQ(InactiveReason(b, A(R"pb(values { key: "kind" value { string_value: "x" } })pb")),
            "conditional size is not set");
}

TEST(ConstraintLhs, InactiveTermsContributeZero) {
  const hpo::v1::LinearConstraint c = Space().linear_constraints(0);
  EXPECT_DOUBLE_EQ(ConstraintLhs(c, A(R"pb(values { key: "a" value { number_value: 0.5 } }
                                           values { key: "b" value { int_value: 4 } })pb")),
                   5.0);
  EXPECT_DOUBLE_EQ(ConstraintLhs(c, A(R"pb(values { key: "a" value { number_value: 0.5 } })pb")), 1.0);
}

TEST(SatisfiesConstraint, UsesRelativeTolerance) {
  hpo::v1::LinearConstraint c = Space().linear_constraints(0);
  EXPECT_TRUE(SatisfiesConstraint(c, A(R"pb(values { key: "a" value { number_value: 0.5 } }
                                            values { key: "b" value { int_value: 2 } })pb")));
  // 2 * 0.5000000001 + 2 = 3.0000000002: within 1e-9 * 3.
  EXPECT_TRUE(SatisfiesConstraint(c, A(R"pb(values { key: "a" value { number_value: 0.5000000001 } }
                                            values { key: "b" value { int_value: 2 } })pb")));
  EXPECT_FALSE(SatisfiesConstraint(c, A(R"pb(values { key: "a" value { number_value: 0.51 } }
                                             values { key: "b" value { int_value: 2 } })pb")));
  c.set_type(hpo::v1::CONSTRAINT_TYPE_GREATER_THAN);
  EXPECT_TRUE(SatisfiesConstraint(c, A(R"pb(values { key: "a" value { number_value: 0.51 } }
                                            values { key: "b" value { int_value: 2 } })pb")));
}

TEST(FirstViolatedConstraint, ReturnsIndexOrMinusOne) {
  hpo::v1::SearchSpace space = Space();
  *space.add_linear_constraints() = Parse<hpo::v1::LinearConstraint>(
      R"pb(terms { name: "a" weight: 1 } threshold: 0.25 type: CONSTRAINT_TYPE_GREATER_THAN)pb");
  EXPECT_EQ(FirstViolatedConstraint(space, A(R"pb(values { key: "a" value { number_value: 0.5 } })pb")), -1);
  EXPECT_EQ(FirstViolatedConstraint(space, A(R"pb(values { key: "a" value { number_value: 0.1 } })pb")), 1);
  EXPECT_EQ(FirstViolatedConstraint(space, A(R"pb(values { key: "a" value { number_value: 0.9 } }
                                                  values { key: "b" value { int_value: 2 } })pb")),
            0);
}

TEST(ValueToString, RendersEachKind) {
  hpo::v1::ParameterValue v;
  EXPECT_EQ(ValueToString(v), "<unset>");
  v.set_int_value(3);
  EXPECT_EQ(ValueToString(v), "3");
  v.set_number_value(0.5);
  EXPECT_EQ(ValueToString(v), "0.5");
  v.set_string_value("adam");
  EXPECT_EQ(ValueToString(v), "\"adam\"");
}

}  // namespace
}  // namespace hpo::space
