#include "trainer/optim/lr_schedule.h"

#include "gtest/gtest.h"

namespace hpo::trainer {
namespace {

LrSchedule Mlperf() {
  LrSchedule s;
  s.base_lr = 1.0;
  s.warmup_steps = 4;
  s.decay_start_step = 10;
  s.decay_steps = 5;
  s.decay_power = 2.0;
  s.end_lr = 0.0;
  return s;
}

TEST(LrSchedule, WarmupRampsLinearlyToBase) {
  const LrSchedule s = Mlperf();
  EXPECT_DOUBLE_EQ(s.At(0), 0.25);
  EXPECT_DOUBLE_EQ(s.At(1), 0.5);
  EXPECT_DOUBLE_EQ(s.At(3), 1.0);  // last warmup step
  EXPECT_DOUBLE_EQ(s.At(4), 1.0);  // first step after warmup
}

TEST(LrSchedule, ConstantUntilDecayStartThenPolynomial) {
  const LrSchedule s = Mlperf();
  EXPECT_DOUBLE_EQ(s.At(9), 1.0);
  EXPECT_DOUBLE_EQ(s.At(10), 1.0);           // decay starts from the base rate
  EXPECT_DOUBLE_EQ(s.At(11), 0.64);          // ((5-1)/5)^2
  EXPECT_NEAR(s.At(14), 0.04, 1e-15);        // ((5-4)/5)^2
  EXPECT_DOUBLE_EQ(s.At(15), 0.0);           // end of the decay
  EXPECT_DOUBLE_EQ(s.At(1000000), 0.0);
}

TEST(LrSchedule, DecaysTowardsEndRate) {
  LrSchedule s = Mlperf();
  s.end_lr = 0.1;
  EXPECT_NEAR(s.At(11), 0.1 + 0.9 * 0.64, 1e-15);
  EXPECT_DOUBLE_EQ(s.At(15), 0.1);
  s.decay_power = 1.0;
  EXPECT_NEAR(s.At(12), 0.1 + 0.9 * 0.6, 1e-15);
}

TEST(LrSchedule, NoWarmupNoDecayIsConstant) {
  LrSchedule s;
  s.base_lr = 0.3;
  EXPECT_DOUBLE_EQ(s.At(0), 0.3);
  EXPECT_DOUBLE_EQ(s.At(123456), 0.3);
  EXPECT_TRUE(s.Validate().ok());
}

TEST(LrSchedule, ValidateRejectsInconsistentSettings) {
  LrSchedule s = Mlperf();
  s.decay_start_step = 2;  // inside the warmup
  EXPECT_EQ(s.Validate().code(), absl::StatusCode::kInvalidArgument);
  s = Mlperf();
  s.base_lr = 0.0;
  EXPECT_FALSE(s.Validate().ok());
  s = Mlperf();
  s.end_lr = 2.0;
  EXPECT_FALSE(s.Validate().ok());
  s = Mlperf();
  s.warmup_steps = -1;
  EXPECT_FALSE(s.Validate().ok());
  EXPECT_TRUE(Mlperf().Validate().ok());
}

}  // namespace
}  // namespace hpo::trainer
