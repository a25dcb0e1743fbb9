// File: trainer/optim/lr_schedule.h
//
// The MLPerf DLRM learning-rate policy: linear warmup, constant, polynomial decay, floor.
// Pure and header-light so the schedule is testable without LibTorch.
#ifndef HPO_TRAINER_OPTIM_LR_SCHEDULE_H_
#define HPO_TRAINER_OPTIM_LR_SCHEDULE_H_

#include <cstdint>

#include "absl/status/status.h"

namespace hpo::trainer {

struct LrSchedule {
  double base_lr = 0.1;
  int64_t warmup_steps = 0;      // steps 0..warmup_steps-1 ramp linearly up to base_lr
  int64_t decay_start_step = 0;  // first step of the decay (>= warmup_steps)
  int64_t decay_steps = 0;       // 0: no decay
  double decay_power = 2.0;
  double end_lr = 0.0;           // rate at and after decay_start_step + decay_steps

  // InvalidArgument for negative counts, a decay that starts inside the warmup, a
  // non-positive power or end_lr > base_lr.
  absl::Status Validate() const;

  // Rate for the step with 0-based index `step`:
  //   step < warmup_steps:                  base_lr * (step + 1) / warmup_steps
  //   decay_start <= step < decay_start+N:  end + (base - end) * ((N - k) / N)^power,
  //                                         k = step - decay_start
  //   step >= decay_start + N (N > 0):      end_lr
  //   otherwise:                            base_lr
  // so the first step after warmup runs at base_lr and the decay starts from base_lr.
  double At(int64_t step) const;
};

}  // namespace hpo::trainer

#endif  // HPO_TRAINER_OPTIM_LR_SCHEDULE_H_
