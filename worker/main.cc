// hpo-worker: runs trials of hpo-server experiments on this node, with the embedded DLRM trainer
// or any command.
//
//   hpo-worker [--server 127.0.0.1:50051] [--experiment ID] [--threads N]
//              [--trainer_option name=value ...]           # embedded DLRM trainer
//   hpo-worker --command 'python3 train.py'                # any program (see command_runner.h)
//
// SIGTERM or SIGINT: the running trial reaches its next checkpoint, its lease is given back,
// and the worker exits.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/hpo_client.h"
#include "common/logging.h"
#include "worker/command_runner.h"
#include "worker/worker.h"
#ifdef HPO_WORKER_WITH_TRAINER
#include "worker/dlrm_runner.h"
#endif

ABSL_FLAG(std::string, server, "", "hpo-server address (default: $HPO_SERVER or 127.0.0.1:50051).");
ABSL_FLAG(std::string, token, "", "API token (a worker token; default: $HPO_TOKEN).");
ABSL_FLAG(std::string, tls_ca, "", "CA certificate (PEM) of a TLS server (default: $HPO_TLS_CA).");
ABSL_FLAG(std::string, tls_cert, "", "Client certificate (PEM) for mutual TLS ($HPO_TLS_CERT).");
ABSL_FLAG(std::string, tls_key, "", "Client key (PEM) for mutual TLS ($HPO_TLS_KEY).");
ABSL_FLAG(std::string, name, "", "Worker name shown by the server (default: the host name).");
ABSL_FLAG(int, threads, 0, "Training threads of the embedded trainer (0: all cores).");
ABSL_FLAG(int64_t, experiment, 0, "Only run trials of this experiment (0: any active one).");
ABSL_FLAG(std::string, command, "",
          "Run this shell command per trial instead of the embedded DLRM trainer.");
ABSL_FLAG(std::vector<std::string>, pass_env, {},
          "--command: more variables of this environment the command inherits, besides PATH, "
          "HOME, LANG, LC_*, PYTHONPATH, OMP_* and the like (names, or prefixes ending in '*'; "
          "comma-separated or repeated). HPO_* variables, the worker's credentials, never pass.");
ABSL_FLAG(std::vector<std::string>, trainer_option, {},
          "Embedded trainer options name=value that override the experiment's (comma-separated "
          "or repeated), e.g. data_source=binary,train_path=/data/train.bin.");
ABSL_FLAG(std::string, worker_id_file, "",
          "Keeps the worker id across restarts, so an unfinished trial comes back to this worker.");
ABSL_FLAG(int, max_trials, 0, "Exit after this many trials (0: no limit).");
ABSL_FLAG(bool, exit_when_idle, false,
          "Exit when no trial is available and none may come (the experiments it serves are "
          "completed or paused), instead of waiting for new ones.");
ABSL_FLAG(std::string, log_level, "info", "debug, info, warning or error.");
ABSL_FLAG(int, rendezvous_port, 0,
          "Gang trials: the port this worker hosts the rendezvous on when it is rank 0 (worker "
          "label rendezvous_port; 0: the server picks 29500 + suggestion id % 1000).");
ABSL_FLAG(std::string, rendezvous_host, "",
          "Gang trials: the address other ranks reach this worker on when it is rank 0 (worker "
          "label rendezvous_host; default: the host name). Set it when the host name does not "
          "resolve to the cluster network, e.g. to the node's address on that network.");

namespace {

std::atomic<hpo::worker::Worker*> g_worker{nullptr};

void OnSignal(int) {
  if (hpo::worker::Worker* w = g_worker.load()) w->Shutdown();
}

std::string HostName() {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  return host;
}

int Run() {
  hpo::LogLevel level;
  if (!hpo::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &level)) {
    std::fprintf(stderr, "hpo-worker: --log_level: unknown level\n");
    return 2;
  }
  hpo::SetLogLevel(level);
  std::string server = absl::GetFlag(FLAGS_server);
  if (server.empty()) {
    const char* env = std::getenv("HPO_SERVER");
    server = env != nullptr && *env != '\0' ? env : hpo::client::kDefaultServerAddress;
  }
  hpo::client::HpoClientOptions client_options;
  client_options.target = server;
  auto flag_or_env = [](const std::string& flag, const char* env) {
    if (!flag.empty()) return flag;
    const char* value = std::getenv(env);
    return value == nullptr ? std::string() : std::string(value);
  };
  client_options.token = flag_or_env(absl::GetFlag(FLAGS_token), "HPO_TOKEN");
  client_options.tls_ca_file = flag_or_env(absl::GetFlag(FLAGS_tls_ca), "HPO_TLS_CA");
  client_options.tls_cert_file = flag_or_env(absl::GetFlag(FLAGS_tls_cert), "HPO_TLS_CERT");
  client_options.tls_key_file = flag_or_env(absl::GetFlag(FLAGS_tls_key), "HPO_TLS_KEY");
  // Trial commands run as this user: keep the token out of their reach. A non-dumpable process's
  // /proc/<pid>/environ and memory are readable only by root, and the variable itself is gone
  // from the environment children could inherit.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  ::unsetenv("HPO_TOKEN");
  auto client = hpo::client::HpoClient::Connect(client_options);
  if (!client.ok()) {
    HPO_LOG(ERROR) << client.status();
    return 2;
  }

