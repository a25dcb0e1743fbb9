// One DLRM trained by 1, 2 and 3 processes (dlrm-train --world_size/--rank over c10d +
// Gloo on loopback) must reach the same result, also with partial batches that leave a
// rank without examples, with the MLP all-reduce overlapped with backward, and with a
// per-rank memory budget (refused on one rank); a killed rank must make the others fail
// with an error instead of hanging. Launches real processes; ~1 min on 2 cores.
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A port that was free a moment ago.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Runs `argv` with stdout/stderr redirected to files; returns the pid.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out, const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `seconds`; returns its wait status, or -1 on timeout (then kills it).
int WaitFor(pid_t pid, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return status;
    if (Clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The numeric fields of dlrm-train's --json summary line.
std::map<std::string, double> Summary(const std::string& stdout_text) {
  std::map<std::string, double> out;
  std::istringstream lines(stdout_text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;
    for (const char* key : {"steps", "eval_auc_exact", "eval_logloss_exact", "train_loss", "world_size", "rank",
                            "rank_table_bytes"}) {
      const std::string k = std::string("\"") + key + "\":";
      const auto pos = line.find(k);
      if (pos != std::string::npos) out[key] = std::atof(line.c_str() + pos + k.size());
    }
  }
  return out;
}

class DistributedTrain : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("hpo_dist_test_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `world` ranks (world == 1: the plain single-process trainer, no distributed
  // flags) and returns rank 0's summary, checking that every rank reports the same one.
  std::map<std::string, double> Run(const std::vector<std::string>& flags, int world) {
    const int port = FreePort();
    std::vector<pid_t> pids;
    for (int r = 0; r < world; ++r) {
      std::vector<std::string> args = {HPO_DLRM_TRAIN, "--json"};
      args.insert(args.end(), flags.begin(), flags.end());
      if (world > 1) {
        args.push_back("--world_size=" + std::to_string(world));
        args.push_back("--rank=" + std::to_string(r));
        args.push_back("--master_addr=127.0.0.1");
        args.push_back("--master_port=" + std::to_string(port));
        args.push_back("--dist_timeout=30");
      }
      pids.push_back(Spawn(args, Out(world, r), Err(world, r)));
    }
    std::vector<std::map<std::string, double>> sums;
    for (int r = 0; r < world; ++r) {
      const int status = WaitFor(pids[static_cast<size_t>(r)], 90);
      EXPECT_TRUE(status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "world " << world << " rank " << r << " status " << status << ": " << ReadFile(Err(world, r));
      sums.push_back(Summary(ReadFile(Out(world, r))));
    }
    for (int r = 1; r < world; ++r) {
      EXPECT_EQ(sums[static_cast<size_t>(r)]["eval_auc_exact"], sums[0]["eval_auc_exact"]) << "rank " << r;
      EXPECT_EQ(sums[static_cast<size_t>(r)]["train_loss"], sums[0]["train_loss"]) << "rank " << r;
    }
    ranks_ = sums;
    return sums[0];
  }
  // Writes a dlrm-datagen train/test pair into the test directory.
  void Generate(const std::vector<std::string>& flags, std::string* train, std::string* test) {
    *train = (dir_ / "train.bin").string();
    *test = (dir_ / "test.bin").string();
    std::vector<std::string> args = {HPO_DLRM_DATAGEN, "--out_train=" + *train, "--out_test=" + *test};
    args.insert(args.end(), flags.begin(), flags.end());
    const int gs = WaitFor(Spawn(args, (dir_ / "gen.out").string(), (dir_ / "gen.err").string()), 60);
    ASSERT_TRUE(gs >= 0 && WIFEXITED(gs) && WEXITSTATUS(gs) == 0) << ReadFile((dir_ / "gen.err").string());
  }
  std::string Out(int w, int r) const { return (dir_ / ("w" + std::to_string(w) + "r" + std::to_string(r) + ".out")).string(); }
  std::string Err(int w, int r) const { return (dir_ / ("w" + std::to_string(w) + "r" + std::to_string(r) + ".err")).string(); }

  fs::path dir_;
  std::vector<std::map<std::string, double>> ranks_;  // every rank's summary of the last Run
};

void ExpectSameResult(const std::map<std::string, double>& single, const std::map<std::string, double>& dist,
                      int world, double min_auc = 0.6) {
  ASSERT_TRUE(single.count("eval_auc_exact") && dist.count("eval_auc_exact")) << "no summary (world " << world << ")";
  EXPECT_EQ(dist.at("steps"), single.at("steps"));
  // SGD from the same initialisation on the same global batches: only float summation
  // order differs (the MLP gradient is summed in parts).
  EXPECT_NEAR(dist.at("eval_auc_exact"), single.at("eval_auc_exact"), 2e-5) << "world " << world;
  EXPECT_NEAR(dist.at("eval_logloss_exact"), single.at("eval_logloss_exact"), 2e-5) << "world " << world;
  EXPECT_NEAR(dist.at("train_loss"), single.at("train_loss"), 2e-5) << "world " << world;
  EXPECT_GT(dist.at("eval_auc_exact"), min_auc);  // it did learn
}

TEST_F(DistributedTrain, BinaryDataTwoAndThreeRanksMatchOneRank) {
  // 26 tables of 3..2000 rows; tables below 200 rows replicated, the rest model-parallel.
  std::string train, test;
  ASSERT_NO_FATAL_FAILURE(Generate(
      {"--table_scale=0.001", "--max_table_rows=2000", "--train_examples=40000", "--test_examples=4000"}, &train, &test));
  const std::vector<std::string> flags = {
      "--data=binary", "--train_path=" + train, "--test_path=" + test, "--config=tiny", "--optimizer=sgd",
      "--lr=0.05", "--batch_size=240", "--eval_batch_size=1000", "--max_steps=300", "--shuffle_buffer=5000",
      "--replicate_below_rows=200", "--threads=1"};
  const auto one = Run(flags, 1);
  const auto two = Run(flags, 2);
  ExpectSameResult(one, two, 2);
  const auto three = Run(flags, 3);
  ExpectSameResult(one, three, 3);
}

TEST_F(DistributedTrain, SyntheticDataAllTablesModelParallelMatchesOneRank) {
  const std::vector<std::string> flags = {
      "--data=synthetic", "--config=tiny", "--table_scale=0.001", "--max_table_rows=5000", "--optimizer=sgd",
      "--lr=0.2", "--batch_size=256", "--eval_batch_size=4096", "--synthetic_test_examples=8192",
      "--max_steps=200", "--eval_every=100", "--replicate_below_rows=0", "--threads=1"};
  ExpectSameResult(Run(flags, 1), Run(flags, 2), 2);
}

TEST_F(DistributedTrain, PartialBatchesWithEmptyRanksMatchOneRank) {
  // 962 = 15 x 64 + 2 training examples: each epoch ends with a batch of 2, so rank 0 of 3
  // trains on no example in that step; 203 test examples in batches of 50 end with 3.
  std::string train, test;
  ASSERT_NO_FATAL_FAILURE(Generate(
      {"--table_scale=0.001", "--max_table_rows=2000", "--train_examples=962", "--test_examples=203"}, &train, &test));
  const std::vector<std::string> epochs = {
      "--data=binary", "--train_path=" + train, "--test_path=" + test, "--config=tiny", "--optimizer=sgd",
      "--lr=0.05", "--batch_size=64", "--eval_batch_size=50", "--max_steps=0", "--max_epochs=3",
      "--shuffle_buffer=100", "--replicate_below_rows=200", "--threads=1"};
  const auto one = Run(epochs, 1);
  EXPECT_EQ(one.at("steps"), 48);
  ExpectSameResult(one, Run(epochs, 3), 3, /*min_auc=*/0.5);
  // A global batch (2) smaller than the world (3): one rank is idle in every step.
  const std::vector<std::string> tiny_batch = {
      "--data=synthetic", "--config=tiny", "--table_scale=0.001", "--max_table_rows=5000", "--optimizer=sgd",
      "--lr=0.1", "--batch_size=2", "--eval_batch_size=2", "--synthetic_test_examples=101", "--max_steps=60",
      "--replicate_below_rows=100", "--threads=1"};
  ExpectSameResult(Run(tiny_batch, 1), Run(tiny_batch, 3), 3, /*min_auc=*/0.5);
}

TEST_F(DistributedTrain, OverlappedAllReduceGivesTheSameResultAsAfterBackward) {
  // A top MLP of 359x1024 + 1024x256 (~2.5 MB of gradients): 5 buckets of at most 1 MiB.
  std::vector<std::string> flags = {
      "--data=synthetic", "--config=tiny", "--top_mlp=1024-256-1", "--table_scale=0.001", "--max_table_rows=5000",
      "--optimizer=sgd", "--lr=0.05", "--batch_size=240", "--eval_batch_size=4096", "--synthetic_test_examples=4096",
      "--max_steps=40", "--replicate_below_rows=100", "--threads=1", "--allreduce_bucket_kb=1024"};
  auto with = [&](const char* overlap) {
    std::vector<std::string> f = flags;
    f.push_back(overlap);
    return f;
  };
  const auto after = Run(with("--overlap_allreduce=false"), 3);
  const auto during = Run(with("--overlap_allreduce=true"), 3);
  const std::string log = ReadFile(Err(3, 0));
  EXPECT_NE(log.find("bucket all-reduces started during backward"), std::string::npos) << log;
  EXPECT_NE(log.find(" 5 all-reduce bucket(s)"), std::string::npos) << log;
  // Same buckets, same collectives: bit-identical sums, so identical results.
  for (const char* key : {"steps", "train_loss", "eval_auc_exact", "eval_logloss_exact"}) {
    EXPECT_EQ(during.at(key), after.at(key)) << key;
  }
  const auto one = Run(flags, 1);
  ExpectSameResult(one, during, 3, /*min_auc=*/0.5);
  // Default buckets (one without overlap): the same result within float rounding.
  flags.pop_back();
  ExpectSameResult(one, Run(flags, 3), 3, /*min_auc=*/0.5);
}

TEST_F(DistributedTrain, MemoryBudgetRefusesOneRankAndPlacesTheTablesOnTwo) {
  // 3.2 MiB of tables (5 of 20000 rows x D=8 x 4 bytes, and smaller ones), budget 2 MiB.
  const std::vector<std::string> flags = {
      "--data=synthetic", "--config=tiny", "--table_scale=0.01", "--max_table_rows=20000", "--optimizer=sgd",
      "--lr=0.1", "--batch_size=256", "--eval_batch_size=4096", "--synthetic_test_examples=4096",
      "--max_steps=100", "--replicate_below_rows=1000", "--threads=1"};
  std::vector<std::string> budget = flags;
  budget.push_back("--rank_memory_mb=2");
  std::vector<std::string> args = {HPO_DLRM_TRAIN};
  args.insert(args.end(), budget.begin(), budget.end());
  const int status = WaitFor(Spawn(args, Out(1, 0), Err(1, 0)), 60);
  ASSERT_TRUE(status >= 0 && WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  const std::string err = ReadFile(Err(1, 0));
  EXPECT_NE(err.find("RESOURCE_EXHAUSTED: embedding tables do not fit a per-rank memory budget of 2.0 MiB on 1 rank"),
            std::string::npos) << err;
  EXPECT_NE(err.find("at least 2 ranks are needed"), std::string::npos) << err;

  const auto one = Run(flags, 1);
  const auto two = Run(budget, 2);
  ExpectSameResult(one, two, 2, /*min_auc=*/0.5);
  ASSERT_EQ(ranks_.size(), 2u);
  double held = 0;
  for (const auto& r : ranks_) {
    EXPECT_LE(r.at("rank_table_bytes"), 2 << 20);
    held += r.at("rank_table_bytes");
  }
  EXPECT_GT(held, one.at("rank_table_bytes"));  // the replicated tables count twice
  EXPECT_NE(ReadFile(Err(2, 0)).find("of 2.0 MiB budget"), std::string::npos) << ReadFile(Err(2, 0));
}

TEST_F(DistributedTrain, KillingARankMakesTheOthersFailInsteadOfHanging) {
  const int port = FreePort();
  const int world = 3;
  std::vector<pid_t> pids;
  for (int r = 0; r < world; ++r) {
    pids.push_back(Spawn({HPO_DLRM_TRAIN, "--data=synthetic", "--config=tiny", "--max_steps=100000000",
                          "--eval_every=20", "--synthetic_test_examples=1024", "--eval_batch_size=1024",
                          "--replicate_below_rows=100", "--world_size=3", "--rank=" + std::to_string(r),
                          "--master_addr=127.0.0.1", "--master_port=" + std::to_string(port), "--dist_timeout=10"},
                         Out(world, r), Err(world, r)));
  }
  // Wait until training is under way (rank 0 printed an evaluation), then kill rank 2.
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (ReadFile(Out(world, 0)).find("\nstep ") == std::string::npos && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(ReadFile(Out(world, 0)).find("\nstep "), std::string::npos) << ReadFile(Err(world, 0));
  kill(pids[2], SIGKILL);
  waitpid(pids[2], nullptr, 0);
  const auto killed_at = Clock::now();
  for (int r = 0; r < 2; ++r) {
    const int status = WaitFor(pids[static_cast<size_t>(r)], 45);  // the timeout is 10 s
    ASSERT_GE(status, 0) << "rank " << r << " hung after its peer died";
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << "rank " << r << " status " << status;
    EXPECT_NE(ReadFile(Err(world, r)).find("UNAVAILABLE: distributed training"), std::string::npos)
        << "rank " << r << ": " << ReadFile(Err(world, r));
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - killed_at).count(), 40.0);
}

}  // namespace
