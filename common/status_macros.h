// File: common/status_macros.h
//
// Propagation macros for absl::Status, shaped like abseil's later status_macros.h
// (absent from Abseil 20220623), so a future switch is a rename.
//
//   HPO_RETURN_IF_ERROR(store.Execute(sql));
//   HPO_ASSIGN_OR_RETURN(auto experiment, store.GetExperiment(id));
//
// HPO_ASSIGN_OR_RETURN expands to several statements: never use it as the body of an
// `if` or loop without braces.
#ifndef HPO_COMMON_STATUS_MACROS_H_
#define HPO_COMMON_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define HPO_RETURN_IF_ERROR(expr)                \
  do {                                           \
    ::absl::Status hpo_status_ = (expr);         \
    if (!hpo_status_.ok()) return hpo_status_;   \
  } while (false)

#define HPO_STATUS_CONCAT_INNER_(a, b) a##b
#define HPO_STATUS_CONCAT_(a, b) HPO_STATUS_CONCAT_INNER_(a, b)

#define HPO_ASSIGN_OR_RETURN(lhs, rexpr) \
  HPO_ASSIGN_OR_RETURN_IMPL_(HPO_STATUS_CONCAT_(hpo_statusor_, __LINE__), lhs, rexpr)

#define HPO_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // HPO_COMMON_STATUS_MACROS_H_
