// File: server/service/proposal_cache.h
//
// Keeps optimizer proposals ready ahead of suggestion requests (SigOpt's precomputed
// suggestions), so a CreateSuggestion call does not wait for a model refit.
//
// After every change that alters what the optimizer would propose (an observation, an experiment
// created or resumed, a suggestion withdrawn), the service calls Refresh(); a background thread
// then takes a snapshot of the experiment's history (through the SnapshotFn, which locks the
// service as needed), builds the experiment's optimizer and asks it for a batch of proposals,
// one per free parallel-bandwidth slot, conditioned on the pending suggestions. Batches are keyed
// by the number of observations they were computed from: Take() hands out proposals only while
// that number is current. When nothing fresh is ready, EnsureFresh() computes in the caller's
// thread, or waits for a computation already running, so requests never see stale proposals.
//
// Because a batch is a pure function of the snapshot, the suggestions an experiment gets do not
// depend on whether the background thread or the caller computed them.
//
// Thread-safe. The SnapshotFn and the optimizer run without the cache's lock held.
#ifndef HPO_SERVER_SERVICE_PROPOSAL_CACHE_H_
#define HPO_SERVER_SERVICE_PROPOSAL_CACHE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <thread>

#include "absl/container/node_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "hpo/v1/experiment.pb.h"
#include "server/optimizer/optimizer.h"

namespace hpo::service {

class ProposalCache {
 public:
  // What the optimizer needs for one batch.
  struct Snapshot {
    hpo::v1::Experiment experiment;
    optimizer::History history;
    int batch_size = 1;  // >= 1
  };
  // Returns the snapshot of an experiment, or FAILED_PRECONDITION when it issues no suggestions
  // now (not active, bandwidth or budget taken): then nothing is computed.
  using SnapshotFn = std::function<absl::StatusOr<Snapshot>(int64_t experiment_id)>;

  struct Options {
    // Compute in a background thread after Refresh(). Off: only EnsureFresh() computes.
    bool background = true;
    // How long EnsureFresh() waits for a computation another thread is running.
    absl::Duration wait_timeout = absl::Minutes(5);
  };

  ProposalCache(SnapshotFn snapshot, Options options);
  ~ProposalCache();  // stops and joins the background thread
  ProposalCache(const ProposalCache&) = delete;
  ProposalCache& operator=(const ProposalCache&) = delete;

  // Schedules a background recomputation for the experiment (coalesced; no-op without background).
  void Refresh(int64_t experiment_id);

  // Takes the next proposal computed from `observation_count` observations, or from up to
  // `max_stale` fewer (a busy shared experiment accepts slightly stale proposals rather than
  // recomputing forever), if any.
  std::optional<optimizer::Proposal> Take(int64_t experiment_id, int64_t observation_count,
                                          int64_t max_stale = 0);

  // Makes sure proposals computed from at least `observation_count` observations exist (or were
  // attempted): waits for a running computation, else computes in this thread. Returns the
  // optimizer's or the snapshot's error.
  absl::Status EnsureFresh(int64_t experiment_id, int64_t observation_count);

  // Drops the experiment's proposals (archived, completed).
  void Forget(int64_t experiment_id);

  // Wall time of the experiment's last computation (zero if none), for logs and benchmarks.
  absl::Duration LastComputeTime(int64_t experiment_id);

 private:
  struct Entry {
    int64_t observation_count = -1;  // what `proposals` were computed from
    std::deque<optimizer::Proposal> proposals;
    bool in_flight = false;
    bool dirty = false;  // a Refresh arrived while in flight
    absl::Duration compute_time;
  };

  // Computes a batch for the experiment in the calling thread; `entry.in_flight` is set.
  absl::Status Compute(int64_t experiment_id);
  void BackgroundLoop();

  SnapshotFn snapshot_;
  Options options_;
  absl::Mutex mu_;
  absl::node_hash_map<int64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);  // stable addresses
  std::deque<int64_t> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace hpo::service

#endif  // HPO_SERVER_SERVICE_PROPOSAL_CACHE_H_
