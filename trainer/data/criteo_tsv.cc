#include "trainer/data/criteo_tsv.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/status_macros.h"

namespace hpo::trainer {
namespace {

uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

bool ParseHex(absl::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 16) return false;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return false;
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  *out = v;
  return true;
}

// Calls `fn(line_number, line)` for each line; stops at the first error.
template <typename Fn>
absl::Status ForEachLine(const std::string& path, Fn fn) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  std::string line;
  int64_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    absl::Status s = fn(line);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat(path, ":", number, ": ", s.message()));
    }
  }
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error after line ", number));
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseCriteoLine(absl::string_view line, const TsvOptions& options, Example* e) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const int num_sparse = static_cast<int>(options.table_sizes.size());
  const size_t expected = 1 + static_cast<size_t>(options.num_dense) + static_cast<size_t>(num_sparse);
  std::vector<absl::string_view> fields = absl::StrSplit(line, '\t');
  if (fields.size() != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected ", expected, " tab-separated fields, found ", fields.size()));
  }
  if (fields[0] == "0") e->label = 0.0f;
  else if (fields[0] == "1") e->label = 1.0f;
  else return absl::InvalidArgumentError(absl::StrCat("label must be 0 or 1, found '", fields[0], "'"));
  e->dense.assign(static_cast<size_t>(options.num_dense), 0.0f);
  for (int j = 0; j < options.num_dense; ++j) {
    absl::string_view f = fields[1 + static_cast<size_t>(j)];
    if (f.empty()) continue;
    int64_t v;
    if (!absl::SimpleAtoi(f, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("dense feature I", j + 1, " is not an integer: '", f, "'"));
    }
    e->dense[static_cast<size_t>(j)] = static_cast<float>(std::log1p(static_cast<double>(std::max<int64_t>(v, 0))));
  }
  e->sparse.assign(static_cast<size_t>(num_sparse), 0);
  for (int j = 0; j < num_sparse; ++j) {
    absl::string_view f = fields[1 + static_cast<size_t>(options.num_dense) + static_cast<size_t>(j)];
    if (f.empty()) continue;
    uint64_t v;
    if (!ParseHex(f, &v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("categorical feature C", j + 1, " is not hexadecimal: '", f, "'"));
    }
    const uint64_t rows = static_cast<uint64_t>(options.table_sizes[static_cast<size_t>(j)]);
    const uint64_t key = options.hash_categories ? Mix64(v ^ (static_cast<uint64_t>(j) << 56)) : v;
    e->sparse[static_cast<size_t>(j)] = static_cast<int32_t>(key % rows);
  }
  return absl::OkStatus();
}

namespace {
absl::Status ValidateTsvOptions(const TsvOptions& o) {
  if (o.num_dense < 0 || o.table_sizes.empty()) {
    return absl::InvalidArgumentError("TSV: need num_dense >= 0 and at least one table size");
  }
  for (int64_t s : o.table_sizes) {
    if (s < 1 || s > (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError(absl::StrCat("TSV: table size ", s, " out of range"));
    }
  }
  return absl::OkStatus();
}
}  // namespace

absl::StatusOr<std::unique_ptr<Dataset>> ReadCriteoTsv(const std::string& path,
                                                       const TsvOptions& options) {
  HPO_RETURN_IF_ERROR(ValidateTsvOptions(options));
  RecordLayout layout;
  layout.num_dense = options.num_dense;
  layout.num_sparse = static_cast<int>(options.table_sizes.size());
  std::vector<uint32_t> words;
  Example e;
  HPO_RETURN_IF_ERROR(ForEachLine(path, [&](const std::string& line) {
    HPO_RETURN_IF_ERROR(ParseCriteoLine(line, options, &e));
    const size_t at = words.size();
    words.resize(at + static_cast<size_t>(layout.words()));
    EncodeRecord(layout, e, words.data() + at);
    return absl::OkStatus();
  }));
  auto ds = Dataset::FromMemory(layout, options.table_sizes, std::move(words));
  return ds;
}

absl::StatusOr<int64_t> ConvertCriteoTsvToBinary(const std::string& input_path,
                                                 const std::string& output_path,
                                                 const TsvOptions& options) {
  HPO_RETURN_IF_ERROR(ValidateTsvOptions(options));
  RecordLayout layout;
  layout.num_dense = options.num_dense;
  layout.num_sparse = static_cast<int>(options.table_sizes.size());
  HPO_ASSIGN_OR_RETURN(auto writer, BinaryWriter::Create(output_path, layout, options.table_sizes));
  Example e;
  HPO_RETURN_IF_ERROR(ForEachLine(input_path, [&](const std::string& line) {
    HPO_RETURN_IF_ERROR(ParseCriteoLine(line, options, &e));
    return writer->Append(e);
  }));
  HPO_RETURN_IF_ERROR(writer->Close());
  return writer->count();
}

}  // namespace hpo::trainer
