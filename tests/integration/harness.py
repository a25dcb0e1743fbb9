"""Shared pieces of the integration tests: real hpo-server / hpo-worker processes and gRPC stubs."""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest


def generate_stubs(source_dir, out_dir):
    """Generates the Python gRPC stubs of proto/hpo/v1 into out_dir and makes them importable."""
    os.makedirs(out_dir, exist_ok=True)
    protos = sorted(os.path.join("hpo/v1", f)
                    for f in os.listdir(os.path.join(source_dir, "proto/hpo/v1"))
                    if f.endswith(".proto"))
    subprocess.run(
        ["protoc", "-I", os.path.join(source_dir, "proto"), "--python_out", out_dir,
         "--grpc_out", out_dir, "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin"] + protos,
        check=True)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)


def all_pages(method, request, field, **kwargs):
    """Every item of a paged List call: follows next_page_token to the last page."""
    items = []
    while True:
        reply = method(request, **kwargs)
        items.extend(getattr(reply, field))
        if not reply.next_page_token:
            return items
        request.page_token = reply.next_page_token


def wait_for(condition, timeout, what, interval=0.05):
    """Polls condition() until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Server:
    """A real hpo-server process on a database file; `port` 0 picks a free one once."""

    def __init__(self, binary, db_path, workdir, extra_args=()):
        self.binary = binary
        self.db_path = db_path
        self.workdir = workdir
        self.extra_args = list(extra_args)
        self.proc = None
        self.port = 0
        self.log_path = os.path.join(workdir, "server.log")

    @property
    def address(self):
        return "127.0.0.1:%d" % self.port

    def start(self, timeout=30):
        port_file = os.path.join(self.workdir, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "--db", self.db_path, "--listen", "127.0.0.1:%d" % self.port,
             "--port_file", port_file] + self.extra_args, stdout=log, stderr=log)
        log.close()

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("hpo-server exited with %d: %s" % (self.proc.returncode,
                                                                      self.read_log()))
            return os.path.exists(port_file)
        wait_for(ready, timeout, "hpo-server to listen")
        with open(port_file) as f:
            self.port = int(f.read().strip())

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-6000:]

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Process:
    """A real process whose stdout and stderr go to a log file."""

    def __init__(self, cmd, log_path, env=None):
        self.log_path = log_path
        log = open(log_path, "ab")
        self.proc = subprocess.Popen(list(cmd), stdout=log, stderr=log,
                                     env=dict(os.environ, **(env or {})))
        log.close()

    def read_log(self, tail=6000):
        """The log's last `tail` characters (all of it for None)."""
        with open(self.log_path, "rb") as f:
            text = f.read().decode(errors="replace")
        return text if tail is None else text[-tail:]

    def wait(self, timeout):
        return self.proc.wait(timeout=timeout)

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)


class Worker(Process):
    """A real hpo-worker process."""

    def __init__(self, binary, server, workdir, name, args=(), env=None):
        super().__init__([binary, "--server", server.address, "--name", name] + list(args),
                         os.path.join(workdir, "worker-%s.log" % name), env)


class ProcessTestCase(unittest.TestCase):
    """A test case that runs real processes: one temporary folder with generated stubs per class,
    a folder per test (self.dir). After each test, self.server (None until a test starts one) and
    self.workers (a list or a dict of Worker) are stopped, and their logs printed if it failed.
    Set ProcessTestCase.source_dir (the repository root) before the tests run."""

    source_dir = None
    server_bin = None
    prefix = "hpo-it-"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix=cls.prefix)
        generate_stubs(cls.source_dir, os.path.join(cls.tmp.name, "stubs"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp.name)
        self.server = None
        self.workers = []
        result = self._outcome.result
        self._problems_before = len(result.errors) + len(result.failures)

    def start_server(self, extra=()):
        """Starts self.server on this test's database, without the dashboard."""
        self.server = Server(self.server_bin, os.path.join(self.dir, "hpo.db"), self.dir,
                             ["--http_listen="] + list(extra))
        self.server.start()

    def all_workers(self):
        return list(self.workers.values()) if isinstance(self.workers, dict) else list(self.workers)

    def tearDown(self):
        for w in self.all_workers():
            w.stop()
        if self.server is not None and self.server.running():
            self.server.kill()
        result = self._outcome.result
        if len(result.errors) + len(result.failures) > self._problems_before:
            if self.server is not None:
                print("--- server log ---\n" + self.server.read_log())
            for w in self.all_workers():
                print("--- %s ---\n%s" % (w.log_path, w.read_log()))


def run_process_tests(module, flags=("--server-bin", "--worker-bin", "--source-dir")):
    """The main of a test module: parses `flags` into module.ARGS, points ProcessTestCase at the
    repository and the server binary, and runs the module's tests."""
    parser = argparse.ArgumentParser()
    for flag in flags:
        parser.add_argument(flag, required=True)
    args, rest = parser.parse_known_args()
    module.ARGS = args
    ProcessTestCase.source_dir = args.source_dir
    ProcessTestCase.server_bin = getattr(args, "server_bin", None)
    unittest.main(module=module, argv=[sys.argv[0]] + rest, verbosity=2)


def make_certs(directory, hosts=("IP:127.0.0.1", "DNS:localhost")):
    """Makes, with openssl, a CA (ca.pem), a server certificate for `hosts` (server.pem,
    server.key) and a client certificate (client.pem, client.key) in `directory`; returns
    {file name: path}."""
    def openssl(*args):
        subprocess.run(["openssl"] + list(args), cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=hpo-test-ca")
    with open(os.path.join(directory, "san.cnf"), "w") as f:
        f.write("subjectAltName=%s\n" % ",".join(hosts))
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
                name + ".csr", "-subj", "/CN=" + name)
        openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", "san.cnf")
    return {n: os.path.join(directory, n) for n in ("ca.pem", "server.pem", "server.key",
                                                    "client.pem", "client.key")}
