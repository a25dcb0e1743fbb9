#include "trainer/dlrm/dlrm.h"

#include <torch/torch.h>

#include <limits>
#include <vector>

#include "gtest/gtest.h"

namespace hpo::trainer {
namespace {

DlrmOptions Tiny(bool self) {
  return DlrmOptions({5, 7, 3}).num_dense_features(3).embedding_dim(4).bottom_mlp({6, 4}).top_mlp({8, 1})
      .interaction_self(self);
}

struct Inputs {
  torch::Tensor dense, indices, labels;
};

Inputs TinyInputs() {
  Inputs in;
  in.dense = torch::randn({4, 3}, torch::kFloat64);
  // Row 1 of table 0 appears twice: its gradient must be the sum of both occurrences.
  in.indices = torch::tensor({1, 4, 1, 0, 6, 2, 2, 3, 0, 1, 2, 1}, torch::kInt32).reshape({3, 4});
  in.labels = torch::tensor({1.0, 0.0, 1.0, 0.0}, torch::kFloat64);
  return in;
}

double Loss(DLRM& model, const Inputs& in) {
  torch::NoGradGuard no_grad;
  auto logits = model->Predict(in.dense, in.indices);
  return torch::binary_cross_entropy_with_logits(logits, in.labels, {}, {}, at::Reduction::Sum).item<double>();
}

// Central differences in double precision against autograd plus the sparse-table path.
void CheckGradients(bool self) {
  torch::manual_seed(11);
  DLRM model(Tiny(self));
  model->to(torch::kFloat64);
  model->sparse_arch->ToDouble();
  Inputs in = TinyInputs();
  auto pooled = model->sparse_arch->forward(in.indices).requires_grad_(true);
  auto loss = torch::binary_cross_entropy_with_logits(model->forward(in.dense, pooled), in.labels, {}, {},
                                                      at::Reduction::Sum);
  loss.backward();
  const double eps = 1e-6;
  for (auto& p : model->parameters()) {
    auto flat = p.detach().view({-1});
    auto grad = p.grad().view({-1});
    for (int64_t i = 0; i < flat.numel(); i += 3) {
      const double orig = flat[i].item<double>();
      flat[i] = orig + eps;
      const double up = Loss(model, in);
      flat[i] = orig - eps;
      const double down = Loss(model, in);
      flat[i] = orig;
      EXPECT_NEAR(grad[i].item<double>(), (up - down) / (2 * eps), 1e-6);
    }
  }
  // Embedding rows: d loss / d table[f][r] = sum over occurrences of the pooled grad.
  auto pg = pooled.grad();
  auto idx = in.indices.accessor<int32_t, 2>();
  for (int64_t f = 0; f < 3; ++f) {
    auto table = model->sparse_arch->table(f);
    for (int64_t r = 0; r < table.size(0); ++r) {
      for (int64_t k = 0; k < 4; ++k) {
        double analytic = 0;
        for (int64_t b = 0; b < 4; ++b) {
          if (idx[f][b] == r) analytic += pg[b][f][k].item<double>();
        }
        const double orig = table[r][k].item<double>();
        table[r][k] = orig + eps;
        const double up = Loss(model, in);
        table[r][k] = orig - eps;
        const double down = Loss(model, in);
        table[r][k] = orig;
        EXPECT_NEAR(analytic, (up - down) / (2 * eps), 1e-6) << "table " << f << " row " << r;
      }
    }
  }
}

// The fp32 path (oneDNN GEMMs, fused bias+ReLU and masked backward) against the same
// model evaluated in double through LibTorch's own Linear/ReLU modules.
TEST(DLRM, Float32FusedMlpMatchesLibTorchModules) {
  torch::manual_seed(5);
  DlrmOptions opts = DlrmOptions({50, 70, 30}).num_dense_features(13).embedding_dim(16).bottom_mlp({64, 16})
                         .top_mlp({48, 1});
  DLRM f32(opts), f64(opts);
  {
    torch::NoGradGuard no_grad;
    auto src = f32->parameters();
    auto dst = f64->parameters();
    for (size_t i = 0; i < src.size(); ++i) dst[i].copy_(src[i]);
  }
  f64->to(torch::kFloat64);
  const int64_t b = 37;
  auto dense = torch::randn({b, 13});
  auto pooled32 = torch::randn({b, 3, 16}).requires_grad_(true);
  auto pooled64 = pooled32.detach().to(torch::kFloat64).requires_grad_(true);
  auto labels = (torch::rand({b}) < 0.3).to(torch::kFloat32);
  auto l32 = torch::binary_cross_entropy_with_logits(f32->forward(dense, pooled32), labels);
  auto l64 = torch::binary_cross_entropy_with_logits(f64->forward(dense.to(torch::kFloat64), pooled64),
                                                     labels.to(torch::kFloat64));
  l32.backward();
  l64.backward();
  EXPECT_NEAR(l32.item<double>(), l64.item<double>(), 1e-5);
  auto p32 = f32->parameters();
  auto p64 = f64->parameters();
  ASSERT_EQ(p32.size(), p64.size());
  for (size_t i = 0; i < p32.size(); ++i) {
    ASSERT_TRUE(p32[i].grad().defined()) << "parameter " << i;
    EXPECT_TRUE(torch::allclose(p32[i].grad().to(torch::kFloat64), p64[i].grad(), 1e-4, 1e-6)) << "parameter " << i;
  }
  EXPECT_TRUE(torch::allclose(pooled32.grad().to(torch::kFloat64), pooled64.grad(), 1e-4, 1e-6));
  // No gradient is asked of the dense features, and a NaN still propagates through ReLU.
  EXPECT_FALSE(dense.grad().defined());
  {
    torch::NoGradGuard no_grad;
    f32->dense_arch->layers[0]->bias.fill_(std::numeric_limits<float>::quiet_NaN());
  }
  EXPECT_TRUE(torch::isnan(f32->forward(dense, pooled32.detach())).all().item<bool>());
}

TEST(DLRM, GradientsMatchFiniteDifferences) { CheckGradients(false); }
TEST(DLRM, GradientsMatchFiniteDifferencesWithSelfInteraction) { CheckGradients(true); }

TEST(DLRM, ShapesFollowTheContract) {
  torch::manual_seed(1);
  DLRM model(Tiny(false));
  auto dense = torch::randn({4, 3});
  auto idx = torch::zeros({3, 4}, torch::kInt32);
  auto pooled = model->sparse_arch->forward(idx);
  EXPECT_EQ(pooled.sizes(), (std::vector<int64_t>{4, 3, 4}));
  auto bottom = model->dense_arch->forward(dense);
  EXPECT_EQ(bottom.sizes(), (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(model->interaction_arch->forward(bottom, pooled).sizes(), (std::vector<int64_t>{4, 4 + 6}));
  EXPECT_EQ(model->forward(dense, pooled).sizes(), (std::vector<int64_t>{4}));
  EXPECT_EQ(model->NumParameters(), (3 * 6 + 6) + (6 * 4 + 4) + (10 * 8 + 8) + (8 + 1) + (5 + 7 + 3) * 4);
}

TEST(DLRM, ConstructorAndForwardValidate) {
  EXPECT_THROW(DLRM(Tiny(false).bottom_mlp({6, 5})), c10::Error);  // must end in D = 4
  EXPECT_THROW(DLRM(Tiny(false).top_mlp({8, 2})), c10::Error);
  EXPECT_THROW(DLRM(DlrmOptions({})), c10::Error);
  DLRM model(Tiny(false));
  auto bad_row = torch::tensor({5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, torch::kInt32).reshape({3, 4});
  try {
    model->sparse_arch->forward(bad_row);
    FAIL() << "expected an out-of-range error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("out of range for embedding table 0"), std::string::npos);
  }
  EXPECT_THROW(model->forward(torch::randn({4, 2}), torch::randn({4, 3, 4})), c10::Error);
}

TEST(SparseArch, BagsSumRowsAndSgdUpdatesOnlyTouchedRows) {
  torch::manual_seed(2);
  SparseArch arch(std::vector<int64_t>{6}, 2, false);
  auto before = arch->table(0).clone();
  // Two examples: bag {1, 3} and bag {3}.
  auto idx = torch::tensor({1, 3, 3}, torch::kInt32);
  auto off = torch::tensor({0, 2, 3}, torch::kInt32);
  auto pooled = arch->forward(idx, off);
  EXPECT_TRUE(torch::allclose(pooled[0][0], before[1] + before[3]));
  EXPECT_TRUE(torch::allclose(pooled[1][0], before[3]));
  auto grad = torch::tensor({1.0f, 2.0f, 10.0f, 20.0f}).reshape({2, 1, 2});
  SparseUpdate u;
  u.lr = 0.5f;
  arch->ApplyGradient(grad, idx, off, u);
  auto after = arch->table(0);
  EXPECT_TRUE(torch::allclose(after[1], before[1] - 0.5 * torch::tensor({1.0f, 2.0f})));
  EXPECT_TRUE(torch::allclose(after[3], before[3] - 0.5 * torch::tensor({11.0f, 22.0f})));
  for (int r : {0, 2, 4, 5}) EXPECT_TRUE(torch::equal(after[r], before[r]));
}

TEST(SparseArch, Bf16TablesGatherUpperHalvesAndSplitSgdKeepsTheMaster) {
  torch::manual_seed(3);
  SparseArch arch(std::vector<int64_t>{4}, 2, true);
  auto idx = torch::tensor({2}, torch::kInt32).reshape({1, 1});
  auto pooled = arch->forward(idx);
  EXPECT_TRUE(torch::equal(pooled[0][0], arch->table(0)[2]));
  SparseUpdate u;
  u.kind = SparseUpdate::Kind::kSplitSgd;
  u.lr = 1e-4f;
  const float start = arch->table(0)[2][0].item<float>();
  for (int i = 0; i < 50; ++i) arch->ApplyGradient(torch::ones({1, 1, 2}), idx, {}, u);
  EXPECT_NEAR(arch->table(0)[2][0].item<float>(), start - 50 * 1e-4f, 2e-3);
}

}  // namespace
}  // namespace hpo::trainer
