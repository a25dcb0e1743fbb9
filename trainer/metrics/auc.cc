#include "trainer/metrics/auc.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"

namespace hpo::trainer {

absl::StatusOr<double> RocAuc(absl::Span<const float> scores, absl::Span<const float> labels) {
  if (scores.size() != labels.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AUC: ", scores.size(), " scores but ", labels.size(), " labels"));
  }
  std::vector<int64_t> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  for (float s : scores) {
    if (std::isnan(s)) return absl::InvalidArgumentError("AUC: NaN score");
  }
  std::sort(order.begin(), order.end(),
            [&](int64_t a, int64_t b) { return scores[a] < scores[b]; });
  // Walk groups of equal scores in ascending order. Each positive in a group beats every
  // negative seen in earlier groups and ties with the group's negatives (1/2 each).
  double wins = 0.0;
  int64_t negatives_below = 0, positives = 0, negatives = 0;
  size_t i = 0;
  while (i < order.size()) {
    size_t j = i;
    int64_t group_pos = 0, group_neg = 0;
    while (j < order.size() && scores[order[j]] == scores[order[i]]) {
      if (labels[order[j]] > 0.5f) ++group_pos; else ++group_neg;
      ++j;
    }
    wins += static_cast<double>(group_pos) *
            (static_cast<double>(negatives_below) + 0.5 * static_cast<double>(group_neg));
    negatives_below += group_neg;
    positives += group_pos;
    negatives += group_neg;
    i = j;
  }
  if (positives == 0 || negatives == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "AUC undefined: ", positives, " positives and ", negatives, " negatives"));
  }
  return wins / (static_cast<double>(positives) * static_cast<double>(negatives));
}

absl::StatusOr<double> LogLossFromLogits(absl::Span<const float> logits,
                                         absl::Span<const float> labels) {
  if (logits.size() != labels.size() || logits.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("log loss: ", logits.size(), " logits and ", labels.size(), " labels"));
  }
  double sum = 0.0;
  for (size_t i = 0; i < logits.size(); ++i) {
    // BCE(x, y) = max(x, 0) - x*y + log(1 + exp(-|x|)).
    const double x = logits[i], y = labels[i];
    sum += std::max(x, 0.0) - x * y + std::log1p(std::exp(-std::abs(x)));
  }
  return sum / static_cast<double>(logits.size());
}

}  // namespace hpo::trainer
