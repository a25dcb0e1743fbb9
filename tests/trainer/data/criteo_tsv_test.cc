#include "trainer/data/criteo_tsv.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace hpo::trainer {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

TsvOptions SmallOptions() {
  TsvOptions o;
  o.num_dense = 3;
  o.table_sizes = {7, 1000, 5};
  return o;
}

TEST(ParseCriteoLine, MissingFieldsBecomeZeroAndRowZero) {
  Example e;
  // label, 3 dense (one missing, one negative), 3 categories (one missing).
  ASSERT_TRUE(ParseCriteoLine("1\t3\t\t-1\t0000000a\t\t68fd1e64", SmallOptions(), &e).ok());
  EXPECT_EQ(e.label, 1.0f);
  EXPECT_FLOAT_EQ(e.dense[0], std::log1p(3.0f));
  EXPECT_EQ(e.dense[1], 0.0f);  // missing
  EXPECT_EQ(e.dense[2], 0.0f);  // log(1 + max(-1, 0))
  EXPECT_EQ(e.sparse[0], 10 % 7);
  EXPECT_EQ(e.sparse[1], 0);  // missing
  EXPECT_EQ(e.sparse[2], static_cast<int32_t>(0x68fd1e64ULL % 5));
}

TEST(ParseCriteoLine, ToleratesCarriageReturnAndHashesWhenAsked) {
  Example e;
  TsvOptions o = SmallOptions();
  o.hash_categories = true;
  ASSERT_TRUE(ParseCriteoLine("0\t1\t2\t3\ta\tb\tc\r", o, &e).ok());
  EXPECT_EQ(e.label, 0.0f);
  for (size_t f = 0; f < 3; ++f) {
    EXPECT_GE(e.sparse[f], 0);
    EXPECT_LT(e.sparse[f], o.table_sizes[f]);
  }
}

TEST(ParseCriteoLine, RejectsMalformedFields) {
  Example e;
  EXPECT_THAT(ParseCriteoLine("1\t1\t2\t3\ta\tb", SmallOptions(), &e),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 7 tab-separated fields, found 6")));
  EXPECT_THAT(ParseCriteoLine("2\t1\t2\t3\ta\tb\tc", SmallOptions(), &e),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("label")));
  EXPECT_THAT(ParseCriteoLine("1\t1\tx2\t3\ta\tb\tc", SmallOptions(), &e),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("I2 is not an integer")));
  EXPECT_THAT(ParseCriteoLine("1\t1\t2\t3\ta\tzz\tc", SmallOptions(), &e),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("C2 is not hexadecimal")));
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(ReadCriteoTsv, ReportsFileAndLineOfAMalformedLine) {
  const std::string path = WriteFile("bad.tsv", "1\t1\t2\t3\ta\tb\tc\n0\t\t\t\t\t\t\n1\t1\t2\t3\ta\tb\n");
  EXPECT_THAT(ReadCriteoTsv(path, SmallOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path + ":3: expected 7")));
  const std::string empty_line = WriteFile("empty_line.tsv", "1\t1\t2\t3\ta\tb\tc\n\n0\t1\t2\t3\ta\tb\tc\n");
  EXPECT_THAT(ReadCriteoTsv(empty_line, SmallOptions()), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(":2:")));
  EXPECT_THAT(ReadCriteoTsv(::testing::TempDir() + "/missing.tsv", SmallOptions()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(ReadCriteoTsv, ReadsEveryLineIncludingAllEmptyFeatures) {
  const std::string path = WriteFile("good.tsv", "1\t1\t2\t3\ta\tb\tc\n0\t\t\t\t\t\t");
  auto ds = ReadCriteoTsv(path, SmallOptions());
  ASSERT_TRUE(ds.ok()) << ds.status();
  ASSERT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->label(0), 1.0f);
  EXPECT_EQ((*ds)->sparse(0)[1], 0xb);
  EXPECT_EQ((*ds)->dense(1)[0], 0.0f);
}

TEST(ConvertCriteoTsvToBinary, RoundTripsThroughTheMappedFile) {
  const std::string in = WriteFile("conv.tsv", "1\t1\t2\t3\ta\tb\tc\n0\t4\t\t6\t1\t2\t3\n");
  const std::string out = ::testing::TempDir() + "/conv.bin";
  auto n = ConvertCriteoTsvToBinary(in, out, SmallOptions());
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 2);
  auto ds = Dataset::OpenMapped(out);
  ASSERT_TRUE(ds.ok()) << ds.status();
  EXPECT_EQ((*ds)->size(), 2);
  EXPECT_EQ((*ds)->table_sizes(), SmallOptions().table_sizes);
  EXPECT_FLOAT_EQ((*ds)->dense(1)[0], std::log1p(4.0f));
  EXPECT_EQ((*ds)->sparse(1)[2], 3);
}

}  // namespace
}  // namespace hpo::trainer
