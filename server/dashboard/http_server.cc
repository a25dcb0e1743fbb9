#include "server/dashboard/http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <netdb.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <type_traits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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

// httplib hands each accepted socket over as a job that calls process_and_close_socket; while
// this is set that call only records the socket here, so the pool can decide about it first.
thread_local bool t_capture_socket = false;
thread_local int t_captured_socket = -1;

// What ConnectionPool asks of its server.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  // On the accepting thread: whether `sock` may wait for a thread (`*address` is its client);
  // a refused socket has been closed.
  virtual bool Admit(int sock, std::string* address) = 0;
  // Serves an admitted socket (or only closes it when `serve` is false) and releases its
  // address.
  virtual void Finish(int sock, const std::string& address, bool serve) = 0;
};

// httplib's ThreadPool queues without bound and decides nothing before a thread is free. This
// one decides on the accepting thread: the handler's per-address limit, then a bound of
// `max_queued` waiting connections, so a flood from a few addresses never takes the queue from
// everyone else. `threads` threads serve what was admitted.
class ConnectionPool : public httplib::TaskQueue {
 public:
  ConnectionPool(int threads, int max_queued, ConnectionHandler* handler)
      : max_queued_(static_cast<size_t>(max_queued)), handler_(handler) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
  }
  ~ConnectionPool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    t_capture_socket = true;
    t_captured_socket = -1;
    fn();
    t_capture_socket = false;
    Waiting connection{t_captured_socket, ""};
    if (connection.sock < 0 || !handler_->Admit(connection.sock, &connection.address)) return;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!stopping_ && waiting_.size() < max_queued_) {
        waiting_.push_back(std::move(connection));
        ready_.notify_one();
        return;
      }
    }
    handler_->Finish(connection.sock, connection.address, /*serve=*/false);
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    ready_.notify_all();
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
    threads_.clear();
    for (const Waiting& w : waiting_) handler_->Finish(w.sock, w.address, /*serve=*/false);
    waiting_.clear();
  }

 private:
  struct Waiting {
    int sock;
    std::string address;
  };

  void Work() {
    for (;;) {
      Waiting connection;
      {
        std::unique_lock<std::mutex> lock(mu_);
        ready_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
        if (stopping_) return;
        connection = std::move(waiting_.front());
        waiting_.pop_front();
      }
      handler_->Finish(connection.sock, connection.address, /*serve=*/true);
    }
  }

  const size_t max_queued_;
  ConnectionHandler* const handler_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<Waiting> waiting_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Connections being served, per client address.
class PerAddressCount {
 public:
  explicit PerAddressCount(int limit) : limit_(limit) {}
  bool Acquire(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    int& n = counts_[address];
    if (n >= limit_) {
      if (n == 0) counts_.erase(address);
      return false;
    }
    ++n;
    return true;
  }
  void Release(const std::string& address) {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = counts_.find(address);
    if (it != counts_.end() && --it->second <= 0) counts_.erase(it);
  }

 private:
  const int limit_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

std::string NumericHost(const sockaddr_storage& addr, socklen_t len, int* port) {
  char host[NI_MAXHOST] = "";
  char serv[NI_MAXSERV] = "";
  if (getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host, sizeof(host), serv,
                  sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "";
  }
  if (port != nullptr) *port = std::atoi(serv);
  return host;
}

// Waits until `fd` is ready for `events` or `deadline` passes.
bool PollUntil(int fd, short events, absl::Time deadline) {
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd p{fd, events, 0};
    const int ms = static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(left) + 1, 1000));
    const int n = poll(&p, 1, ms);
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) return false;
  }
}

