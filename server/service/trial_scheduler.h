// File: server/service/trial_scheduler.h
//
// The plain C++ core behind TrialService: worker registration, leases, heartbeats, learning-curve
// progress with prune decisions, and trial completion (Vizier's client_id lease rule).
//
// - LeaseTrial gives a worker its own unfinished suggestion back if it holds one; otherwise a
//   suggestion whose lease expired (returned to the pool), a queued one, or a new one from the
//   optimizer, within parallel_bandwidth and the budget. The lease lasts `lease_timeout` and is
//   renewed by Heartbeat and by every progress report.
// - A lease not renewed in time expires (ReapExpiredLeases, run periodically and before each
//   lease): its suggestion returns to the pool, or, after `max_attempts` leases, is observed as
//   failed.
// - ReportProgress stores the checkpoint (finite values only) and asks the experiment's pruner,
//   preceded by the learning-curve regulator; a stop decision is stored on the suggestion with
//   its reason and step, and repeated for any later report. CompleteTrial records the observation
//   (PRUNED when a stop was decided); retrying it returns the stored observation.
// - Gang trials (TrainingSpec.ranks_per_trial N > 1): LeaseTrial joins the experiment's forming
//   gang (or opens the next suggestion as its rank 0) and answers gang_forming until N workers
//   joined; then each member gets the suggestion with its rank (join order, stable), the world
//   size and rank 0's rendezvous address. Only rank 0 reports; a lost rank dissolves the gang and
//   returns the suggestion to the pool (see docs/design.md, "Gang trials").
//
// Errors: NOT_FOUND (unknown worker, suggestion or experiment), FAILED_PRECONDITION (the worker
// does not hold the suggestion: lease expired or given away), INVALID_ARGUMENT (bad checkpoint or
// values). Thread-safe; shares the ExperimentManager's lock and store.
#ifndef HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_
#define HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_

#include <map>
#include <string>
#include <vector>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "hpo/v1/trial_service.pb.h"
#include "server/pruning/pruner.h"
#include "server/service/experiment_manager.h"

namespace hpo::service {

struct TrialSchedulerOptions {
  // A lease not renewed for this long expires.
  absl::Duration lease_timeout = absl::Seconds(60);
  // Leases a suggestion may get before an expiry marks it failed.
  int max_attempts = 3;
  // Run ReapExpiredLeases in a background thread every lease_timeout / 4.
  bool background_reaper = true;
  // Checkpoints share fsyncs (Store::Durability::kGroup); false: one fsync each (kFull), the
  // baseline of the control-plane benchmark. Both are durable before they are acknowledged.
  bool group_commit = true;
};

class TrialScheduler {
 public:
  // `manager` and `clock` are not owned and must outlive the scheduler.
  TrialScheduler(ExperimentManager* manager, Clock* clock,
                 TrialSchedulerOptions options = TrialSchedulerOptions());
  ~TrialScheduler();  // stops the reaper thread
  TrialScheduler(const TrialScheduler&) = delete;
  TrialScheduler& operator=(const TrialScheduler&) = delete;

  // Registers (or re-registers, keeping `worker_id`) a worker. A new id is "w-" + 12 hex digits.
  absl::StatusOr<hpo::v1::RegisterWorkerResponse> RegisterWorker(
      const hpo::v1::RegisterWorkerRequest& request);
  // See the file comment. An empty response (no suggestion) means no work now.
  absl::StatusOr<hpo::v1::LeaseTrialResponse> LeaseTrial(const hpo::v1::LeaseTrialRequest& request);
  absl::StatusOr<hpo::v1::HeartbeatResponse> Heartbeat(const hpo::v1::HeartbeatRequest& request);
  // Stores one checkpoint and decides whether the trial continues.
  absl::StatusOr<hpo::v1::ProgressDecision> ReportProgress(const hpo::v1::ProgressReport& report);
  absl::StatusOr<hpo::v1::Observation> CompleteTrial(const hpo::v1::CompleteTrialRequest& request);
  // Returns a suggestion the worker holds to the pool (its attempt does not count as a failure).
  absl::Status ReleaseTrial(const hpo::v1::ReleaseTrialRequest& request);

  // Returns expired leases to the pool or fails them; returns how many expired.
  absl::StatusOr<int> ReapExpiredLeases();

  const TrialSchedulerOptions& options() const { return options_; }

 private:
  google::protobuf::Timestamp LeaseExpiry();
  // ReportProgress under the lock, committed with Durability::kGroup (not yet synced).
  absl::StatusOr<hpo::v1::ProgressDecision> StoreProgress(const hpo::v1::ProgressReport& report);
  void ReaperLoop();

  ExperimentManager* manager_;
  Clock* clock_;
  TrialSchedulerOptions options_;
  // Learning curves by experiment for the pruner (non-empty ones, by suggestion id): loaded from
  // the store on an experiment's first report, then appended after each committed checkpoint
  // (ReportProgress is the only writer of checkpoints); states are refreshed from a light query.
  // A report then costs no copy of the stored curves. Guarded by manager_->mu_.
  absl::flat_hash_map<int64_t, std::vector<pruning::TrialCurve>> curves_;
  absl::Mutex reaper_mu_;
  bool stopping_ ABSL_GUARDED_BY(reaper_mu_) = false;
  std::thread reaper_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_
