// File: worker/trial_runner.h
//
// What runs one trial on a worker: the embedded DLRM trainer (dlrm_runner.h) or any external
// command (command_runner.h). A runner knows nothing of gRPC: it reports checkpoints to a
// ProgressSink, which answers whether the trial must stop (pruned, lease lost, worker shutting
// down), and returns the trial's outcome.
#ifndef HPO_WORKER_TRIAL_RUNNER_H_
#define HPO_WORKER_TRIAL_RUNNER_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "hpo/v1/experiment.pb.h"

namespace hpo::worker {

class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  // Delivers a checkpoint. Returns true when the trial must stop now.
  virtual bool Report(const hpo::v1::Checkpoint& checkpoint) = 0;
  // True once the trial must stop (polled between checkpoints).
  virtual bool StopRequested() const = 0;
};

struct TrialOutcome {
  // Final metric values; for a stopped trial, those of its last checkpoint.
  std::vector<hpo::v1::MetricValue> values;
  bool failed = false;
  std::string failure_reason;
  bool stopped = false;  // ended early because the sink asked
  std::map<std::string, std::string> metadata;
};

class TrialRunner {
 public:
  virtual ~TrialRunner() = default;
  // Runs the trial of `suggestion`. A failing trial (divergence, crash, bad output) is an
  // outcome with `failed`, not an error; an error status means the runner itself could not
  // work (bad configuration), and the worker releases the trial.
  virtual absl::StatusOr<TrialOutcome> Run(const hpo::v1::Experiment& experiment,
                                           const hpo::v1::Suggestion& suggestion,
                                           ProgressSink* sink) = 0;
};

// The metrics of `checkpoint` that `experiment` declares, as final values.
std::vector<hpo::v1::MetricValue> ExperimentMetrics(const hpo::v1::Experiment& experiment,
                                                    const hpo::v1::Checkpoint& checkpoint);

// Names of the optimize and constraint metrics missing from `values` (those an observation
// needs).
std::vector<std::string> MissingRequiredMetrics(const hpo::v1::Experiment& experiment,
                                                const std::vector<hpo::v1::MetricValue>& values);

}  // namespace hpo::worker

#endif  // HPO_WORKER_TRIAL_RUNNER_H_
