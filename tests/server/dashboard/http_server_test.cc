#include "server/dashboard/http_server.h"

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

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

  std::unique_ptr<HttpServer> Start(HttpAuthorizer* authorizer = nullptr,
                                    HttpServerOptions options = {}) {
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

// A TCP connection to the server from `source` (any 127.x.y.z is this host on Linux, so a test
// can play several client addresses); -1 on failure.
int Connect(int port, const char* source) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source, &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// True once the server has closed `fd` (EOF or reset), waiting at most `timeout`.
bool ClosedByServer(int fd, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return true;
  }
  return false;
}

TEST_F(HttpServerTest, SlowAndIdleClientsCannotStarveOthers) {
  HttpServerOptions options;
  options.threads = 8;  // two attacking addresses hold at most four
  options.max_queued = 64;
  options.max_connections_per_ip = 2;
  options.request_timeout = absl::Seconds(1);
  options.idle_timeout = absl::Milliseconds(500);
  auto server = Start(nullptr, options);
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  // Slow loris from one address: a request line, then a header line now and then, never done.
  constexpr int kSlow = 64;  // more than httplib's default pool on any machine
  std::vector<int> slow;
  for (int i = 0; i < kSlow; ++i) {
    const int fd = Connect(port, "127.0.0.2");
    ASSERT_GE(fd, 0);
    ASSERT_GT(send(fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL), 0);
    slow.push_back(fd);
  }
  std::atomic<bool> done{false};
  std::thread dribble([&] {
    while (!done) {
      for (int fd : slow) (void)send(fd, "X-A: b\r\n", 8, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
  std::vector<int> idle;
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    done = true;
    dribble.join();
    for (int fd : slow) close(fd);
    for (int fd : idle) close(fd);
  }};
  // Idle connections from another address that never send a byte.
  constexpr int kIdle = 200;
  for (int i = 0; i < kIdle; ++i) {
    const int fd = Connect(port, "127.0.0.3");
    if (fd >= 0) idle.push_back(fd);
  }

  // A normal client is still answered, within a generous deadline.
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(std::chrono::seconds(20));
  client.set_read_timeout(std::chrono::seconds(20));
  auto response = client.Get("/api/v1/experiments");
  ASSERT_TRUE(response) << httplib::to_string(response.error());
  EXPECT_EQ(response->status, 200);

  // A request that never completes is cut off although bytes keep arriving.
  EXPECT_TRUE(ClosedByServer(slow[0], std::chrono::seconds(30)));
  ASSERT_FALSE(idle.empty());
  EXPECT_TRUE(ClosedByServer(idle.front(), std::chrono::seconds(30)));
}

TEST_F(HttpServerTest, SignInSetsAnHttpOnlyCookie) {
  TokenAuthorizer authorizer;
  auto server = Start(&authorizer);
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto signed_in = client.Post("/api/v1/session", {{"Authorization", "Bearer good"}}, "", "");
  ASSERT_TRUE(signed_in);
  EXPECT_EQ(signed_in->status, 204);
  const std::string cookie = signed_in->get_header_value("Set-Cookie");
  EXPECT_THAT(cookie, HasSubstr("hpo_token=good;"));
  EXPECT_THAT(cookie, HasSubstr("HttpOnly"));
  EXPECT_THAT(cookie, HasSubstr("SameSite=Strict"));
  EXPECT_THAT(cookie, HasSubstr("Path=/"));
  // A refused token sets nothing; a token only in a cookie (a cross-site form) is no sign-in.
  auto refused = client.Post("/api/v1/session", {{"Authorization", "Bearer bad"}}, "", "");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(refused->has_header("Set-Cookie"));
  auto cookie_only = client.Post("/api/v1/session", {{"Cookie", "hpo_token=good"}}, "", "");
  ASSERT_TRUE(cookie_only);
  EXPECT_EQ(cookie_only->status, 401);
  EXPECT_FALSE(cookie_only->has_header("Set-Cookie"));
  auto signed_out = client.Delete("/api/v1/session");
  ASSERT_TRUE(signed_out);
  EXPECT_EQ(signed_out->status, 204);
  EXPECT_THAT(signed_out->get_header_value("Set-Cookie"), HasSubstr("hpo_token=; Max-Age=0"));
  // Everything else stays read-only.
  auto post = client.Post("/api/v1/experiments", {{"Authorization", "Bearer good"}}, "{}",
                          "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(HttpServerTest, HttplibRefusalsKeepTheirStatus) {
  auto server = Start();
  ASSERT_NE(server, nullptr);
  httplib::Client client("127.0.0.1", server->port());
  auto long_uri = client.Get(("/api/v1/experiments?x=" + std::string(10000, 'a')).c_str());
  ASSERT_TRUE(long_uri);
  EXPECT_EQ(long_uri->status, 414);
  EXPECT_THAT(long_uri->body, ::testing::Not(HasSubstr("no such page")));
  auto range = client.Get("/assets/app.js", {{"Range", "bytes=1000-2000"}});
  ASSERT_TRUE(range);
  EXPECT_EQ(range->status, 416);
  auto missing = client.Get("/nothing-here");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("no such page"));
}

}  // namespace
}  // namespace hpo::dashboard
