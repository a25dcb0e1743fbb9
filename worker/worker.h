// File: worker/worker.h
//
// The hpo-worker loop: register, lease a trial, run it with a TrialRunner while streaming its
// checkpoints and heartbeats, report the result, repeat.
//
// Faults: every call is retried with exponential backoff while the server is unavailable
// (restarts included), so a trial in progress survives a server restart; resent checkpoints and
// results are idempotent on the server. A lease found lost (expired and given away) abandons the
// trial. Shutdown() (SIGTERM) lets the running trial reach its next checkpoint, then gives the
// lease back and returns.
#ifndef HPO_WORKER_WORKER_H_
#define HPO_WORKER_WORKER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/hpo_client.h"
#include "worker/trial_runner.h"

namespace hpo::worker {

struct WorkerOptions {
  hpo::v1::WorkerInfo info;
  std::string worker_id;        // reuse after a restart to get an unfinished trial back
  int64_t experiment_id = 0;    // 0: any active experiment
  int max_trials = 0;           // 0: no limit
  // Return when no trial is available and the server says none may come (work_pending false:
  // the experiments served are completed or paused), instead of polling.
  bool exit_when_idle = false;
  absl::Duration idle_poll = absl::Seconds(2);
  absl::Duration max_backoff = absl::Seconds(5);
  // Called with the worker id after each registration (e.g. to persist it).
  std::function<void(const std::string&)> on_registered;
};

struct WorkerStats {
  int trials = 0;
  int completed = 0;
  int pruned = 0;
  int failed = 0;
  int released = 0;
};

class Worker {
 public:
  // `client` and `runner` are not owned and must outlive the worker.
  Worker(const client::HpoClient* client, TrialRunner* runner, WorkerOptions options);

  // Runs until Shutdown(), max_trials, or (exit_when_idle) no work. Returns the first
  // non-retryable error (e.g. the experiment does not exist).
  absl::Status Run();
  // Asks Run() to return after the current checkpoint; thread- and signal-safe.
  void Shutdown() { shutdown_.store(true); }

  const std::string& worker_id() const { return worker_id_; }
  const WorkerStats& stats() const { return stats_; }

 private:
  absl::Status Register();
  absl::Status RunTrial(const hpo::v1::LeaseTrialResponse& lease);
  // Sleeps for the backoff (doubling it) unless shutting down; false when shutting down.
  bool Backoff(absl::Duration* delay);

  const client::HpoClient* client_;
  TrialRunner* runner_;
  WorkerOptions options_;
  std::string worker_id_;
  absl::Duration heartbeat_interval_ = absl::Seconds(10);
  std::atomic<bool> shutdown_{false};
  WorkerStats stats_;
};

}  // namespace hpo::worker

#endif  // HPO_WORKER_WORKER_H_
