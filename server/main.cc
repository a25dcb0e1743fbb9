// hpo-server: the gRPC optimizer service on an embedded SQLite database.
//
//   hpo-server [--data_dir=hpo-data] [--db=PATH] [--listen=127.0.0.1:50051] [--log_level=info]
//
// Stops cleanly on SIGTERM or SIGINT: new calls are refused, running calls get a grace period,
// then the database is closed. Everything acknowledged is already committed.
#include <fcntl.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/logging.h"
#include "server/auth/access_control.h"
#include "server/auth/guards.h"
#include "server/auth/token.h"
#include "server/dashboard/api.h"
#include "server/dashboard/http_server.h"
#include "server/service/admin_service.h"
#include "server/service/experiment_manager.h"
#include "server/service/experiment_service.h"
#include "server/service/trial_scheduler.h"
#include "server/service/trial_service.h"
#include "server/store/sqlite_store.h"

ABSL_FLAG(std::string, data_dir, "hpo-data", "Directory for the database when --db is not given.");
ABSL_FLAG(std::string, db, "", "SQLite database file (default: <data_dir>/hpo.db).");
ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "gRPC listen address; port 0 picks a free port (see --port_file).");
ABSL_FLAG(std::string, port_file, "", "If set, the bound port is written to this file.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(int, shutdown_grace_seconds, 5, "Seconds running calls get to finish on shutdown.");
ABSL_FLAG(bool, background_checkpoints, true,
          "Copy the SQLite WAL into the database on a background connection instead of inside "
          "the commit that crosses 1000 WAL pages (which holds up every other call meanwhile).");
ABSL_FLAG(bool, group_commit, true,
          "Learning-curve checkpoints arriving together share one fsync (each is still durable "
          "before it is acknowledged); false: one fsync per checkpoint.");
ABSL_FLAG(double, lease_timeout_seconds, 60,
          "A worker's lease on a trial expires after this long without a heartbeat.");
ABSL_FLAG(int, max_lease_attempts, 3,
          "Leases a trial may get before an expired lease marks it failed.");
ABSL_FLAG(int64_t, curve_cache_points, 1'000'000,
          "Learning-curve points the pruners keep in memory (all experiments together); beyond, "
          "the least recently reported experiments are read again from the database.");
ABSL_FLAG(bool, auth, false,
          "Require API tokens on every gRPC call and dashboard API request (see docs/security.md).");
ABSL_FLAG(std::string, admin_token_file, "",
          "With --auth: the admin token is read from this file if it exists, else created, "
          "written here (mode 0600) and printed once.");
ABSL_FLAG(bool, insecure, false,
          "Allow listening on a non-loopback address without --auth.");
ABSL_FLAG(std::string, backup_dir, "",
          "BackupDatabase writes only into this directory. Without --auth it defaults to the "
          "database's directory (any local user may call the server then); with --auth an admin "
          "may back up anywhere unless this is set.");
ABSL_FLAG(double, rate_limit, 0,
          "Calls per second per token (per peer without --auth); 0 turns rate limiting off.");
ABSL_FLAG(double, rate_burst, 0, "Rate-limit bucket size (default 2 x --rate_limit).");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain: serve gRPC and the dashboard over TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle: require client certificates signed by it (mutual TLS).");
ABSL_FLAG(int, max_message_bytes, 4 << 20, "Largest gRPC request accepted, in bytes.");
constexpr char kDefaultHttpListen[] = "127.0.0.1:8080";
ABSL_FLAG(std::string, http_listen, kDefaultHttpListen,
          "Dashboard HTTP listen address (port 0 picks a free port); empty turns it off. When "
          "the default address is taken the server runs without the dashboard.");
ABSL_FLAG(std::string, http_port_file, "", "If set, the dashboard's bound port is written here.");
ABSL_FLAG(std::string, dashboard_dir, "",
          "Built dashboard front end (default: <binary dir>/../share/hpo/dashboard).");

namespace {

// Writes `content` to a new file (mode 0600, a name no one can predict or plant a link at, in
// `path`'s directory) and renames it to `path`: readers see all or nothing.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat("cannot create ", tmp, ": ", strerror(errno)));
  }
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool written = done == content.size() && fsync(fd) == 0;
  const int saved = errno;
  close(fd);
  if (!written || rename(tmp.c_str(), path.c_str()) != 0) {
    const int error = written ? errno : saved;
    unlink(tmp.c_str());
    return absl::UnavailableError(absl::StrCat("cannot write ", path, ": ", strerror(error)));
  }
  return absl::OkStatus();
}

