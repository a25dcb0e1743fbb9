#include "server/service/proposal_cache.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace hpo::service {

ProposalCache::ProposalCache(SnapshotFn snapshot, Options options)
    : snapshot_(std::move(snapshot)), options_(options) {
  if (options_.background) thread_ = std::thread([this] { BackgroundLoop(); });
}

ProposalCache::~ProposalCache() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ProposalCache::Refresh(int64_t experiment_id) {
  if (!options_.background) return;
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[experiment_id];
  if (entry.in_flight) {
    entry.dirty = true;
    return;
  }
  if (std::find(queue_.begin(), queue_.end(), experiment_id) == queue_.end()) {
    queue_.push_back(experiment_id);
  }
}

std::optional<optimizer::Proposal> ProposalCache::Take(int64_t experiment_id,
                                                       int64_t observation_count,
                                                       int64_t max_stale) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(experiment_id);
  if (it == entries_.end() || it->second.observation_count > observation_count ||
      observation_count - it->second.observation_count > max_stale ||
      it->second.proposals.empty()) {
    return std::nullopt;
  }
  optimizer::Proposal p = std::move(it->second.proposals.front());
  it->second.proposals.pop_front();
  return p;
}

absl::Status ProposalCache::EnsureFresh(int64_t experiment_id, int64_t observation_count) {
  {
    absl::MutexLock lock(&mu_);
    Entry* entry = &entries_[experiment_id];
    const absl::Time deadline = absl::Now() + options_.wait_timeout;
    while (entry->in_flight) {
      if (mu_.AwaitWithDeadline(absl::Condition(
                                    +[](Entry* e) { return !e->in_flight; }, entry),
                                deadline)) {
        break;
      }
      return absl::DeadlineExceededError(absl::StrCat(
          "suggestions for experiment ", experiment_id, " are still being computed; retry"));
    }
    if (entry->observation_count >= observation_count && !entry->proposals.empty()) {
      return absl::OkStatus();
    }
    entry->in_flight = true;
  }
  return Compute(experiment_id);
}

absl::Status ProposalCache::Compute(int64_t experiment_id) {
  const absl::Time start = absl::Now();
  absl::Status status;
  Snapshot snapshot;
  std::vector<optimizer::Proposal> proposals;
  {
    absl::StatusOr<Snapshot> s = snapshot_(experiment_id);
    if (s.ok()) {
      snapshot = *std::move(s);
      absl::StatusOr<std::unique_ptr<optimizer::Optimizer>> opt =
          optimizer::CreateOptimizer(snapshot.experiment);
      if (opt.ok()) {
        absl::StatusOr<std::vector<optimizer::Proposal>> p =
            (*opt)->Suggest(snapshot.history, std::max(1, snapshot.batch_size));
        if (p.ok()) {
          proposals = *std::move(p);
        } else {
          status = p.status();
        }
      } else {
        status = opt.status();
      }
    } else {
      status = s.status();
    }
  }
  const absl::Duration elapsed = absl::Now() - start;
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[experiment_id];
  entry.in_flight = false;
  entry.compute_time = elapsed;
  if (status.ok()) {
    entry.observation_count = static_cast<int64_t>(snapshot.history.observations.size());
    entry.proposals.assign(std::make_move_iterator(proposals.begin()),
                           std::make_move_iterator(proposals.end()));
    HPO_LOG(DEBUG) << "experiment " << experiment_id << ": " << entry.proposals.size()
                   << " proposals from " << entry.observation_count << " observations in "
                   << absl::FormatDuration(elapsed);
  }
  if (entry.dirty) {
    entry.dirty = false;
    if (options_.background &&
        std::find(queue_.begin(), queue_.end(), experiment_id) == queue_.end()) {
      queue_.push_back(experiment_id);
    }
  }
  return status;
}

void ProposalCache::Forget(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(experiment_id);
  if (it != entries_.end() && !it->second.in_flight) entries_.erase(it);
}

absl::Duration ProposalCache::LastComputeTime(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(experiment_id);
  return it == entries_.end() ? absl::ZeroDuration() : it->second.compute_time;
}

void ProposalCache::BackgroundLoop() {
  while (true) {
    int64_t experiment_id = 0;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ProposalCache* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu_) {
            return c->stopping_ || !c->queue_.empty();
          },
          this));
      if (stopping_) return;
      experiment_id = queue_.front();
      queue_.pop_front();
      Entry& entry = entries_[experiment_id];
      if (entry.in_flight) {
        entry.dirty = true;
        continue;
      }
      entry.in_flight = true;
    }
    const absl::Status s = Compute(experiment_id);
    if (!s.ok() && !absl::IsFailedPrecondition(s)) {
      HPO_LOG(WARNING) << "experiment " << experiment_id << ": precomputing suggestions: " << s;
    }
  }
}

}  // namespace hpo::service
