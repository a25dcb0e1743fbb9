// File: server/pruning/patient_pruner.h
//
// The patience wrapper (Optuna 3.1's PatientPruner with min_delta 0): the wrapped pruner is only
// consulted once the trial has stopped improving.
//
// With the trial's reported values v_1..v_n (checkpoints that carry the watched metrics) and
// patience p: no decision while n <= p + 1. Otherwise the trial "stopped improving" when the best
// of the last p + 1 values is strictly worse than the best of the values before them (nan-
// ignoring, per direction). Then the wrapped pruner decides; with no wrapped pruner (no pruner
// kind set) the trial stops with rule "patience".
// Two watched metrics: the trial stopped improving only when that holds for both metrics.
#ifndef HPO_SERVER_PRUNING_PATIENT_PRUNER_H_
#define HPO_SERVER_PRUNING_PATIENT_PRUNER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "server/pruning/curve.h"
#include "server/pruning/pruner.h"

namespace hpo::pruning {

class PatientPruner final : public Pruner {
 public:
  // `wrapped` may be null (stop as soon as patience is exhausted); patience >= 1.
  PatientPruner(std::vector<WatchedMetric> metrics, std::unique_ptr<Pruner> wrapped,
                int32_t patience);

  Decision ShouldPrune(const TrialCurve& trial, absl::Span<const TrialCurve> others) const override;

 private:
  std::vector<WatchedMetric> metrics_;
  std::unique_ptr<Pruner> wrapped_;
  int32_t patience_;
};

}  // namespace hpo::pruning

#endif  // HPO_SERVER_PRUNING_PATIENT_PRUNER_H_
