// File: server/dashboard/http_server.h
//
// The dashboard's HTTP server: static files of the built front end plus the JSON API
// (api.h). Every request, static files included, passes through one HttpAuthorizer before it is
// routed; a refusal is answered with the JSON error body (401/403) and nothing else runs.
// Only GET and HEAD are served (the API is read-only), and the page's sign-in: POST
// /api/v1/session with "Authorization: Bearer <token>" sets the token cookie (HttpOnly,
// SameSite=Strict, Secure over TLS) once the authorizer accepts the token; DELETE clears it.
//
// Connections are served by a fixed pool of threads with limits that keep slow or idle clients
// from holding it: a whole request must arrive within `request_timeout` (not just each read), an
// idle connection is closed after `idle_timeout`, one address holds at most
// `max_connections_per_ip` connections (served or waiting), and connections beyond `max_queued`
// waiting for a thread are closed at once. Both limits are applied as a connection is accepted,
// so connections over their address's limit never take a place in the queue.
#ifndef HPO_SERVER_DASHBOARD_HTTP_SERVER_H_
#define HPO_SERVER_DASHBOARD_HTTP_SERVER_H_

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/dashboard/api.h"

namespace httplib {
class Server;
}

namespace hpo::dashboard {

// What the authorization point sees of a request.
struct HttpRequestInfo {
  std::string method;
  std::string path;
  std::string remote_addr;
  std::multimap<std::string, std::string> headers;  // lower-case names
};

class HttpAuthorizer {
 public:
  virtual ~HttpAuthorizer() = default;
  // OK lets the request through, with the project it is limited to ("" for every project);
  // UNAUTHENTICATED, PERMISSION_DENIED or RESOURCE_EXHAUSTED refuse it.
  virtual absl::StatusOr<std::string> Authorize(const HttpRequestInfo& request) = 0;
};

// Lets every request through: the zero-configuration default on a loopback address.
class AllowAllAuthorizer : public HttpAuthorizer {
 public:
  absl::StatusOr<std::string> Authorize(const HttpRequestInfo&) override { return std::string(); }
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  // Directory of the built front end (index.html, assets/). Empty or missing: the API is still
  // served and "/" explains how to build the front end.
  std::string static_dir;
  HttpAuthorizer* authorizer = nullptr;  // not owned; nullptr means AllowAllAuthorizer
  // HTTPS when both are set (PEM files); with `tls_client_ca` clients must present a
  // certificate signed by it.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_client_ca;

  int threads = 64;                // connections served at once
  int max_queued = 256;            // accepted connections waiting for a thread; more are closed
  int max_connections_per_ip = 8;  // connections one client address may have open at once
  int max_requests_per_connection = 100;
  // From a request's first byte to its last (request line, headers, body); TLS handshakes too.
  absl::Duration request_timeout = absl::Seconds(10);
  // Wait for the first byte of the next request on an open connection before closing it.
  absl::Duration idle_timeout = absl::Seconds(2);
  // To send one response.
  absl::Duration response_timeout = absl::Seconds(60);
};

class HttpServer {
 public:
  // Binds and starts serving on a background thread. `api` is not owned and must outlive the
  // server. UNAVAILABLE when the address cannot be bound, INVALID_ARGUMENT when it is malformed.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           DashboardApi* api);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Stops accepting and waits for the serving thread. Idempotent.
  void Stop();

 private:
  HttpServer() = default;

  std::unique_ptr<httplib::Server> server_;
  std::unique_ptr<AllowAllAuthorizer> allow_all_;
  std::thread thread_;
  int port_ = 0;
};

// Splits "host:port" ("[::1]:80" for IPv6). INVALID_ARGUMENT when malformed.
absl::Status ParseListenAddress(const std::string& listen, std::string* host, int* port);

}  // namespace hpo::dashboard

#endif  // HPO_SERVER_DASHBOARD_HTTP_SERVER_H_
