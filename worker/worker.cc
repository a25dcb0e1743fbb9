#include "worker/worker.h"

#include <algorithm>
#include <cmath>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"

namespace hpo::worker {
namespace {

// `text` as valid UTF-8 of at most `max_bytes` (protobuf refuses a string field that is not):
// a program's output may hold any bytes, and a cut may fall inside a character. Invalid bytes
// become '?'.
std::string ForTheWire(absl::string_view text, size_t max_bytes = 4000) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = n > 0 && i + n <= text.size();
    for (size_t k = 1; valid && k < n; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (valid && n > 1) {  // no overlong forms, surrogates or code points past U+10FFFF
      const unsigned char d = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xC0 || c == 0xC1 || (c == 0xE0 && d < 0xA0) || (c == 0xED && d > 0x9F) ||
                (c == 0xF0 && d < 0x90) || (c == 0xF4 && d > 0x8F) || c > 0xF4);
    }
    if (!valid) n = 1;
    if (out.size() + (valid ? n : 1) > max_bytes) break;
    if (valid) {
      out.append(text.data() + i, n);
    } else {
      out.push_back('?');
    }
    i += n;
  }
  return out;
}

bool Retryable(const absl::Status& s) {
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsAborted(s) ||
         absl::IsResourceExhausted(s) || absl::IsUnknown(s) || absl::IsCancelled(s);
}

// Streams one trial's checkpoints and heartbeats; answers the runner whether to stop.
class TrialSession final : public ProgressSink {
 public:
  TrialSession(const client::HpoClient* client, std::string worker_id, int64_t suggestion_id,
               absl::Duration heartbeat_interval, const std::atomic<bool>* shutdown,
               absl::Duration max_backoff, bool reports = true)
      : reports_(reports),
        client_(client),
        worker_id_(std::move(worker_id)),
        suggestion_id_(suggestion_id),
        shutdown_(shutdown),
        max_backoff_(max_backoff) {
    heartbeats_ = std::thread([this, heartbeat_interval] { HeartbeatLoop(heartbeat_interval); });
  }

  ~TrialSession() override {
    done_.Notify();
    heartbeats_.join();
    (void)CloseStream();
  }

  bool Report(const hpo::v1::Checkpoint& checkpoint) override {
    if (!reports_) return StopRequested();  // a gang's rank > 0: rank 0 reports
    hpo::v1::ProgressReport report;
    report.set_worker_id(worker_id_);
    report.set_suggestion_id(suggestion_id_);
    *report.mutable_checkpoint() = checkpoint;
    absl::Duration delay = absl::Milliseconds(200);
    // While shutting down the checkpoint in hand is still sent, but not retried.
    for (int attempt = 0; !stop_.load() && (attempt == 0 || !shutdown_->load()); ++attempt) {
      if (stream_ == nullptr) {
        context_ = std::make_unique<grpc::ClientContext>();
        stream_ = client_->OpenProgressStream(context_.get());
      }
      hpo::v1::ProgressDecision decision;
      if (stream_->Write(report) && stream_->Read(&decision)) {
        if (decision.decision() == hpo::v1::DECISION_STOP) {
          RequestStop(absl::StrCat("stopped at step ", decision.step(), ": ", decision.reason()));
          pruned_ = true;
        }
        break;
      }
      const absl::Status status = CloseStream();
      if (absl::IsFailedPrecondition(status) || absl::IsNotFound(status)) {
        RequestStop(absl::StrCat("lease lost: ", status.message()));
        lease_lost_ = true;
        break;
      }
      if (!status.ok() && !Retryable(status)) {
        HPO_LOG(WARNING) << "progress report refused: " << status;  // e.g. a bad checkpoint
        break;
      }
      HPO_LOG(WARNING) << "progress stream broke (" << status << "); retrying";
      absl::SleepFor(delay);
      delay = std::min(delay * 2, max_backoff_);
    }
    return StopRequested();
  }

  bool StopRequested() const override {
    return stop_.load() || shutdown_->load();
  }

  bool lease_lost() const { return lease_lost_.load(); }
  bool server_stop() const { return server_stop_.load(); }
  // Waits (heartbeating) until the server stops the trial or ends the lease, or `timeout`
  // passes; returns whether it did.
  bool AwaitServerStop(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto stopped = [](TrialSession* s) { return s->server_stop_.load() || s->lease_lost_.load(); };
    mu_.AwaitWithTimeout(absl::Condition(+stopped, this), timeout);
    return stopped(this);
  }
  bool pruned() const { return pruned_.load(); }
  std::string stop_reason() {
    absl::MutexLock lock(&mu_);
    return stop_reason_;
  }

