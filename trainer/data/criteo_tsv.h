// File: trainer/data/criteo_tsv.h
//
// Reader for the Criteo Kaggle / Terabyte click logs: one example per line,
// tab-separated `label, I1..I13 (integers), C1..C26 (8-digit hex)`; any feature may be
// empty. Dense features become log(1 + max(x, 0)) (missing: 0); categories become a row
// of their table by modulo (as the Kaggle preprocessing does) or by a hash (spreads
// values better when tables are capped); a missing category maps to row 0.
// A malformed line is an error naming the file and line; it is never used silently.
#ifndef HPO_TRAINER_DATA_CRITEO_TSV_H_
#define HPO_TRAINER_DATA_CRITEO_TSV_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "trainer/data/dataset.h"

namespace hpo::trainer {

struct TsvOptions {
  int num_dense = 13;
  // One entry per categorical column (26 for Criteo).
  std::vector<int64_t> table_sizes;
  // false: row = value mod size; true: row = hash(column, value) mod size.
  bool hash_categories = false;
};

// Parses one line (without its newline; a trailing '\r' is ignored) into `example`.
// Returns InvalidArgument describing the first problem (field count, label not 0/1,
// non-integer dense value, non-hex category); no file/line context is added here.
absl::Status ParseCriteoLine(absl::string_view line, const TsvOptions& options, Example* example);

// Reads a whole TSV file into memory. Errors are prefixed with "path:line: ".
// Empty lines are malformed, except a missing final newline.
absl::StatusOr<std::unique_ptr<Dataset>> ReadCriteoTsv(const std::string& path,
                                                       const TsvOptions& options);

// Streams a TSV file into the binary format at `output_path` without holding it in
// memory. Returns the number of examples written.
absl::StatusOr<int64_t> ConvertCriteoTsvToBinary(const std::string& input_path,
                                                 const std::string& output_path,
                                                 const TsvOptions& options);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_DATA_CRITEO_TSV_H_
