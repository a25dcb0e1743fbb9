// File: tests/testing/status_matchers.h
//
// gMock matchers for absl::Status / StatusOr, named as in abseil's later status_matchers.h:
//   EXPECT_THAT(s, IsOk());
//   EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bounds")));
#ifndef HPO_TESTS_TESTING_STATUS_MATCHERS_H_
#define HPO_TESTS_TESTING_STATUS_MATCHERS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace hpo::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s;
  return s.ok();
}

MATCHER_P2(StatusIsMatcher, code, message_matcher, "") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

// Matches a status (or StatusOr) with `code` and a message matched by `message_matcher`.
template <typename MessageMatcher>
auto StatusIs(absl::StatusCode code, MessageMatcher message_matcher) {
  return StatusIsMatcher(code, ::testing::MatcherCast<std::string>(message_matcher));
}
inline auto StatusIs(absl::StatusCode code) { return StatusIs(code, ::testing::_); }

}  // namespace hpo::testing

#define HPO_ASSERT_OK(expr) ASSERT_THAT(expr, ::hpo::testing::IsOk())
#define HPO_EXPECT_OK(expr) EXPECT_THAT(expr, ::hpo::testing::IsOk())

#endif  // HPO_TESTS_TESTING_STATUS_MATCHERS_H_