 private:
  void RequestStop(const std::string& reason) {
    absl::MutexLock lock(&mu_);
    if (!stop_.load()) stop_reason_ = reason;
    stop_.store(true);
  }

  absl::Status CloseStream() {
    if (stream_ == nullptr) return absl::OkStatus();
    stream_->WritesDone();
    const absl::Status status = client::FromGrpcStatus(stream_->Finish());
    stream_.reset();
    context_.reset();
    return status;
  }

  void HeartbeatLoop(absl::Duration interval) {
    while (!done_.WaitForNotificationWithTimeout(interval)) {
      hpo::v1::HeartbeatRequest request;
      request.set_worker_id(worker_id_);
      request.set_suggestion_id(suggestion_id_);
      absl::StatusOr<hpo::v1::HeartbeatResponse> response = client_->Heartbeat(request);
      if (response.ok()) {
        if (response->stop()) {
          server_stop_ = true;
          RequestStop("the server asked to stop (pruned, paused, deleted, or a gang rank lost)");
        }
      } else if (absl::IsFailedPrecondition(response.status())) {
        lease_lost_ = true;
        RequestStop(absl::StrCat("lease lost: ", response.status().message()));
      } else {
        HPO_LOG(WARNING) << "heartbeat failed: " << response.status();
      }
    }
  }

  const bool reports_;
  const client::HpoClient* client_;
  const std::string worker_id_;
  const int64_t suggestion_id_;
  const std::atomic<bool>* shutdown_;
  const absl::Duration max_backoff_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriterInterface<hpo::v1::ProgressReport,
                                                    hpo::v1::ProgressDecision>>
      stream_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<bool> server_stop_{false};
  std::atomic<bool> pruned_{false};
  absl::Mutex mu_;
  std::string stop_reason_ ABSL_GUARDED_BY(mu_);
  absl::Notification done_;
  std::thread heartbeats_;
};

}  // namespace

Worker::Worker(const client::HpoClient* client, TrialRunner* runner, WorkerOptions options)
    : client_(client), runner_(runner), options_(std::move(options)) {
  worker_id_ = options_.worker_id;
}

bool Worker::Backoff(absl::Duration* delay) {
  const absl::Time until = absl::Now() + *delay;
  while (absl::Now() < until) {
    if (shutdown_.load()) return false;
    absl::SleepFor(std::min(absl::Milliseconds(100), until - absl::Now()));
  }
  *delay = std::min(*delay * 2, options_.max_backoff);
  return !shutdown_.load();
}

absl::Status Worker::Register() {
  absl::Duration delay = absl::Milliseconds(200);
  while (true) {
    hpo::v1::RegisterWorkerRequest request;
    *request.mutable_worker() = options_.info;
    request.set_worker_id(worker_id_);
    absl::StatusOr<hpo::v1::RegisterWorkerResponse> response = client_->RegisterWorker(request);
    if (response.ok()) {
      worker_id_ = response->worker_id();
      const auto& hb = response->heartbeat_interval();
      if (hb.seconds() > 0 || hb.nanos() > 0) {
        heartbeat_interval_ = absl::Seconds(hb.seconds()) + absl::Nanoseconds(hb.nanos());
      }
      if (options_.on_registered) options_.on_registered(worker_id_);
      HPO_LOG(INFO) << "registered as " << worker_id_ << " (heartbeat every "
                    << absl::FormatDuration(heartbeat_interval_) << ")";
      return absl::OkStatus();
    }
    if (!Retryable(response.status())) return response.status();
    HPO_LOG(WARNING) << "cannot reach the server (" << response.status() << "); retrying";
    if (!Backoff(&delay)) return absl::CancelledError("shutting down");
  }
}