void WritePortFile(const std::string& path, int port) {
  if (path.empty()) return;
  if (absl::Status s = WriteFileAtomically(path, absl::StrCat(port, "\n")); !s.ok()) {
    HPO_LOG(ERROR) << s;
  }
}

// One server per database: a second one would serve from its own caches (a token revoked on one
// would still pass the other). Two exclusive flocks, held for the life of the process: on the
// database file itself (LockDatabaseFile), whatever name leads to it (a symbolic or hard link),
// and on `db_path`.lock, the lock of servers before that one (during an upgrade).
absl::Status LockDatabasePath(const std::string& db_path) {
  const std::string lock_path = db_path + ".lock";
  const int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open lock file ", lock_path, ": ", strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", db_path, " is in use by another hpo-server (it holds ", lock_path,
          "); stop that server first, or give this one another --data_dir or --db"));
    }
    return absl::UnavailableError(absl::StrCat("cannot lock ", lock_path, ": ", strerror(error)));
  }
  return absl::OkStatus();  // fd stays open: the lock goes with the process
}

// SQLite's own locks are fcntl locks, which flock does not touch on Linux. The descriptor is
// never closed, even when the lock is refused: closing a descriptor of the file would drop this
// process's fcntl locks on it, SQLite's included.
absl::Status LockDatabaseFile(const std::string& db_path) {
  const int fd = open(db_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot open database ", db_path, " to lock it: ", strerror(errno)));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database ", db_path,
          " is in use by another hpo-server (it holds a lock on the file, "
          "perhaps under another name); stop that server first, or give this one another "
          "--data_dir or --db"));
    }
    return absl::UnavailableError(absl::StrCat("cannot lock ", db_path, ": ", strerror(errno)));
  }
  return absl::OkStatus();
}