// One connection, plain or TLS, on a non-blocking socket: every read gives up at the request's
// deadline and every write at the response's, however the peer trickles its bytes.
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}

  void set_read_deadline(absl::Time t) { read_deadline_ = t; }
  void set_write_deadline(absl::Time t) { write_deadline_ = t; }

  bool Handshake() {
    for (;;) {
      const int r = SSL_accept(ssl_);
      if (r == 1) return true;
      if (!WaitFor(SSL_get_error(ssl_, r), read_deadline_)) return false;
    }
  }

  // Bytes already received and not yet read.
  bool HasBuffered() const { return begin_ < end_ || (ssl_ != nullptr && SSL_pending(ssl_) > 0); }

  bool is_readable() const override { return HasBuffered() || WaitReadable(); }

  // Whether a read gave up at the request's deadline: the connection is then closed (the
  // rest of the stream is no request).
  bool timed_out() const { return timed_out_; }
  bool is_writable() const override { return PollUntil(fd_, POLLOUT, write_deadline_); }

  ssize_t read(char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (ssl_ != nullptr) {
      const int want = static_cast<int>(std::min<size_t>(size, 1 << 20));
      for (;;) {
        const int r = SSL_read(ssl_, ptr, want);
        if (r > 0) return r;
        const int error = SSL_get_error(ssl_, r);
        if (error == SSL_ERROR_ZERO_RETURN) return 0;
        if (error == SSL_ERROR_WANT_READ ? !WaitReadable() : !WaitFor(error, read_deadline_)) {
          return -1;
        }
      }
    }
    if (begin_ == end_) {
      begin_ = end_ = 0;
      for (;;) {
        const ssize_t n = recv(fd_, buffer_, sizeof(buffer_), 0);
        if (n >= 0) {
          end_ = static_cast<size_t>(n);
          break;
        }
        if (errno == EINTR) continue;
        if ((errno != EAGAIN && errno != EWOULDBLOCK) || !WaitReadable()) {
          return -1;
        }
      }
      if (end_ == 0) return 0;
    }
    const size_t n = std::min(size, end_ - begin_);
    std::copy(buffer_ + begin_, buffer_ + begin_ + n, ptr);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    size_t done = 0;
    while (done < size) {
      if (ssl_ != nullptr) {
        const int chunk = static_cast<int>(std::min<size_t>(size - done, 1 << 20));
        const int r = SSL_write(ssl_, ptr + done, chunk);
        if (r > 0) {
          done += static_cast<size_t>(r);
        } else if (!WaitFor(SSL_get_error(ssl_, r), write_deadline_)) {
          return -1;
        }
        continue;
      }
      const ssize_t n = send(fd_, ptr + done, size - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK) ||
                 !PollUntil(fd_, POLLOUT, write_deadline_)) {
        return -1;
      }
    }
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      ip = NumericHost(addr, len, &port);
    }
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      ip = NumericHost(addr, len, &port);
    }
  }
  socket_t socket() const override { return fd_; }

 private:
  bool WaitReadable() const {
    if (PollUntil(fd_, POLLIN, read_deadline_)) return true;
    timed_out_ = true;
    return false;
  }

  // After an SSL call that did not complete: waits for what it wants, false on a real error.
  bool WaitFor(int ssl_error, absl::Time deadline) const {
    if (ssl_error == SSL_ERROR_WANT_READ) return PollUntil(fd_, POLLIN, deadline);
    if (ssl_error == SSL_ERROR_WANT_WRITE) return PollUntil(fd_, POLLOUT, deadline);
    return false;
  }

  const int fd_;
  SSL* const ssl_;
  absl::Time read_deadline_ = absl::InfiniteFuture();
  absl::Time write_deadline_ = absl::InfiniteFuture();
  mutable bool timed_out_ = false;
  char buffer_[4096];
  size_t begin_ = 0;
  size_t end_ = 0;
};

// httplib's own connection loop times out each read (a header line every few seconds keeps a
// thread forever) and waits idle connections out on a thread. This one keeps httplib's request
// parsing and routing (process_request) and runs its own loop under HttpServerOptions' limits.
template <typename Base>
class LimitedServer final : public Base, private ConnectionHandler {
 public:
  template <typename... Args>
  explicit LimitedServer(const HttpServerOptions& options, Args&&... args)
      : Base(std::forward<Args>(args)...),
        options_(options),
        per_address_(options.max_connections_per_ip) {
    const int threads = std::max(1, options.threads);
    const int max_queued = std::max(0, options.max_queued);
    this->new_task_queue = [this, threads, max_queued] {
      return new ConnectionPool(threads, max_queued, this);
    };
  }

  // httplib listens with a backlog of 5: under a flood of connections the kernel then holds
  // back other clients' handshakes for seconds. Listening again only resizes the backlog.
  void WidenBacklog() { ::listen(this->svr_sock_, SOMAXCONN); }

