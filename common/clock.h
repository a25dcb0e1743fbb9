// File: common/clock.h
//
// Injectable time source (leveldb's Env idea): production code uses RealClock(),
// tests inject a FakeClock and advance it explicitly, so no test sleeps.
#ifndef HPO_COMMON_CLOCK_H_
#define HPO_COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace hpo {

// Thread-safe source of the current time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The wall clock. Never deleted; safe to share.
inline Clock* RealClock() {
  class Real final : public Clock {
   public:
    absl::Time Now() override { return absl::Now(); }
  };
  static Real* clock = new Real();
  return clock;
}

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hpo

#endif  // HPO_COMMON_CLOCK_H_