// An existing admin token file decides who is admin: it must be a regular file of this user
// that no one else may change. Checked on the open descriptor, so that what is checked is what
// is read (no link followed, nothing swapped in between). nullopt: there is no such file.
absl::StatusOr<std::optional<std::string>> ReadTokenFile(const std::string& path) {
  const absl::Status refused = absl::FailedPreconditionError(
      absl::StrCat("--admin_token_file ", path,
                   " must be a regular file (not a link) owned by this user "
                   "and writable by it alone (chmod 600)"));
  // O_NONBLOCK: a FIFO planted there must not hang the start (it is refused below).
  const int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) return refused;
    return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", strerror(errno)));
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
      (st.st_mode & 022) != 0) {
    close(fd);
    return refused;
  }
  if ((st.st_mode & 044) != 0) {
    HPO_LOG(WARNING) << "--admin_token_file " << path << " is readable by other users";
  }
  constexpr size_t kMaxBytes = 4096;  // a token is 52 characters
  std::string text;
  char buffer[kMaxBytes + 1];
  ssize_t n;
  while (text.size() <= kMaxBytes && (n = read(fd, buffer, sizeof(buffer))) != 0) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::UnavailableError(absl::StrCat("cannot read ", path, ": ", strerror(error)));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
  close(fd);
  return std::optional<std::string>(std::move(text));
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host == "::1" || host.rfind("127.", 0) == 0;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// With --auth and no token yet: the first admin token, from --admin_token_file or new.
absl::Status BootstrapAdminToken(hpo::service::ExperimentManager& manager) {
  auto tokens = manager.ListTokens();
  if (!tokens.ok()) return tokens.status();
  const std::string file = absl::GetFlag(FLAGS_admin_token_file);
  std::string secret;
  absl::StatusOr<std::optional<std::string>> text = std::optional<std::string>();
  if (!file.empty()) text = ReadTokenFile(file);
  if (!text.ok()) return text.status();
  if (text->has_value()) {
    secret = std::string(absl::StripAsciiWhitespace(**text));
    if (!hpo::auth::LooksLikeTokenSecret(secret)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--admin_token_file ", file, ": not a token (\"hpo_\" followed by 48 hex digits)"));
    }
    auto known = manager.FindToken(hpo::auth::Sha256Hex(secret));
    if (!known.ok()) return known.status();
    if (known->has_value()) return absl::OkStatus();
  } else if (!tokens->empty()) {
    return absl::OkStatus();
  }
  hpo::v1::CreateTokenRequest request;
  request.set_name(tokens->empty() ? "admin" : absl::StrCat("admin-", tokens->size() + 1));
  request.set_role(hpo::v1::ROLE_ADMIN);
  auto created = manager.CreateToken(request, secret);
  if (!created.ok()) return created.status();
  if (secret.empty()) {
    if (!file.empty()) {
      if (absl::Status s = WriteFileAtomically(file, absl::StrCat(created->secret(), "\n"));
          !s.ok()) {
        return s;
      }
    }
    std::printf("hpo-server: created admin token \"%s\" (shown once%s):\n%s\n",
                created->token().name().c_str(),
                file.empty() ? "" : absl::StrCat("; also in ", file).c_str(),
                created->secret().c_str());
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

// Keeps the health check in step with the database: NOT_SERVING once a check fails
// (corruption, found by any call, fails every later check).
class HealthWatch {
 public:
  HealthWatch(hpo::service::ExperimentManager* manager, grpc::Server* server, bool serving)
      : thread_([this, manager, server, serving]() mutable {
          while (!stop_.WaitForNotificationWithTimeout(absl::Seconds(1))) {
            const absl::Status check = manager->Ping();
            if (check.ok() == serving) continue;
            serving = check.ok();
            server->GetHealthCheckService()->SetServingStatus(serving);
            if (serving) {
              HPO_LOG(INFO) << "database check passes again: health check SERVING";
            } else {
              HPO_LOG(ERROR) << "database check failed: " << check << "; health check NOT_SERVING";
            }
          }
        }) {}
  ~HealthWatch() { Stop(); }
  void Stop() {
    if (!stop_.HasBeenNotified()) stop_.Notify();
    if (thread_.joinable()) thread_.join();
  }

 private:
  absl::Notification stop_;
  std::thread thread_;
};

std::shared_ptr<grpc::ServerCredentials> ServerCredentials() {
  if (absl::GetFlag(FLAGS_tls_cert).empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options(
      absl::GetFlag(FLAGS_tls_client_ca).empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  auto cert = ReadFile(absl::GetFlag(FLAGS_tls_cert));
  auto key = ReadFile(absl::GetFlag(FLAGS_tls_key));
  if (!cert.ok() || !key.ok()) return nullptr;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!absl::GetFlag(FLAGS_tls_client_ca).empty()) {
    auto ca = ReadFile(absl::GetFlag(FLAGS_tls_client_ca));
    if (!ca.ok()) return nullptr;
    options.pem_root_certs = *ca;
  }
  return grpc::SslServerCredentials(options);
}

std::string DefaultDashboardDir() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  return (exe.parent_path().parent_path() / "share" / "hpo" / "dashboard").string();
}

int Run() {
  hpo::LogLevel level;
  if (!hpo::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "hpo-server: --log_level: unknown level \"%s\"\n",
                 absl::GetFlag(FLAGS_log_level).c_str());
    return 2;
  }
  hpo::SetLogLevel(level);
  // Databases, backups, the token file and port files are this user's alone; the data
  // directory too (0700).
  umask(077);

  std::string db_path = absl::GetFlag(FLAGS_db);
  if (db_path.empty()) {
    const std::string dir = absl::GetFlag(FLAGS_data_dir);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      HPO_LOG(ERROR) << "cannot create --data_dir " << dir << ": " << ec.message();
      return 1;
    }
    // A data directory made by someone else's mkdir (a script, systemd's StateDirectory) may be
    // open to other users: the server's own is its user's alone.
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && st.st_uid == ::geteuid() && (st.st_mode & 077) != 0) {
      HPO_LOG(WARNING) << "--data_dir " << dir << " was open to other users (mode "
                       << absl::StrFormat("%04o", st.st_mode & 07777) << "); now 0700";
      ::chmod(dir.c_str(), 0700);
    }
    db_path = (std::filesystem::path(dir) / "hpo.db").string();
  }

  // An existing file is locked before it is opened (a refused server does no work on it); a new
  // one once the store has created it.
  const bool on_disk = db_path != ":memory:";
  bool file_locked = false;
  if (on_disk) {
    absl::Status s = LockDatabasePath(db_path);
    if (s.ok() && access(db_path.c_str(), F_OK) == 0) {
      s = LockDatabaseFile(db_path);
      file_locked = true;
    }
    if (!s.ok()) {
      HPO_LOG(ERROR) << s;
      return 1;
    }
  }
  hpo::store::SqliteStore::Options store_options;
  store_options.background_checkpoints = absl::GetFlag(FLAGS_background_checkpoints);
  auto store = hpo::store::SqliteStore::Open(db_path, hpo::RealClock(), store_options);
  if (!store.ok()) {
    HPO_LOG(ERROR) << "cannot open database " << db_path << ": " << store.status();
    return 1;
  }
  if (on_disk && !file_locked) {
    if (absl::Status s = LockDatabaseFile(db_path); !s.ok()) {
      HPO_LOG(ERROR) << s;
      return 1;
    }
  }
  const auto& migration = (*store)->migration();
  HPO_LOG(INFO) << "database " << db_path << " at schema version " << migration.to_version
                << (migration.from_version != migration.to_version
                        ? absl::StrCat(" (migrated from ", migration.from_version, ")")
                        : std::string());

  hpo::service::ExperimentManager manager(store->get(), hpo::RealClock());
  hpo::service::TrialSchedulerOptions scheduler_options;
  scheduler_options.lease_timeout = absl::Seconds(absl::GetFlag(FLAGS_lease_timeout_seconds));
  scheduler_options.group_commit = absl::GetFlag(FLAGS_group_commit);
  scheduler_options.max_attempts = absl::GetFlag(FLAGS_max_lease_attempts);
  scheduler_options.curve_cache_max_points = absl::GetFlag(FLAGS_curve_cache_points);
  if (scheduler_options.lease_timeout <= absl::ZeroDuration() || scheduler_options.max_attempts < 1 ||
      scheduler_options.curve_cache_max_points < 0) {
    HPO_LOG(ERROR) << "--lease_timeout_seconds must be > 0, --max_lease_attempts >= 1 and "
                      "--curve_cache_points >= 0";
    return 2;
  }
  hpo::service::TrialScheduler scheduler(&manager, hpo::RealClock(), scheduler_options);

  const std::string grpc_host = absl::GetFlag(FLAGS_listen).substr(
      0, absl::GetFlag(FLAGS_listen).rfind(':'));
  if (!absl::GetFlag(FLAGS_auth) && !absl::GetFlag(FLAGS_insecure) &&
      (!IsLoopback(grpc_host) ||
       (!absl::GetFlag(FLAGS_http_listen).empty() &&
        !IsLoopback(absl::GetFlag(FLAGS_http_listen).substr(
            0, absl::GetFlag(FLAGS_http_listen).rfind(':')))))) {
    HPO_LOG(ERROR) << "refusing to serve a non-loopback address without --auth (anyone on the "
                      "network could read and change every experiment); pass --auth, or "
                      "--insecure on a trusted network";
    return 2;
  }
  if (absl::GetFlag(FLAGS_tls_cert).empty() != absl::GetFlag(FLAGS_tls_key).empty()) {
    HPO_LOG(ERROR) << "--tls_cert and --tls_key go together";
    return 2;
  }
  if (absl::GetFlag(FLAGS_auth)) {
    if (absl::Status s = BootstrapAdminToken(manager); !s.ok()) {
      HPO_LOG(ERROR) << "admin token: " << s;
      return 1;
    }
  }
  hpo::auth::AccessControlOptions access_options;
  access_options.enabled = absl::GetFlag(FLAGS_auth);
  access_options.rate_per_second = absl::GetFlag(FLAGS_rate_limit);
  access_options.burst = absl::GetFlag(FLAGS_rate_burst);
  hpo::auth::AccessControl access(&manager, hpo::RealClock(), access_options);
  hpo::auth::GrpcGuard grpc_guard(&access);
  hpo::service::CallGuard* guard =
      access_options.enabled || access_options.rate_per_second > 0 ? &grpc_guard : nullptr;
  hpo::service::ExperimentService experiment_service(&manager, guard);
  hpo::service::TrialService trial_service(&scheduler, guard);
  hpo::service::AdminServiceOptions admin_options;
  admin_options.backup_dir = absl::GetFlag(FLAGS_backup_dir);
  if (admin_options.backup_dir.empty() && !access_options.enabled) {
    std::error_code ec;
    const std::filesystem::path db_dir =
        std::filesystem::absolute(db_path, ec).lexically_normal().parent_path();
    admin_options.backup_dir = db_dir.string();
  }
  hpo::service::AdminService admin_service(
      &manager, &grpc_guard, [&access] { access.InvalidateTokens(); }, admin_options);

  // Signals are blocked before gRPC starts its threads, so only sigwait() below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::shared_ptr<grpc::ServerCredentials> credentials = ServerCredentials();
  if (credentials == nullptr) {
    HPO_LOG(ERROR) << "cannot read --tls_cert, --tls_key or --tls_client_ca";
    return 1;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), credentials, &port);
  builder.SetMaxReceiveMessageSize(absl::GetFlag(FLAGS_max_message_bytes));
  builder.RegisterService(&experiment_service);
  builder.RegisterService(&trial_service);
  builder.RegisterService(&admin_service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    HPO_LOG(ERROR) << "cannot listen on " << absl::GetFlag(FLAGS_listen);
    return 1;
  }
  const absl::Status ping = manager.Ping();
  server->GetHealthCheckService()->SetServingStatus(ping.ok());
  if (!ping.ok()) HPO_LOG(ERROR) << "database check failed: " << ping;
  // The health check follows the database: NOT_SERVING once it fails (corruption, found by any
  // call, fails every later check).
  HealthWatch health(&manager, server.get(), ping.ok());

  const std::string listen = absl::GetFlag(FLAGS_listen);
  const std::string host = listen.substr(0, listen.rfind(':'));

  hpo::dashboard::DashboardApi dashboard_api(&manager, hpo::RealClock(),
                                             scheduler_options.lease_timeout);
  hpo::auth::DashboardGuard dashboard_guard(&access);
  std::unique_ptr<hpo::dashboard::HttpServer> http;
  if (!absl::GetFlag(FLAGS_http_listen).empty()) {
    hpo::dashboard::HttpServerOptions http_options;
    http_options.listen = absl::GetFlag(FLAGS_http_listen);
    http_options.authorizer = &dashboard_guard;
    http_options.tls_cert = absl::GetFlag(FLAGS_tls_cert);
    http_options.tls_key = absl::GetFlag(FLAGS_tls_key);
    http_options.tls_client_ca = absl::GetFlag(FLAGS_tls_client_ca);
    http_options.static_dir = absl::GetFlag(FLAGS_dashboard_dir).empty()
                                  ? DefaultDashboardDir()
                                  : absl::GetFlag(FLAGS_dashboard_dir);
    auto started = hpo::dashboard::HttpServer::Start(http_options, &dashboard_api);
    const bool explicit_http = http_options.listen != kDefaultHttpListen;
    if (!started.ok() && explicit_http) {
      HPO_LOG(ERROR) << started.status();
      server->Shutdown();
      return 1;
    }
    // The default address may be taken (another server on this host): serve gRPC without it.
    if (!started.ok()) HPO_LOG(WARNING) << started.status() << "; dashboard off";
    if (started.ok()) http = std::move(*started);
  }
  if (http != nullptr) {
    std::string http_host;
    int ignored = 0;
    (void)hpo::dashboard::ParseListenAddress(absl::GetFlag(FLAGS_http_listen), &http_host,
                                             &ignored);
    WritePortFile(absl::GetFlag(FLAGS_http_port_file), http->port());
    HPO_LOG(INFO) << "dashboard at " << (absl::GetFlag(FLAGS_tls_cert).empty() ? "http" : "https")
                  << "://" << http_host << ":" << http->port() << "/";
  }

  WritePortFile(absl::GetFlag(FLAGS_port_file), port);
  HPO_LOG(INFO) << "hpo-server listening on " << host << ":" << port;

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  HPO_LOG(INFO) << "received " << strsignal(signal_number) << ", shutting down";
  health.Stop();
  server->GetHealthCheckService()->SetServingStatus(false);
  if (http != nullptr) http->Stop();
  server->Shutdown(std::chrono::system_clock::now() +
                   std::chrono::seconds(absl::GetFlag(FLAGS_shutdown_grace_seconds)));
  server->Wait();
  HPO_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hpo-server: hyperparameter optimization service.\n"
      "Usage: hpo-server [--listen=127.0.0.1:50051] [--data_dir=hpo-data | --db=FILE]");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
