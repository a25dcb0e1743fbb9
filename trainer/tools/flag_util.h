// File: trainer/tools/flag_util.h
//
// Parsing helpers shared by dlrm-train and dlrm-datagen (header-only, no LibTorch).
#ifndef HPO_TRAINER_TOOLS_FLAG_UTIL_H_
#define HPO_TRAINER_TOOLS_FLAG_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "trainer/data/synthetic.h"

namespace hpo::trainer {

// "512-256-1" or "512,256,1" -> {512, 256, 1}.
inline absl::StatusOr<std::vector<int64_t>> ParseIntList(const std::string& text, const char* what) {
  std::vector<int64_t> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, absl::ByAnyChar(",-"))) {
    int64_t v;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      return absl::InvalidArgumentError(absl::StrCat("--", what, ": '", part, "' is not a positive integer"));
    }
    out.push_back(v);
  }
  return out;
}

// "kaggle" (Criteo Kaggle cardinalities x scale, capped), or an explicit list.
inline absl::StatusOr<std::vector<int64_t>> ParseTableSizes(const std::string& text, double scale,
                                                           int64_t max_rows) {
  if (text == "kaggle") return CriteoKaggleTableSizes(scale, max_rows);
  return ParseIntList(text, "table_sizes");
}

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_TOOLS_FLAG_UTIL_H_
