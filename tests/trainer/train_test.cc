#include "trainer/train.h"

#include <cmath>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "trainer/data/dataset.h"
#include "trainer/data/synthetic.h"

namespace hpo::trainer {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

// A small synthetic problem: 26 tables of 3..1000 rows, a tiny DLRM.
TrainOptions Small() {
  TrainOptions o;
  o.synthetic_table_scale = 0.0001;
  o.max_table_rows = 1000;
  o.embedding_dim = 8;
  o.bottom_mlp = {16, 8};
  o.top_mlp = {32, 1};
  o.batch_size = 256;
  o.eval_batch_size = 4096;
  o.data.synthetic_test_examples = 8192;
  o.max_steps = 40;
  o.threads = 1;
  o.optimizer = "adagrad";
  o.learning_rate = 0.05;
  return o;
}

TEST(Train, LearnsTheSyntheticProblemCloseToBayesOptimal) {
  TrainOptions o = Small();
  o.max_steps = 1500;
  o.eval_every = 500;
  auto r = Train(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->outcome, TrainOutcome::kCompleted) << r->failure_reason;
  ASSERT_TRUE(r->bayes_auc.has_value());
  EXPECT_GT(r->final_metrics.eval_auc, 0.7);
  EXPECT_GT(r->final_metrics.eval_auc, *r->bayes_auc - 0.03)
      << "bayes " << *r->bayes_auc << " reached " << r->final_metrics.eval_auc;
  ASSERT_EQ(r->history.size(), 3u);
  EXPECT_GT(r->history[2].eval_auc, r->history[0].eval_auc - 0.002);
  EXPECT_EQ(r->final_metrics.step, 1500);
}

TEST(Train, EveryOptimizerTrainsAndImproves) {
  for (const char* name : {"sgd", "adagrad", "lamb", "hybrid", "split_sgd"}) {
    TrainOptions o = Small();
    o.optimizer = name;
    o.learning_rate = std::string(name) == "adagrad" ? 0.05 : (std::string(name).find("sgd") != std::string::npos ? 0.5 : 0.01);
    o.max_steps = 60;
    auto r = Train(o, nullptr);
    ASSERT_TRUE(r.ok()) << name << ": " << r.status();
    EXPECT_EQ(r->outcome, TrainOutcome::kCompleted) << name << ": " << r->failure_reason;
    EXPECT_GT(r->final_metrics.eval_auc, 0.6) << name;
    EXPECT_TRUE(std::isfinite(r->final_metrics.eval_logloss)) << name;
  }
}

TEST(Train, DeterministicForASeedAtOneThread) {
  TrainOptions o = Small();
  o.eval_every = 20;
  auto a = Train(o, nullptr);
  auto b = Train(o, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->history.size(), b->history.size());
  for (size_t i = 0; i < a->history.size(); ++i) {
    EXPECT_EQ(a->history[i].train_loss, b->history[i].train_loss);
    EXPECT_EQ(a->history[i].eval_auc, b->history[i].eval_auc);
  }
  o.seed = 1;
  auto c = Train(o, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->final_metrics.train_loss, c->final_metrics.train_loss);
}

TEST(Train, CallbackCanStopTheRun) {
  TrainOptions o = Small();
  o.eval_every = 10;
  int calls = 0;
  auto r = Train(o, [&](const StepMetrics& m) {
    ++calls;
    EXPECT_EQ(m.step, 10);
    EXPECT_GT(m.samples_per_second, 0.0);
    return Decision::kStop;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, TrainOutcome::kStopped);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(r->final_metrics.step, 10);
}

TEST(Train, HugeLearningRateIsReportedAsDivergence) {
  TrainOptions o = Small();
  o.optimizer = "sgd";
  o.learning_rate = 1e6;
  o.max_steps = 200;
  auto r = Train(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->outcome, TrainOutcome::kDiverged);
  EXPECT_THAT(r->failure_reason, HasSubstr("learning rate"));
}

TEST(Train, RejectsInvalidOptions) {
  TrainOptions o = Small();
  o.optimizer = "adam";
  EXPECT_THAT(Train(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("unknown optimizer")));
  o = Small();
  o.bottom_mlp = {16, 7};
  EXPECT_THAT(Train(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("embedding_dim")));
  o = Small();
  o.bf16 = true;
  EXPECT_THAT(Train(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("split_sgd")));
  o = Small();
  o.warmup_steps = 10;
  o.decay_start_step = 5;
  o.decay_steps = 10;
  EXPECT_THAT(Train(o, nullptr), StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("warmup")));
  o = Small();
  o.data.source = DataSource::kBinary;
  o.data.train_path = ::testing::TempDir() + "/absent.bin";
  EXPECT_THAT(Train(o, nullptr), StatusIs(absl::StatusCode::kNotFound));
}

TEST(Train, TrainsFromBinaryAndTsvFiles) {
  // A binary file from the generator, 2 epochs, held-out tail.
  SyntheticOptions so;
  so.table_sizes = std::vector<int64_t>(26, 50);
  auto g = SyntheticGenerator::Create(so);
  ASSERT_TRUE(g.ok());
  const std::string bin = ::testing::TempDir() + "/train_test.bin";
  auto w = BinaryWriter::Create(bin, g->layout(), so.table_sizes);
  ASSERT_TRUE(w.ok());
  Example e;
  for (int i = 0; i < 3000; ++i) {
    g->Generate(i, &e);
    ASSERT_TRUE((*w)->Append(e).ok());
  }
  ASSERT_TRUE((*w)->Close().ok());
  TrainOptions o = Small();
  o.data.source = DataSource::kBinary;
  o.data.train_path = bin;
  o.max_steps = 0;
  o.max_epochs = 2;
  auto r = Train(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->final_metrics.step, 2 * 11);  // 2700 training examples: 10 full batches + 1 partial
  EXPECT_GT(r->final_metrics.eval_auc, 0.55);

  const std::string tsv = ::testing::TempDir() + "/train_test.tsv";
  {
    std::ofstream out(tsv);
    for (int i = 0; i < 400; ++i) {
      out << (i % 3 == 0 ? 1 : 0);
      for (int j = 0; j < 13; ++j) out << '\t' << (j == 0 ? std::to_string(i % 3 == 0 ? 9 : 1) : "");
      for (int j = 0; j < 26; ++j) out << '\t' << std::hex << (i % 3 == 0 ? 0xabc : 0x123) + j << std::dec;
      out << '\n';
    }
  }
  o.data.source = DataSource::kTsv;
  o.data.train_path = tsv;
  o.table_sizes = std::vector<int64_t>(26, 100);
  o.max_epochs = 3;
  r = Train(o, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(r->final_metrics.eval_auc, 0.99);  // perfectly separable
}

}  // namespace
}  // namespace hpo::trainer
