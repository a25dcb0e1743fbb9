#include "trainer/dlrm/dlrm_options.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trainer/dlrm/interaction_arch.h"

namespace hpo::trainer {

absl::Status ValidateDlrmOptions(const DlrmOptions& o) {
  if (o.table_sizes().empty()) return absl::InvalidArgumentError("DLRM needs at least one embedding table");
  for (size_t f = 0; f < o.table_sizes().size(); ++f) {
    const int64_t s = o.table_sizes()[f];
    if (s < 1 || s > (int64_t{1} << 31) - 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("embedding table ", f, " has ", s, " rows; need 1..2^31-1"));
    }
  }
  if (o.num_dense_features() < 1) {
    return absl::InvalidArgumentError("DLRM needs at least one dense feature");
  }
  if (o.embedding_dim() < 1) return absl::InvalidArgumentError("embedding_dim must be >= 1");
  if (o.bottom_mlp().empty() || o.bottom_mlp().back() != o.embedding_dim()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bottom MLP [", absl::StrJoin(o.bottom_mlp(), "-"), "] must end in the embedding dimension ",
        o.embedding_dim(), " (its output is dotted with the embeddings)"));
  }
  if (o.top_mlp().empty() || o.top_mlp().back() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "top MLP [", absl::StrJoin(o.top_mlp(), "-"), "] must end in 1 (the click logit)"));
  }
  for (int64_t w : o.bottom_mlp()) {
    if (w < 1) return absl::InvalidArgumentError("bottom MLP widths must be >= 1");
  }
  for (int64_t w : o.top_mlp()) {
    if (w < 1) return absl::InvalidArgumentError("top MLP widths must be >= 1");
  }
  return absl::OkStatus();
}

double ForwardMacsPerSample(const DlrmOptions& o) {
  double macs = 0.0;
  int64_t in = o.num_dense_features();
  for (int64_t w : o.bottom_mlp()) {
    macs += static_cast<double>(in) * static_cast<double>(w);
    in = w;
  }
  const int64_t f = static_cast<int64_t>(o.table_sizes().size());
  const int64_t pairs = InteractionPairs(f, o.interaction_self());
  macs += static_cast<double>(pairs) * static_cast<double>(o.embedding_dim());
  in = o.embedding_dim() + pairs;
  for (int64_t w : o.top_mlp()) {
    macs += static_cast<double>(in) * static_cast<double>(w);
    in = w;
  }
  return macs;
}

}  // namespace hpo::trainer
