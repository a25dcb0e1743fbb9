#include "server/dashboard/http_server.h"

#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/store/sqlite_store.h"
#include "tests/testing/status_matchers.h"

namespace hpo::dashboard {
namespace {

using ::hpo::testing::StatusIs;
using ::testing::HasSubstr;

// Lets requests carrying "Authorization: Bearer good" through; counts every call.
class TokenAuthorizer : public HttpAuthorizer {
 public:
  absl::StatusOr<std::string> Authorize(const HttpRequestInfo& request) override {
    ++calls;
    const auto it = request.headers.find("authorization");
    if (it == request.headers.end()) return absl::UnauthenticatedError("missing token");
    if (it->second != "Bearer good") return absl::PermissionDeniedError("token refused");
    return std::string();
  }
  std::atomic<int> calls{0};
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = store::SqliteStore::Open(":memory:", &clock_);
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    service::ExperimentManagerOptions options;
    options.background_proposals = false;
    manager_ = std::make_unique<service::ExperimentManager>(store_.get(), &clock_, options);
    api_ = std::make_unique<DashboardApi>(manager_.get(), &clock_, absl::Seconds(30));
    static_dir_ = std::filesystem::path(::testing::TempDir()) /
                  ("dashboard-" + std::to_string(::getpid()));
    std::filesystem::create_directories(static_dir_ / "assets");
    std::ofstream(static_dir_ / "index.html") << "<!doctype html><title>hpo</title>";
    std::ofstream(static_dir_ / "assets" / "app.js") << "console.log(1)";
  }
  void TearDown() override { std::filesystem::remove_all(static_dir_); }

  std::unique_ptr<HttpServer> Start(HttpAuthorizer* authorizer = nullptr) {
    HttpServerOptions options;
    options.listen = "127.0.0.1:0";
    options.static_dir = static_dir_.string();
    options.authorizer = authorizer;
    auto server = HttpServer::Start(options, api_.get());
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }

  FakeClock clock_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<service::ExperimentManager> manager_;
  std::unique_ptr<DashboardApi> api_;
  std::filesystem::path static_dir_;
};

TEST_F(HttpServerTest, ServesTheFrontEndAndTheApi) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(server->port(), 0);
  httplib::Client client("127.0.0.1", server->port());
  auto index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_THAT(index->body, HasSubstr("<title>hpo</title>"));
  auto js = client.Get("/assets/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_THAT(js->get_header_value("Content-Type"), HasSubstr("javascript"));
  auto api = client.Get("/api/v1/experiments");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 200);
  EXPECT_EQ(api->body, R"({"experiments":[]})");
  EXPECT_EQ(api->get_header_value("X-Content-Type-Options"), "nosniff");
  auto missing = client.Get("/no/such/file.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("NOT_FOUND"));
}

TEST_F(HttpServerTest, IsReadOnly) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto post = client.Post("/api/v1/experiments", "{}", "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_THAT(post->body, HasSubstr("read-only"));
}

TEST_F(HttpServerTest, EveryRequestPassesTheAuthorizer) {
  TokenAuthorizer authorizer;
  auto server = Start(&authorizer);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  for (const char* path : {"/", "/assets/app.js", "/api/v1/experiments", "/api/v1/revision"}) {
    auto anonymous = client.Get(path);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401) << path;
    EXPECT_THAT(anonymous->body, HasSubstr("UNAUTHENTICATED"));
    auto wrong = client.Get(path, {{"Authorization", "Bearer bad"}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 403) << path;
    auto good = client.Get(path, {{"Authorization", "Bearer good"}});
    ASSERT_TRUE(good);
    EXPECT_EQ(good->status, 200) << path;
  }
  EXPECT_EQ(authorizer.calls.load(), 12);
}

TEST_F(HttpServerTest, WithoutFrontEndExplainsHowToBuildIt) {
  std::filesystem::remove(static_dir_ / "index.html");
  auto server = Start();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto index = client.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_THAT(index->body, HasSubstr("not built"));
}

TEST_F(HttpServerTest, BadOrTakenAddressesAreErrors) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  HttpServerOptions taken;
  taken.listen = "127.0.0.1:" + std::to_string(server->port());
  EXPECT_THAT(HttpServer::Start(taken, api_.get()).status(),
              StatusIs(absl::StatusCode::kUnavailable));
  HttpServerOptions bad;
  bad.listen = "localhost";
  EXPECT_THAT(HttpServer::Start(bad, api_.get()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("host:port")));
  bad.listen = "127.0.0.1:99999";
  EXPECT_THAT(HttpServer::Start(bad, api_.get()).status(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace hpo::dashboard
