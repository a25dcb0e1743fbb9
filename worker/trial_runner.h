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

// A worker's place in a gang trial (TrainingSpec.ranks_per_trial > 1): every rank runs the same
// suggestion together (c10d rendezvous at master_addr:master_port); rank 0 reports.
struct GangPlace {
  int rank = 0;
  int world_size = 1;  // 1: not a gang trial
  std::string master_addr;
  int master_port = 0;
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
  // Runs this worker's rank of a gang trial. The default runs Run() when world_size is 1 and
  // is UNIMPLEMENTED otherwise (a runner that cannot train distributed).
  virtual absl::StatusOr<TrialOutcome> RunRank(const hpo::v1::Experiment& experiment,
                                               const hpo::v1::Suggestion& suggestion,
                                               const GangPlace& gang, ProgressSink* sink);
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
