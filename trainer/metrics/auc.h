// File: trainer/metrics/auc.h
//
// Evaluation metrics for click models: exact ROC AUC (ties counted as half, like the
// Mann-Whitney U statistic and sklearn's roc_auc_score) and mean binary log loss.
// Pure functions over spans; no LibTorch.
#ifndef HPO_TRAINER_METRICS_AUC_H_
#define HPO_TRAINER_METRICS_AUC_H_

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hpo::trainer {

// Exact area under the ROC curve of `scores` for binary `labels` (0 or 1; any value
// > 0.5 counts as positive). Tied scores contribute 1/2 per positive-negative pair.
// O(n log n). Returns InvalidArgument if the sizes differ, or FailedPrecondition if one
// class is absent (AUC undefined). Scores may be logits or probabilities; NaN scores are
// rejected with InvalidArgument.
absl::StatusOr<double> RocAuc(absl::Span<const float> scores, absl::Span<const float> labels);

// Mean binary cross-entropy of `logits` against `labels`, computed stably from logits.
// Returns InvalidArgument if the sizes differ or are zero.
absl::StatusOr<double> LogLossFromLogits(absl::Span<const float> logits,
                                         absl::Span<const float> labels);

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_METRICS_AUC_H_
