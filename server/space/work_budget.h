// File: server/space/work_budget.h
//
// A bound on the work of one potentially expensive computation over user input (the
// feasibility search of linear constraints at CreateExperiment, and the same search inside the
// optimizers): a deterministic work limit, a wall-clock limit, and a cancellation check for
// when the caller goes away. The computation charges its work as it goes and stops at the
// first charge that finds the budget spent.
#ifndef HPO_SERVER_SPACE_WORK_BUDGET_H_
#define HPO_SERVER_SPACE_WORK_BUDGET_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hpo::space {

struct WorkLimits {
  // Work units (one simplex tableau-cell update each, about a nanosecond). The default is
  // about a second of CPU: far more than any reasonable search space needs.
  int64_t max_work = 1'000'000'000;
  // Wall-clock limit from the budget's construction (a slow or loaded machine).
  absl::Duration max_time = absl::Seconds(5);
  // The caller's own deadline (e.g. its gRPC deadline); past it the work is abandoned.
  absl::Time deadline = absl::InfiniteFuture();
  // Polled during the work; true abandons it (e.g. the RPC was cancelled). May be empty.
  std::function<bool()> cancelled;
};

class WorkBudget {
 public:
  enum class Stop {
    kNone,       // still within the budget
    kWork,       // max_work spent
    kTime,       // max_time elapsed
    kCancelled,  // the caller's deadline passed or `cancelled` returned true
  };

  explicit WorkBudget(WorkLimits limits = WorkLimits())
      : limits_(std::move(limits)), time_limit_(absl::Now() + limits_.max_time) {}

  // Adds `units` of work; false once the budget is spent (and from then on). The clock and the
  // cancellation check are consulted every kPollUnits units, so charging is cheap.
  bool Charge(int64_t units) {
    if (stop_ != Stop::kNone) return false;
    spent_ += units;
    if (spent_ > limits_.max_work) {
      stop_ = Stop::kWork;
      return false;
    }
    if (spent_ < next_poll_) return true;
    next_poll_ = spent_ + kPollUnits;
    const absl::Time now = absl::Now();
    if (now >= limits_.deadline || (limits_.cancelled && limits_.cancelled())) {
      stop_ = Stop::kCancelled;
    } else if (now >= time_limit_) {
      stop_ = Stop::kTime;
    }
    return stop_ == Stop::kNone;
  }

  bool exhausted() const { return stop_ != Stop::kNone; }
  Stop stop() const { return stop_; }
  int64_t spent() const { return spent_; }
  const WorkLimits& limits() const { return limits_; }

 private:
  static constexpr int64_t kPollUnits = 1 << 18;  // about a quarter of a millisecond

  WorkLimits limits_;
  absl::Time time_limit_;
  int64_t spent_ = 0;
  int64_t next_poll_ = 0;
  Stop stop_ = Stop::kNone;
};

}  // namespace hpo::space

#endif  // HPO_SERVER_SPACE_WORK_BUDGET_H_
