// dlrm-datagen: writes synthetic Criteo-like data with a planted ground truth, or
// converts Criteo TSV to the binary format.
//
//   dlrm-datagen --mode=synthetic --out_train=train.bin --out_test=test.bin
//       --train_examples=1000000 --test_examples=100000 --table_sizes=kaggle --table_scale=0.01
//   dlrm-datagen --mode=tsv2bin --input=day_0.tsv --output=day_0.bin --table_sizes=kaggle
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "trainer/data/criteo_tsv.h"
#include "trainer/data/dataset.h"
#include "trainer/data/synthetic.h"
#include "trainer/metrics/auc.h"
#include "trainer/tools/flag_util.h"

ABSL_FLAG(std::string, mode, "synthetic", "synthetic | tsv2bin");
ABSL_FLAG(std::string, table_sizes, "kaggle",
          "'kaggle' (Criteo Kaggle cardinalities x --table_scale, capped at --max_table_rows) or a list 1000-50-...");
ABSL_FLAG(double, table_scale, 1.0, "scale of the Kaggle cardinalities");
ABSL_FLAG(int64_t, max_table_rows, 1000000, "cap on each table");
ABSL_FLAG(std::string, out_train, "train.bin", "synthetic: training file");
ABSL_FLAG(std::string, out_test, "test.bin", "synthetic: test file");
ABSL_FLAG(int64_t, train_examples, 1 << 20, "synthetic: training examples");
ABSL_FLAG(int64_t, test_examples, 1 << 16, "synthetic: test examples");
ABSL_FLAG(int32_t, num_dense, 13, "dense features");
ABSL_FLAG(uint64_t, seed, 1, "synthetic: seed of the planted truth");
ABSL_FLAG(std::string, input, "", "tsv2bin: Criteo TSV input");
ABSL_FLAG(std::string, output, "", "tsv2bin: binary output");
ABSL_FLAG(bool, hash_categories, false, "tsv2bin: hash categories instead of taking them modulo the table size");

namespace hpo::trainer {
namespace {

absl::Status WriteSplit(const SyntheticGenerator& g, const std::string& path, int64_t first, int64_t n,
                        std::vector<float>* probs, std::vector<float>* labels) {
  auto writer = BinaryWriter::Create(path, g.layout(), g.options().table_sizes);
  if (!writer.ok()) return writer.status();
  const RecordLayout layout = g.layout();
  std::vector<uint32_t> words;
  Example e;
  const int64_t kChunk = 65536;
  for (int64_t done = 0; done < n; done += kChunk) {
    const int64_t m = std::min(kChunk, n - done);
    words.resize(static_cast<size_t>(m * layout.words()));
    for (int64_t i = 0; i < m; ++i) {
      g.Generate(first + done + i, &e);
      EncodeRecord(layout, e, words.data() + i * layout.words());
      if (probs != nullptr) {
        probs->push_back(e.probability);
        labels->push_back(e.label);
      }
    }
    if (absl::Status s = (*writer)->AppendEncoded(words); !s.ok()) return s;
  }
  return (*writer)->Close();
}

int Main() {
  auto sizes = ParseTableSizes(absl::GetFlag(FLAGS_table_sizes), absl::GetFlag(FLAGS_table_scale),
                               absl::GetFlag(FLAGS_max_table_rows));
  if (!sizes.ok()) {
    std::fprintf(stderr, "dlrm-datagen: %s\n", std::string(sizes.status().message()).c_str());
    return 2;
  }
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "tsv2bin") {
    TsvOptions o;
    o.num_dense = absl::GetFlag(FLAGS_num_dense);
    o.table_sizes = *sizes;
    o.hash_categories = absl::GetFlag(FLAGS_hash_categories);
    auto n = ConvertCriteoTsvToBinary(absl::GetFlag(FLAGS_input), absl::GetFlag(FLAGS_output), o);
    if (!n.ok()) {
      std::fprintf(stderr, "dlrm-datagen: %s\n", std::string(n.status().message()).c_str());
      return 1;
    }
    std::printf("wrote %lld examples to %s\n", static_cast<long long>(*n), absl::GetFlag(FLAGS_output).c_str());
    return 0;
  }
  if (mode != "synthetic") {
    std::fprintf(stderr, "dlrm-datagen: unknown --mode=%s (synthetic, tsv2bin)\n", mode.c_str());
    return 2;
  }
  SyntheticOptions so;
  so.table_sizes = *sizes;
  so.num_dense = absl::GetFlag(FLAGS_num_dense);
  so.seed = absl::GetFlag(FLAGS_seed);
  auto g = SyntheticGenerator::Create(so);
  if (!g.ok()) {
    std::fprintf(stderr, "dlrm-datagen: %s\n", std::string(g.status().message()).c_str());
    return 2;
  }
  std::vector<float> probs, labels;
  absl::Status s = WriteSplit(*g, absl::GetFlag(FLAGS_out_train), 0, absl::GetFlag(FLAGS_train_examples), nullptr, nullptr);
  if (s.ok()) {
    s = WriteSplit(*g, absl::GetFlag(FLAGS_out_test), kSyntheticTestOffset, absl::GetFlag(FLAGS_test_examples),
                   &probs, &labels);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "dlrm-datagen: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  double ctr = 0;
  for (float l : labels) ctr += l;
  auto auc = RocAuc(probs, labels);
  std::printf("tables: %zu, rows: %lld\n", sizes->size(),
              static_cast<long long>(std::accumulate(sizes->begin(), sizes->end(), int64_t{0})));
  std::printf("test click rate: %.4f\n", labels.empty() ? 0.0 : ctr / static_cast<double>(labels.size()));
  std::printf("bayes_optimal_test_auc: %.6f\n", auc.ok() ? *auc : 0.0);
  return 0;
}

}  // namespace
}  // namespace hpo::trainer

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("Writes synthetic DLRM data or converts Criteo TSV to the binary format.");
  absl::ParseCommandLine(argc, argv);
  return hpo::trainer::Main();
}
