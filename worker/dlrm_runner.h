// File: worker/dlrm_runner.h
//
// Runs a trial on the embedded LibTorch DLRM trainer. Options come from trial_config.h; every
// evaluation becomes a checkpoint with metrics auc, logloss, train_loss, learning_rate and
// samples_per_second, and the final observation carries whichever of these the experiment
// declares, plus train_seconds, examples_per_second (training throughput) and bayes_auc_gap
// (Bayes-optimal AUC minus the reached AUC, synthetic data only). A diverged run is a failed
// trial with the trainer's reason.
#ifndef HPO_WORKER_DLRM_RUNNER_H_
#define HPO_WORKER_DLRM_RUNNER_H_

#include <map>
#include <string>

#include "worker/trial_runner.h"

namespace hpo::worker {

class DlrmRunner final : public TrialRunner {
 public:
  // `overrides`: trainer options from the worker's flags, applied last.
  explicit DlrmRunner(std::map<std::string, std::string> overrides)
      : overrides_(std::move(overrides)) {}

  absl::StatusOr<TrialOutcome> Run(const hpo::v1::Experiment& experiment,
                                   const hpo::v1::Suggestion& suggestion,
                                   ProgressSink* sink) override;
  // Gang trials: this worker trains its rank of a distributed run (c10d/Gloo rendezvous at
  // gang.master_addr:master_port); the trainer reports progress on rank 0 only.
  absl::StatusOr<TrialOutcome> RunRank(const hpo::v1::Experiment& experiment,
                                       const hpo::v1::Suggestion& suggestion, const GangPlace& gang,
                                       ProgressSink* sink) override;

 private:
  std::map<std::string, std::string> overrides_;
};

}  // namespace hpo::worker

#endif  // HPO_WORKER_DLRM_RUNNER_H_