absl::Status Worker::Run() {
  HPO_RETURN_IF_ERROR(Register());
  absl::Duration delay = absl::Milliseconds(200);
  while (!shutdown_.load() && (options_.max_trials == 0 || stats_.trials < options_.max_trials)) {
    hpo::v1::LeaseTrialRequest request;
    request.set_worker_id(worker_id_);
    request.set_experiment_id(options_.experiment_id);
    absl::StatusOr<hpo::v1::LeaseTrialResponse> lease = client_->LeaseTrial(request);
    if (!lease.ok()) {
      if (absl::IsNotFound(lease.status()) &&
          absl::StrContains(lease.status().message(), "worker_id")) {
        HPO_RETURN_IF_ERROR(Register());  // the server lost our registration (new database)
        continue;
      }
      if (!Retryable(lease.status())) return lease.status();
      HPO_LOG(WARNING) << "lease failed (" << lease.status() << "); retrying";
      if (!Backoff(&delay)) break;
      continue;
    }
    delay = absl::Milliseconds(200);
    if (!lease->has_suggestion() && lease->gang_forming()) {
      // In a gang that is still gathering its ranks: ask again soon (asking keeps the place).
      absl::Duration poll = std::min(options_.idle_poll, absl::Milliseconds(500));
      if (!Backoff(&poll)) break;
      continue;
    }
    if (!lease->has_suggestion()) {
      if (options_.exit_when_idle && !lease->work_pending()) break;  // its experiments are done
      absl::Duration idle = options_.idle_poll;
      if (!Backoff(&idle)) break;
      continue;
    }
    ++stats_.trials;
    HPO_RETURN_IF_ERROR(RunTrial(*lease));
  }
  HPO_LOG(INFO) << "worker " << worker_id_ << " done: " << stats_.trials << " trials ("
                << stats_.completed << " completed, " << stats_.pruned << " pruned, "
                << stats_.failed << " failed, " << stats_.released << " released)";
  return absl::OkStatus();
}

