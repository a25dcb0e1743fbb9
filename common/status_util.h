// File: common/status_util.h
//
// Small helpers around absl::Status shared by every target.
#ifndef HPO_COMMON_STATUS_UTIL_H_
#define HPO_COMMON_STATUS_UTIL_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hpo {

// Returns `status` with `context` prepended to its message ("context: message"),
// keeping the code. An OK status is returned unchanged.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace hpo

#endif  // HPO_COMMON_STATUS_UTIL_H_
