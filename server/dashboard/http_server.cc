#include "server/dashboard/http_server.h"

#include <httplib.h>

#include <chrono>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace hpo::dashboard {

absl::Status ParseListenAddress(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_listen: \"", listen, "\" is not host:port"));
  }
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  int p = 0;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http_listen: port of \"", listen, "\" is not in [0, 65535]"));
  }
  *host = h;
  *port = p;
  return absl::OkStatus();
}

namespace {

void Send(const ApiResponse& response, httplib::Response& res) {
  res.status = response.http_status;
  for (const auto& [name, value] : response.headers) res.set_header(name, value);
  res.set_header("Cache-Control", "no-store");
  res.set_content(response.body, response.content_type.c_str());
}

constexpr char kNoFrontEnd[] =
    "<!doctype html><title>hpo dashboard</title><p>The dashboard front end is not built. Build "
    "it with <code>cmake --build build --target hpo_dashboard_web</code> (needs Node.js and npm), or "
    "pass <code>--dashboard_dir</code>. The JSON API is served under <a "
    "href=\"/api/v1/experiments\">/api/v1/</a>.</p>";

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                             DashboardApi* api) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListenAddress(options.listen, &host, &port); !s.ok()) return s;

  std::unique_ptr<HttpServer> server(new HttpServer());
  if (!options.tls_cert.empty() || !options.tls_key.empty()) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return absl::InvalidArgumentError("dashboard TLS needs both a certificate and a key");
    }
    auto tls = std::make_unique<httplib::SSLServer>(
        options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("dashboard TLS: cannot load certificate ",
                                                     options.tls_cert, " or key ",
                                                     options.tls_key));
    }
    server->server_ = std::move(tls);
  } else {
    server->server_ = std::make_unique<httplib::Server>();
  }
  HttpAuthorizer* authorizer = options.authorizer;
  if (authorizer == nullptr) {
    server->allow_all_ = std::make_unique<AllowAllAuthorizer>();
    authorizer = server->allow_all_.get();
  }
  httplib::Server& http = *server->server_;
  http.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                            {"X-Frame-Options", "DENY"},
                            {"Referrer-Policy", "no-referrer"},
                            {"Content-Security-Policy",
                             "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                             "img-src 'self' data: blob:"}});
  http.set_payload_max_length(64 * 1024);
  // SO_REUSEADDR only: httplib's default SO_REUSEPORT would let a second server share the port.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });

  // The one authorization point: runs before routing, for every request. API requests are
  // answered here with the authorizer's project scope; static files go on to the router.
  http.set_pre_routing_handler([authorizer, api](const httplib::Request& req,
                                                 httplib::Response& res) {
    HttpRequestInfo info;
    info.method = req.method;
    info.path = req.path;
    info.remote_addr = req.remote_addr;
    for (const auto& [name, value] : req.headers) {
      info.headers.emplace(absl::AsciiStrToLower(name), value);
    }
    if (req.method != "GET" && req.method != "HEAD") {
      Send(ErrorResponse(absl::InvalidArgumentError(
               absl::StrCat("method ", req.method, " not allowed: the dashboard is read-only"))),
           res);
      res.status = 405;
      return httplib::Server::HandlerResponse::Handled;
    }
    const absl::StatusOr<std::string> scope = authorizer->Authorize(info);
    if (!scope.ok()) {
      Send(ErrorResponse(scope.status()), res);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (absl::StartsWith(req.path, "/api/")) {
      DashboardApi::Params params(req.params.begin(), req.params.end());
      Send(api->Handle(req.path, params, *scope), res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  std::error_code ec;
  const bool have_front_end =
      !options.static_dir.empty() &&
      std::filesystem::exists(std::filesystem::path(options.static_dir) / "index.html", ec);
  if (have_front_end) {
    http.set_mount_point("/", options.static_dir);
  } else {
    if (!options.static_dir.empty()) {
      HPO_LOG(WARNING) << "dashboard front end not found in " << options.static_dir;
    }
    http.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kNoFrontEnd, "text/html; charset=utf-8");
    });
  }
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    Send(ErrorResponse(absl::NotFoundError(absl::StrCat("no such page: ", req.path))), res);
    res.status = 404;
  });

  if (port == 0) {
    server->port_ = http.bind_to_any_port(host);
    if (server->port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind the dashboard to ", host));
    }
  } else {
    if (!http.bind_to_port(host, port)) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind the dashboard to ", options.listen));
    }
    server->port_ = port;
  }
  server->thread_ = std::thread([&http] { http.listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that Stop() never misses it.
  while (!http.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return server;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (server_ != nullptr) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace hpo::dashboard
