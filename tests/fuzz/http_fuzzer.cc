// Fuzz target: the dashboard's HTTP server (server/dashboard/http_server.h) and the JSON API
// behind it, reached the way a browser or an attacker reaches them: raw bytes on a TCP
// connection.
//
// One server runs for the whole session on 127.0.0.1 (a real SQLite store in memory with one
// experiment, tokens on through the dashboard's guard, short timeouts). Each input is sent as
// is on a new connection, the write side is closed, and whatever comes back is read. Then:
//   * the answer is empty (the server closed a connection it could not parse) or starts with
//     an HTTP/1.x status line whose code is not 5xx: malformed input is the client's error;
//   * a request without a valid token never gets experiment data (no 200 from /api/);
//   * after every input a well-formed request with the reader's token still gets a 200 with
//     the experiment: no input breaks the server for the next client.
// Crashes, sanitizer reports, timeouts and violations are bugs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "server/auth/access_control.h"
#include "server/auth/guards.h"
#include "server/dashboard/api.h"
#include "server/dashboard/http_server.h"
#include "server/service/experiment_manager.h"
#include "server/store/sqlite_store.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

constexpr char kReaderSecret[] = "hpo_00000000000000000000000000000000000000000000000a";

struct Dashboard {
  std::unique_ptr<hpo::store::SqliteStore> store;
  std::unique_ptr<hpo::service::ExperimentManager> manager;
  std::unique_ptr<hpo::auth::AccessControl> access;
  std::unique_ptr<hpo::auth::DashboardGuard> guard;
  std::unique_ptr<hpo::dashboard::DashboardApi> api;
  std::unique_ptr<hpo::dashboard::HttpServer> http;
  int64_t experiment_id = 0;
};
Dashboard* dashboard = nullptr;
bool verbose = false;

void StartDashboard() {
  dashboard = new Dashboard;
  auto store = hpo::store::SqliteStore::Open(":memory:");
  HPO_FUZZ_CHECK(store.ok(), store.status().ToString());
  dashboard->store = std::move(*store);
  dashboard->manager =
      std::make_unique<hpo::service::ExperimentManager>(dashboard->store.get(), hpo::RealClock());
  hpo::v1::CreateTokenRequest token;
  token.set_name("reader");
  token.set_role(hpo::v1::ROLE_READ_ONLY);
  token.set_project("a");
  auto created = dashboard->manager->CreateToken(token, kReaderSecret);
  HPO_FUZZ_CHECK(created.ok(), created.status().ToString());

  hpo::v1::Experiment spec;
  hpo::v1::Experiment* e = &spec;
  e->set_name("fuzzed dashboard");
  e->set_project("a");
  e->set_observation_budget(10);
  hpo::v1::Parameter* p = e->mutable_search_space()->add_parameters();
  p->set_name("lr");
  p->set_type(hpo::v1::PARAMETER_TYPE_DOUBLE);
  p->mutable_bounds()->set_min(0.001);
  p->mutable_bounds()->set_max(1);
  e->add_metrics()->set_name("auc");
  auto experiment = dashboard->manager->CreateExperiment(spec);
  HPO_FUZZ_CHECK(experiment.ok(), experiment.status().ToString());
  dashboard->experiment_id = experiment->id();

  hpo::auth::AccessControlOptions access_options;
  access_options.enabled = true;
  dashboard->access = std::make_unique<hpo::auth::AccessControl>(dashboard->manager.get(),
                                                                 hpo::RealClock(), access_options);
  dashboard->guard = std::make_unique<hpo::auth::DashboardGuard>(dashboard->access.get());
  dashboard->api = std::make_unique<hpo::dashboard::DashboardApi>(
      dashboard->manager.get(), hpo::RealClock(), absl::Seconds(60));
  hpo::dashboard::HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  options.authorizer = dashboard->guard.get();
  options.request_timeout = absl::Seconds(2);
  options.idle_timeout = absl::Milliseconds(200);
  auto http = hpo::dashboard::HttpServer::Start(options, dashboard->api.get());
  HPO_FUZZ_CHECK(http.ok(), http.status().ToString());
  dashboard->http = std::move(*http);
}

// Sends `bytes` on a new connection, closes the write side, returns what comes back before the
// server closes (or 5 s pass).
std::string Exchange(const std::string& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  HPO_FUZZ_CHECK(fd >= 0, "socket");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(dashboard->http->port()));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  HPO_FUZZ_CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0,
                 "the dashboard refused a connection");
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close early on a bad request
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  char buffer[8192];
  while (absl::Now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

int StatusCode(const std::string& answer) {
  if (!absl::StartsWith(answer, "HTTP/1.") || answer.size() < 12) return -1;
  int code = 0;
  for (int i = 9; i < 12; ++i) {
    if (answer[i] < '0' || answer[i] > '9') return -1;
    code = code * 10 + (answer[i] - '0');
  }
  return code;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  hpo::fuzz::SilenceProtobufLogs();
  verbose = std::getenv("HPO_FUZZ_VERBOSE") != nullptr;
  StartDashboard();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string request(reinterpret_cast<const char*>(data), size);
  const std::string answer = Exchange(request);
  const std::string shown =
      absl::StrCat("request:\n", request.substr(0, 2000), "\nanswer:\n", answer.substr(0, 2000));
  if (verbose) std::fprintf(stderr, "%s\n", shown.c_str());
  if (!answer.empty()) {
    const int code = StatusCode(answer);
    HPO_FUZZ_CHECK(code >= 100 && code < 500, "not an HTTP answer, or a 5xx: " + shown);
    if (!absl::StrContains(request, kReaderSecret) &&
        absl::StrContains(answer, "fuzzed dashboard")) {
      HPO_FUZZ_CHECK(false, "experiment data without the token: " + shown);
    }
  }
  const std::string probe = Exchange(
      absl::StrCat("GET /api/v1/experiments/", dashboard->experiment_id,
                   " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer ",
                   kReaderSecret, "\r\n\r\n"));
  HPO_FUZZ_CHECK(StatusCode(probe) == 200 && absl::StrContains(probe, "fuzzed dashboard"),
                 "the dashboard stopped answering after: " + shown + "\nprobe answer:\n" +
                     probe.substr(0, 2000));
  return 0;
}