  int threads = absl::GetFlag(FLAGS_threads);
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::map<std::string, std::string> overrides;
  for (const std::string& option : absl::GetFlag(FLAGS_trainer_option)) {
    std::pair<std::string, std::string> kv = absl::StrSplit(option, absl::MaxSplits('=', 1));
    if (kv.first.empty() || option.find('=') == std::string::npos) {
      HPO_LOG(ERROR) << "--trainer_option: expected name=value, got \"" << option << "\"";
      return 2;
    }
    overrides[kv.first] = kv.second;
  }
  if (!overrides.count("threads")) overrides["threads"] = absl::StrCat(threads);

  hpo::worker::WorkerOptions options;
  options.info.set_name(absl::GetFlag(FLAGS_name).empty() ? HostName() : absl::GetFlag(FLAGS_name));
  options.info.set_host(HostName());
  options.info.set_threads(threads);
  options.experiment_id = absl::GetFlag(FLAGS_experiment);
  options.max_trials = absl::GetFlag(FLAGS_max_trials);
  options.exit_when_idle = absl::GetFlag(FLAGS_exit_when_idle);
  if (const int port = absl::GetFlag(FLAGS_rendezvous_port); port > 0) {
    if (port > 65535) {
      HPO_LOG(ERROR) << "--rendezvous_port: must be 1..65535, got " << port;
      return 2;
    }
    (*options.info.mutable_labels())["rendezvous_port"] = absl::StrCat(port);
  }
  if (const std::string host = absl::GetFlag(FLAGS_rendezvous_host); !host.empty()) {
    if (host.size() > 253 || host.find_first_of(" \t\n/") != std::string::npos) {
      HPO_LOG(ERROR) << "--rendezvous_host: expected a host name or address, got \"" << host << "\"";
      return 2;
    }
    (*options.info.mutable_labels())["rendezvous_host"] = host;
  }
  const std::string id_file = absl::GetFlag(FLAGS_worker_id_file);
  if (!id_file.empty()) {
    std::ifstream(id_file) >> options.worker_id;
    options.on_registered = [id_file](const std::string& id) {
      std::ofstream(id_file) << id << "\n";
    };
  }

  std::unique_ptr<hpo::worker::TrialRunner> runner;
  const std::string command = absl::GetFlag(FLAGS_command);
  if (!command.empty()) {
    hpo::worker::CommandRunnerOptions command_options;
    command_options.command = command;
    for (const std::string& name : absl::GetFlag(FLAGS_pass_env)) {
      if (name.empty() || name.find_first_of("= ") != std::string::npos) {
        HPO_LOG(ERROR) << "--pass_env: expected a variable name or a prefix ending in '*', got \""
                       << name << "\"";
        return 2;
      }
      command_options.pass_env.push_back(name);
    }
    runner = std::make_unique<hpo::worker::CommandRunner>(command_options);
    (*options.info.mutable_labels())["mode"] = "command";
  } else {
#ifdef HPO_WORKER_WITH_TRAINER
    runner = std::make_unique<hpo::worker::DlrmRunner>(overrides);
    (*options.info.mutable_labels())["mode"] = "dlrm";
#else
    HPO_LOG(ERROR) << "this hpo-worker was built without the DLRM trainer: pass --command";
    return 2;
#endif
  }

  hpo::worker::Worker worker(client->get(), runner.get(), options);
  g_worker.store(&worker);
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  const absl::Status status = worker.Run();
  g_worker.store(nullptr);
  if (!status.ok() && !absl::IsCancelled(status)) {
    HPO_LOG(ERROR) << status;
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "hpo-worker: runs trials of hpo-server experiments.\n"
      "Usage: hpo-worker [--server HOST:PORT] [--experiment ID] [--command 'CMD']");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
