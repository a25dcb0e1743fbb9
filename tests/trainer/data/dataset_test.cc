#include "trainer/data/dataset.h"

#include <cstdio>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hpo::trainer {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Dataset, WriterAndMappedReaderRoundTrip) {
  RecordLayout layout;
  layout.num_dense = 2;
  layout.num_sparse = 2;
  layout.has_probability = true;
  const std::string path = ::testing::TempDir() + "/rt.bin";
  auto w = BinaryWriter::Create(path, layout, {10, 3});
  ASSERT_TRUE(w.ok()) << w.status();
  for (int i = 0; i < 5; ++i) {
    Example e{static_cast<float>(i % 2), {float(i), 0.5f}, {i, i % 3}, 0.25f};
    ASSERT_TRUE((*w)->Append(e).ok());
  }
  EXPECT_THAT((*w)->Append(Example{0, {0, 0}, {10, 0}, 0}), StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_TRUE((*w)->Close().ok());
  auto ds = Dataset::OpenMapped(path);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 5);
  EXPECT_TRUE((*ds)->layout().has_probability);
  EXPECT_EQ((*ds)->dense(3)[0], 3.0f);
  EXPECT_EQ((*ds)->sparse(4)[1], 1);
  EXPECT_EQ((*ds)->label(3), 1.0f);
}

TEST(Dataset, RejectsTruncatedAndForeignFiles) {
  RecordLayout layout;
  const std::string path = ::testing::TempDir() + "/trunc.bin";
  auto w = BinaryWriter::Create(path, layout, std::vector<int64_t>(26, 5));
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->Append(Example{1, std::vector<float>(13), std::vector<int32_t>(26), 0}).ok());
  ASSERT_TRUE((*w)->Close().ok());
  std::ofstream(path, std::ios::app) << "xx";  // trailing garbage
  EXPECT_THAT(Dataset::OpenMapped(path), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(path)));
  const std::string foreign = ::testing::TempDir() + "/foreign.bin";
  std::ofstream(foreign) << std::string(100, 'z');
  EXPECT_THAT(Dataset::OpenMapped(foreign), StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic")));
  EXPECT_THAT(Dataset::OpenMapped(::testing::TempDir() + "/nope.bin"), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace hpo::trainer
