#include "trainer/optim/lr_schedule.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace hpo::trainer {

absl::Status LrSchedule::Validate() const {
  if (!(base_lr > 0.0) || !std::isfinite(base_lr)) {
    return absl::InvalidArgumentError(absl::StrCat("learning rate must be > 0, got ", base_lr));
  }
  if (warmup_steps < 0 || decay_steps < 0 || decay_start_step < 0) {
    return absl::InvalidArgumentError("warmup_steps, decay_start_step and decay_steps must be >= 0");
  }
  if (decay_steps > 0 && decay_start_step < warmup_steps) {
    return absl::InvalidArgumentError(absl::StrCat("decay_start_step (", decay_start_step,
                                                   ") must not be inside the warmup (",
                                                   warmup_steps, " steps)"));
  }
  if (!(decay_power > 0.0)) {
    return absl::InvalidArgumentError(absl::StrCat("decay power must be > 0, got ", decay_power));
  }
  if (end_lr < 0.0 || end_lr > base_lr) {
    return absl::InvalidArgumentError(
        absl::StrCat("end learning rate must be in [0, ", base_lr, "], got ", end_lr));
  }
  return absl::OkStatus();
}

double LrSchedule::At(int64_t step) const {
  if (step < warmup_steps) {
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  }
  if (decay_steps > 0 && step >= decay_start_step) {
    const int64_t k = step - decay_start_step;
    if (k >= decay_steps) return end_lr;
    const double frac = static_cast<double>(decay_steps - k) / static_cast<double>(decay_steps);
    return end_lr + (base_lr - end_lr) * std::pow(frac, decay_power);
  }
  return base_lr;
}

}  // namespace hpo::trainer