 private:
  bool process_and_close_socket(socket_t sock) override {
    if (t_capture_socket) {
      t_captured_socket = sock;
    } else {
      Close(sock);  // not reached: every socket goes through ConnectionPool
    }
    return true;
  }

  bool Admit(int sock, std::string* address) override {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      *address = NumericHost(addr, len, nullptr);
      if (per_address_.Acquire(*address)) return true;
    }
    Close(sock);
    return false;
  }

  void Finish(int sock, const std::string& address, bool serve) override {
    if (serve) Serve(sock);
    Close(sock);
    per_address_.Release(address);
  }

  static void Close(int sock) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }

  void Serve(int sock) {
    const int flags = fcntl(sock, F_GETFL, 0);
    if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) != 0) return;
    SSL* ssl = nullptr;
    if constexpr (std::is_base_of_v<httplib::SSLServer, Base>) {
      ssl = SSL_new(this->ssl_context());
      if (ssl == nullptr) return;
      SSL_set_fd(ssl, sock);
    }
    ServeRequests(sock, ssl);
    if (ssl != nullptr) {
      SSL_shutdown(ssl);
      SSL_free(ssl);
    }
  }

  void ServeRequests(int sock, SSL* ssl) {
    DeadlineStream stream(sock, ssl);
    if (ssl != nullptr) {
      stream.set_read_deadline(absl::Now() + options_.request_timeout);
      if (!stream.Handshake()) return;
    }
    const int max_requests = std::max(1, options_.max_requests_per_connection);
    for (int served = 0; served < max_requests; ++served) {
      if (!stream.HasBuffered() && !WaitForRequest(sock)) return;
      const absl::Time start = absl::Now();
      stream.set_read_deadline(start + options_.request_timeout);
      stream.set_write_deadline(start + options_.request_timeout + options_.response_timeout);
      bool closed = false;
      if (!this->process_request(stream, served + 1 == max_requests, closed, nullptr) || closed ||
          stream.timed_out()) {
        return;
      }
    }
  }

  // The next request's first byte within idle_timeout; false when the server stops first.
  bool WaitForRequest(int sock) {
    const absl::Time deadline = absl::Now() + options_.idle_timeout;
    while (this->svr_sock_ != INVALID_SOCKET) {
      const absl::Time slice = std::min(deadline, absl::Now() + absl::Milliseconds(100));
      if (PollUntil(sock, POLLIN, slice)) return true;
      if (absl::Now() >= deadline) return false;
    }
    return false;
  }

  const HttpServerOptions options_;
  PerAddressCount per_address_;
};

constexpr char kSessionPath[] = "/api/v1/session";
constexpr char kTokenCookie[] = "hpo_token";

// A token goes into Set-Cookie verbatim: nothing that could end the value or the header.
bool IsCookieSafe(absl::string_view value) {
  return value.size() <= 256 && std::all_of(value.begin(), value.end(), [](char c) {
           return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
         });
}

// The error body for a status httplib chose itself (the body's HTTP status stays httplib's).
absl::Status HttpStatusError(int status) {
  switch (status) {
    case 400:
      return absl::InvalidArgumentError("malformed request");
    case 413:
      return absl::InvalidArgumentError("request body too large");
    case 414:
      return absl::InvalidArgumentError("request URI too long");
    case 416:
      return absl::OutOfRangeError("requested range not satisfiable");
    default:
      return absl::UnknownError(absl::StrCat("HTTP status ", status));
  }
}

void Send(const ApiResponse& response, httplib::Response& res) {
  res.status = response.http_status;
  for (const auto& [name, value] : response.headers) res.set_header(name, value);
  res.set_header("Cache-Control", "no-store");
  res.set_content(response.body, response.content_type.c_str());
}

