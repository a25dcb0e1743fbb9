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
// - Worker ids belong to whoever registered them (`caller_project`: the project of the caller's
//   token, "" for an unscoped caller such as an admin or any caller without --auth). Registering
//   an id of another project is PERMISSION_DENIED; every other call naming one is NOT_FOUND,
//   exactly like an unknown id. Unscoped callers may use every worker. A worker registered before
//   owners were recorded and still unowned after the upgrade (migrations/0007_*) is used only by
//   unscoped callers until a registration claims it; the other calls of a scoped caller naming
//   it are NOT_FOUND. Ownership is checked before any other work (a lease reaps nothing).
// - Concurrent LeaseTrial calls of one worker id are serialized, so they get one suggestion.
// - Checkpoint steps increase within a lease (a resend of the last step is a retry); a lower
//   step is INVALID_ARGUMENT. Every new lease runs the trial from its first step again.
//
// Errors: NOT_FOUND (unknown worker, suggestion or experiment), PERMISSION_DENIED (registering
// another project's worker id), FAILED_PRECONDITION (the worker does not hold the suggestion:
// lease expired or given away), INVALID_ARGUMENT (bad checkpoint, decreasing step, or values).
// Thread-safe; shares the ExperimentManager's lock and store.
#ifndef HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_
#define HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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
  // Learning-curve points the pruner's cache may hold (all experiments together); beyond, the
  // least recently reported experiments leave it and are read again from the store when needed.
  int64_t curve_cache_max_points = 1'000'000;
};

// What the learning-curve cache holds now (for tests and monitoring).
struct CurveCacheStats {
  int64_t experiments = 0;
  int64_t trials = 0;
  int64_t points = 0;
  int64_t loads = 0;  // experiments read from the store since the scheduler started
};

class TrialScheduler {
 public:
  // `manager` and `clock` are not owned and must outlive the scheduler.
  TrialScheduler(ExperimentManager* manager, Clock* clock,
                 TrialSchedulerOptions options = TrialSchedulerOptions());
  ~TrialScheduler();  // stops the reaper thread
  TrialScheduler(const TrialScheduler&) = delete;
  TrialScheduler& operator=(const TrialScheduler&) = delete;

  // Every call names the caller's project scope, `caller_project` (see the file comment).

  // Registers (or re-registers, keeping `worker_id`) a worker. A new id is "w-" + 12 hex digits.
  absl::StatusOr<hpo::v1::RegisterWorkerResponse> RegisterWorker(
      const hpo::v1::RegisterWorkerRequest& request, const std::string& caller_project = "");
  // See the file comment. An empty response (no suggestion) means no work now.
  absl::StatusOr<hpo::v1::LeaseTrialResponse> LeaseTrial(const hpo::v1::LeaseTrialRequest& request,
                                                         const std::string& caller_project = "");
  absl::StatusOr<hpo::v1::HeartbeatResponse> Heartbeat(const hpo::v1::HeartbeatRequest& request,
                                                       const std::string& caller_project = "");
  // Stores one checkpoint and decides whether the trial continues.
  absl::StatusOr<hpo::v1::ProgressDecision> ReportProgress(const hpo::v1::ProgressReport& report,
                                                           const std::string& caller_project = "");
  absl::StatusOr<hpo::v1::Observation> CompleteTrial(const hpo::v1::CompleteTrialRequest& request,
                                                     const std::string& caller_project = "");
  // Returns a suggestion the worker holds to the pool (its attempt does not count as a failure).
  absl::Status ReleaseTrial(const hpo::v1::ReleaseTrialRequest& request,
                            const std::string& caller_project = "");

  // Returns expired leases to the pool or fails them; returns how many expired.
  absl::StatusOr<int> ReapExpiredLeases();

  const TrialSchedulerOptions& options() const { return options_; }
  CurveCacheStats curve_cache_stats();

 private:
  // The learning curves of one experiment (non-empty ones, by suggestion id).
  struct CachedCurves {
    std::vector<pruning::TrialCurve> curves;
    int64_t points = 0;
    int64_t last_use = 0;
  };
  // Holds a worker id's mutex (see worker_locks_) for its lifetime.
  class WorkerLock;

  google::protobuf::Timestamp LeaseExpiry();
  // ReportProgress under the lock, committed with Durability::kGroup (not yet synced).
  absl::StatusOr<hpo::v1::ProgressDecision> StoreProgress(const hpo::v1::ProgressReport& report,
                                                          const std::string& caller_project);
  // The experiment's cached curves, read from the store if absent. Under manager_->mu_.
  absl::StatusOr<CachedCurves*> Curves(int64_t experiment_id);
  // Drops an experiment's curves (it closed, or a write failed). Under manager_->mu_.
  void ForgetCurves(int64_t experiment_id);
  // Evicts the least recently used experiments but `keep` beyond the points bound. Under
  // manager_->mu_.
  void BoundCurves(int64_t keep);
  void ReaperLoop();

  ExperimentManager* manager_;
  Clock* clock_;
  TrialSchedulerOptions options_;
  // Learning curves by experiment for the pruner: loaded from the store on an experiment's first
  // report, then appended after each committed checkpoint (ReportProgress is the only writer of
  // checkpoints); states are refreshed from a light query, deleted suggestions leave. A report
  // works on them in place: it copies no curve. An experiment leaves when it completes or is
  // archived, and the least recently used ones leave beyond options_.curve_cache_max_points.
  // Guarded by manager_->mu_ (not annotated: it belongs to the manager).
  absl::flat_hash_map<int64_t, CachedCurves> curves_;
  int64_t cached_points_ = 0;
  int64_t curve_uses_ = 0;
  int64_t curve_loads_ = 0;
  // One mutex per worker id with a LeaseTrial in progress (removed with its last user), taken
  // before manager_->mu_: a worker's concurrent asks are answered one after the other, so the
  // second finds the suggestion the first was given.
  struct WorkerMutex {
    absl::Mutex mu;
    int users = 0;
  };
  absl::Mutex worker_locks_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<WorkerMutex>> worker_locks_
      ABSL_GUARDED_BY(worker_locks_mu_);
  absl::Mutex reaper_mu_;
  bool stopping_ ABSL_GUARDED_BY(reaper_mu_) = false;
  std::thread reaper_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_TRIAL_SCHEDULER_H_