absl::Status Worker::RunTrial(const hpo::v1::LeaseTrialResponse& lease) {
  const hpo::v1::Suggestion& suggestion = lease.suggestion();
  GangPlace gang;
  if (lease.has_gang() && lease.gang().world_size() > 1) {
    gang.rank = lease.gang().rank();
    gang.world_size = lease.gang().world_size();
    gang.master_addr = lease.gang().master_addr();
    gang.master_port = lease.gang().master_port();
  }
  HPO_LOG(INFO) << "trial " << suggestion.id() << " of experiment " << suggestion.experiment_id()
                << " (attempt " << suggestion.attempts() << ")"
                << (gang.world_size > 1
                        ? absl::StrCat(": gang rank ", gang.rank, " of ", gang.world_size,
                                       ", rendezvous ", gang.master_addr, ":", gang.master_port)
                        : std::string());
  absl::StatusOr<TrialOutcome> outcome;
  bool lease_lost = false, pruned = false, server_stop = false;
  std::string stop_reason;
  {
    TrialSession session(client_, worker_id_, suggestion.id(), heartbeat_interval_, &shutdown_,
                         options_.max_backoff, /*reports=*/gang.rank == 0);
    outcome = runner_->RunRank(lease.experiment(), suggestion, gang, &session);
    if (gang.world_size > 1 && gang.rank == 0 && outcome.ok() && outcome->failed &&
        !session.StopRequested()) {
      // A lost rank makes rank 0's collectives fail before the server notices the loss. The loss
      // of a rank is the loss of the trial (retried by a new gang, the attempt counted), not a
      // failed trial: wait for the server's verdict, one lease timeout at most (4 heartbeat
      // intervals), before reporting the failure.
      HPO_LOG(WARNING) << "trial " << suggestion.id() << " failed on gang rank 0 ("
                       << outcome->failure_reason << "); waiting for the server's verdict on the gang";
      session.AwaitServerStop(5 * heartbeat_interval_);
    }
    lease_lost = session.lease_lost();
    pruned = session.pruned();
    server_stop = session.server_stop();
    stop_reason = session.stop_reason();
  }
  if (lease_lost) {
    HPO_LOG(WARNING) << "trial " << suggestion.id() << " abandoned: " << stop_reason;
    return absl::OkStatus();
  }
  if (gang.rank > 0 && outcome.ok() && !(shutdown_.load() && outcome->stopped)) {
    if (outcome->stopped && server_stop) {  // the gang dissolved or the trial was stopped
      HPO_LOG(WARNING) << "trial " << suggestion.id() << " (gang rank " << gang.rank
                       << ") abandoned: " << stop_reason;
      return absl::OkStatus();
    }
    // A rank > 0 did its part: it gives its place back without reporting (rank 0 reports).
    hpo::v1::CompleteTrialRequest done;
    done.set_worker_id(worker_id_);
    done.set_suggestion_id(suggestion.id());
    done.set_failed(outcome->failed);
    if (outcome->failed) done.set_failure_reason(ForTheWire(outcome->failure_reason));
    absl::StatusOr<hpo::v1::Observation> released = client_->CompleteTrial(done);
    if (!released.ok()) HPO_LOG(WARNING) << "releasing the gang place failed: " << released.status();
    ++(outcome->failed ? stats_.failed : stats_.completed);
    HPO_LOG(INFO) << "trial " << suggestion.id() << " (gang rank " << gang.rank << ") "
                  << (outcome->failed ? absl::StrCat("failed: ", outcome->failure_reason)
                                      : std::string("done"));
    return absl::OkStatus();
  }
  if (gang.world_size > 1 && server_stop && !pruned && outcome.ok() &&
      (outcome->stopped || outcome->failed)) {
    // The server dissolved the gang (a rank was lost): the trial is back in the pool.
    HPO_LOG(WARNING) << "trial " << suggestion.id() << " (gang rank 0) abandoned: " << stop_reason;
    return absl::OkStatus();
  }
  const bool shutting_down = shutdown_.load() && !pruned;
  if (!outcome.ok() || (shutting_down && outcome->stopped)) {
    hpo::v1::ReleaseTrialRequest release;
    release.set_worker_id(worker_id_);
    release.set_suggestion_id(suggestion.id());
    release.set_reason(outcome.ok() ? "worker shutting down"
                                    : ForTheWire(outcome.status().ToString()));
    if (!outcome.ok()) HPO_LOG(ERROR) << "trial " << suggestion.id() << ": " << outcome.status();
    absl::Status released = client_->ReleaseTrial(release);
    if (!released.ok()) HPO_LOG(WARNING) << "releasing the lease failed: " << released;
    ++stats_.released;
    if (!outcome.ok()) {  // this node cannot run trials now: do not spin on the same one
      absl::Duration pause = options_.max_backoff;
      Backoff(&pause);
    }
    return absl::OkStatus();
  }

  hpo::v1::CompleteTrialRequest request;
  request.set_worker_id(worker_id_);
  request.set_suggestion_id(suggestion.id());
  for (const auto& [k, v] : outcome->metadata) (*request.mutable_metadata())[k] = v;
  if (pruned) (*request.mutable_metadata())["stop_reason"] = stop_reason;
  bool failed = outcome->failed;
  std::string reason = outcome->failure_reason;
  if (!failed) {
    for (const auto& v : outcome->values) {
      if (!std::isfinite(v.value())) {
        failed = true;
        reason = absl::StrCat("metric ", v.name(), " is ", v.value(), " (diverged)");
      }
    }
    std::vector<std::string> missing = MissingRequiredMetrics(lease.experiment(), outcome->values);
    if (!failed && !missing.empty()) {
      failed = true;
      reason = absl::StrCat(pruned ? "pruned before reporting " : "the trial did not report ",
                            absl::StrJoin(missing, ", "));
    }
  }
  request.set_failed(failed);
  if (failed) {
    request.set_failure_reason(ForTheWire(reason));
  } else {
    for (const auto& v : outcome->values) *request.add_values() = v;
  }
  absl::Duration delay = absl::Milliseconds(200);
  while (true) {
    absl::StatusOr<hpo::v1::Observation> observation = client_->CompleteTrial(request);
    if (observation.ok()) break;
    const absl::Status& refused = observation.status();
    if (absl::IsInvalidArgument(refused) && !request.failed()) {
      // The program's result does not fit the experiment (an unknown metric, say). Running the
      // trial again would give the same result: it fails, with the server's reason.
      HPO_LOG(ERROR) << "trial " << suggestion.id() << ": result refused: " << refused;
      failed = true;
      reason = absl::StrCat("the server refused the trial's result: ", refused.message());
      request.clear_values();
      request.set_failed(true);
      request.set_failure_reason(ForTheWire(reason));
      continue;
    }
    if (!Retryable(refused)) {
      // Not even the failure was taken (the lease is gone, or the failure itself is refused):
      // give the lease back so that the trial is not leased to this worker again and again.
      HPO_LOG(ERROR) << "trial " << suggestion.id() << ": result refused: " << refused;
      hpo::v1::ReleaseTrialRequest release;
      release.set_worker_id(worker_id_);
      release.set_suggestion_id(suggestion.id());
      release.set_reason(ForTheWire(absl::StrCat("result refused: ", refused.message())));
      if (absl::Status released = client_->ReleaseTrial(release); !released.ok()) {
        HPO_LOG(WARNING) << "releasing the lease failed: " << released;
      }
      ++stats_.released;
      absl::Duration pause = options_.max_backoff;
      Backoff(&pause);
      return absl::OkStatus();
    }
    HPO_LOG(WARNING) << "reporting trial " << suggestion.id() << " failed (" << refused
                     << "); retrying";
    absl::SleepFor(delay);  // the result is kept even while shutting down
    delay = std::min(delay * 2, options_.max_backoff);
  }
  if (failed) {
    ++stats_.failed;
  } else if (pruned) {
    ++stats_.pruned;
  } else {
    ++stats_.completed;
  }
  HPO_LOG(INFO) << "trial " << suggestion.id() << " "
                << (failed ? absl::StrCat("failed: ", reason)
                           : pruned ? stop_reason : std::string("completed"));
  return absl::OkStatus();
}

}  // namespace hpo::worker