constexpr char kNoFrontEnd[] =
    "<!doctype html><title>hpo dashboard</title><p>The dashboard front end is not built. Build "
    "it with <code>cmake --build build --target hpo_dashboard_web</code> (needs Node.js and npm), "
    "or "
    "pass <code>--dashboard_dir</code>. The JSON API is served under <a "
    "href=\"/api/v1/experiments\">/api/v1/</a>.</p>";

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              DashboardApi* api) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListenAddress(options.listen, &host, &port); !s.ok()) return s;

  std::unique_ptr<HttpServer> server(new HttpServer());
  const bool use_tls = !options.tls_cert.empty() || !options.tls_key.empty();
  std::function<void()> widen_backlog;
  if (use_tls) {
    if (options.tls_cert.empty() || options.tls_key.empty()) {
      return absl::InvalidArgumentError("dashboard TLS needs both a certificate and a key");
    }
    auto tls = std::make_unique<LimitedServer<httplib::SSLServer>>(
        options, options.tls_cert.c_str(), options.tls_key.c_str(),
        options.tls_client_ca.empty() ? nullptr : options.tls_client_ca.c_str());
    if (!tls->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat("dashboard TLS: cannot load certificate ",
                                                     options.tls_cert, " or key ",
                                                     options.tls_key));
    }
    widen_backlog = [raw = tls.get()] { raw->WidenBacklog(); };
    server->server_ = std::move(tls);
  } else {
    auto plain = std::make_unique<LimitedServer<httplib::Server>>(options);
    widen_backlog = [raw = plain.get()] { raw->WidenBacklog(); };
    server->server_ = std::move(plain);
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
  const std::string cookie_flags =
      absl::StrCat("; Path=/; HttpOnly; SameSite=Strict", use_tls ? "; Secure" : "");
  http.set_pre_routing_handler(
      [authorizer, api, cookie_flags](const httplib::Request& req, httplib::Response& res) {
        HttpRequestInfo info;
        info.method = req.method;
        info.path = req.path;
        info.remote_addr = req.remote_addr;
        for (const auto& [name, value] : req.headers) {
          info.headers.emplace(absl::AsciiStrToLower(name), value);
        }
        // The page's sign-in: the server sets the token cookie, HttpOnly, so that no script can
        // read it. DELETE forgets it (also for a revoked token, so it needs none).
        if (req.path == kSessionPath && req.method == "DELETE") {
          res.status = 204;
          res.set_header("Set-Cookie", absl::StrCat(kTokenCookie, "=; Max-Age=0", cookie_flags));
          res.set_header("Cache-Control", "no-store");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (req.path == kSessionPath && req.method == "POST") {
          // Only from the Authorization header: a cross-site form cannot set it, so another site
          // cannot sign the page in with a token of its choosing.
          const auto it = info.headers.find("authorization");
          absl::string_view secret;
          if (it != info.headers.end() && absl::StartsWith(it->second, "Bearer ")) {
            secret = absl::string_view(it->second).substr(7);
          }
          if (secret.empty() || !IsCookieSafe(secret)) {
            Send(ErrorResponse(absl::UnauthenticatedError(
                     "authorization: sign in with \"Authorization: Bearer <token>\"")),
                 res);
            return httplib::Server::HandlerResponse::Handled;
          }
          info.method = "GET";  // authorized as any read of the API
          const absl::StatusOr<std::string> scope = authorizer->Authorize(info);
          if (!scope.ok()) {
            Send(ErrorResponse(scope.status()), res);
            return httplib::Server::HandlerResponse::Handled;
          }
          res.status = 204;
          res.set_header("Set-Cookie", absl::StrCat(kTokenCookie, "=", secret, cookie_flags));
          res.set_header("Cache-Control", "no-store");
          return httplib::Server::HandlerResponse::Handled;
        }
        if (req.method != "GET" && req.method != "HEAD") {
          Send(ErrorResponse(absl::InvalidArgumentError(absl::StrCat(
                   "method ", req.method, " not allowed: the dashboard is read-only"))),
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
  // httplib's own refusals (400, 413, 414, 416, ...) keep their status; only 404 is "no such page".
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const int status = res.status;
    if (status == 404) {
      Send(ErrorResponse(absl::NotFoundError(absl::StrCat("no such page: ", req.path))), res);
    } else {
      Send(ErrorResponse(HttpStatusError(status)), res);
    }
    res.status = status;
  });

  if (port == 0) {
    server->port_ = http.bind_to_any_port(host);
    if (server->port_ <= 0) {
      return absl::UnavailableError(absl::StrCat("cannot bind the dashboard to ", host));
    }
  } else {
    if (!http.bind_to_port(host, port)) {
      return absl::UnavailableError(absl::StrCat("cannot bind the dashboard to ", options.listen));
    }
    server->port_ = port;
  }
  widen_backlog();
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
