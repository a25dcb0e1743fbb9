#!/usr/bin/env python3
"""Security end to end: a real hpo-server with --auth and TLS (certificates made by the test with
openssl), driven by hpo-cli, the Python gRPC stubs and HTTPS requests to the dashboard.

Checks: plaintext and unauthenticated calls are refused; every RPC of every service, called with
a token of project alpha on project beta's resources, is PERMISSION_DENIED over real gRPC; worker
tokens may only run trials; revoked tokens stop working at once; the dashboard needs a token and
shows only the token's project; mutual TLS refuses clients without a certificate; an online
backup taken while clients write is a consistent database that a new server serves (restore).
"""
import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

from harness import Server, generate_stubs, wait_for

ARGS = None


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "2", "-subj", "/CN=hpo-test-ca", cwd=d)
    with open(os.path.join(d, "san.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", f"/CN={name}", cwd=d)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.cnf",
                cwd=d)
    return {n: os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key", "client.pem",
                                             "client.key")}


STUBS = tempfile.TemporaryDirectory()


def setUpModule():
    generate_stubs(ARGS.source_dir, STUBS.name)


class SecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import grpc
        cls.grpc = grpc
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        cls.certs = make_certs(d)
        cls.token_file = os.path.join(d, "admin.token")
        cls.server = Server(ARGS.server_bin, os.path.join(d, "hpo.db"), d, extra_args=[
            "--auth", "--admin_token_file", cls.token_file,
            "--tls_cert", cls.certs["server.pem"], "--tls_key", cls.certs["server.key"],
            "--http_listen", "127.0.0.1:0", "--http_port_file", os.path.join(d, "http_port")])
        cls.server.start()
        with open(os.path.join(d, "http_port")) as f:
            cls.http_port = int(f.read())
        with open(cls.token_file) as f:
            cls.admin = f.read().strip()
        cls.alice = cls.create_token("alice", "user", "alpha")
        cls.bob = cls.create_token("bob", "user", "beta")
        cls.alice_worker = cls.create_token("alice-worker", "worker", "alpha")
        cls.alice_reader = cls.create_token("alice-reader", "read_only", "alpha")
        spec = os.path.join(ARGS.source_dir, "deploy/examples/branin.json")
        cls.beta = cls.create_experiment(spec, cls.bob, "beta", "b1")
        cls.alpha = cls.create_experiment(spec, cls.alice, "alpha", "a1")
        out = cls.cli(cls.bob, "--json", "suggest", str(cls.beta))
        cls.beta_suggestion = int(json.loads(out)["suggestion"]["id"])

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.tmp.cleanup()

    @classmethod
    def cli(cls, token, *args, check=True):
        env = dict(os.environ, HPO_TLS_CA=cls.certs["ca.pem"])
        env.pop("HPO_TOKEN", None)
        cmd = [ARGS.cli_bin, "--server", cls.server.address] + (
            ["--token", token] if token else []) + list(args)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("%s failed: %s" % (cmd[3:], r.stderr))
        return r.stdout if check else r

    @classmethod
    def create_token(cls, name, role, project):
        out = cls.cli(cls.admin, "token-create", name, "--role", role, "--project", project)
        return out.strip().splitlines()[-1]

    @classmethod
    def create_experiment(cls, spec, token, project, name):
        with open(spec) as f:
            body = json.load(f)
        body["project"], body["name"] = project, name
        path = os.path.join(cls.tmp.name, name + ".json")
        with open(path, "w") as f:
            json.dump(body, f)
        return int(json.loads(cls.cli(token, "--json", "create", "-f", path))["experiment"]["id"])

    def channel(self, client_cert=False):
        with open(self.certs["ca.pem"], "rb") as f:
            ca = f.read()
        key = cert = None
        if client_cert:
            with open(self.certs["client.key"], "rb") as f:
                key = f.read()
            with open(self.certs["client.pem"], "rb") as f:
                cert = f.read()
        creds = self.grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                                  certificate_chain=cert)
        return self.grpc.secure_channel(self.server.address, creds)

    def call(self, channel, service, method, request, token):
        from hpo.v1 import admin_service_pb2, experiment_service_pb2, trial_service_pb2  # noqa
        module = {"ExperimentService": experiment_service_pb2, "TrialService": trial_service_pb2,
                  "AdminService": admin_service_pb2}[service]
        descriptor = module.DESCRIPTOR.services_by_name[service].methods_by_name[method]
        response_type = getattr(module, descriptor.output_type.name)
        path = "/hpo.v1.%s/%s" % (service, method)
        metadata = [("authorization", "Bearer " + token)] if token else []
        if descriptor.client_streaming:
            fn = channel.stream_stream(path, request_serializer=lambda m: m.SerializeToString(),
                                       response_deserializer=response_type.FromString)
            return list(fn(iter([request]), metadata=metadata, timeout=30))
        fn = channel.unary_unary(path, request_serializer=lambda m: m.SerializeToString(),
                                 response_deserializer=response_type.FromString)
        return fn(request, metadata=metadata, timeout=30)

    def code(self, fn):
        try:
            fn()
        except self.grpc.RpcError as e:
            return e.code()
        return self.grpc.StatusCode.OK

    def test_plaintext_and_anonymous_calls_are_refused(self):
        from hpo.v1 import experiment_service_pb2
        insecure = self.grpc.insecure_channel(self.server.address)
        req = experiment_service_pb2.ListExperimentsRequest()
        self.assertEqual(self.code(lambda: self.call(insecure, "ExperimentService",
                                                     "ListExperiments", req, self.alice)),
                         self.grpc.StatusCode.UNAVAILABLE)
        with self.channel() as ch:
            self.assertEqual(self.code(lambda: self.call(ch, "ExperimentService",
                                                         "ListExperiments", req, None)),
                             self.grpc.StatusCode.UNAUTHENTICATED)
            self.assertEqual(self.code(lambda: self.call(ch, "ExperimentService",
                                                         "ListExperiments", req, "hpo_" + "0" * 48)),
                             self.grpc.StatusCode.UNAUTHENTICATED)

    def test_every_rpc_on_another_project_is_denied(self):
        from hpo.v1 import admin_service_pb2, experiment_service_pb2, trial_service_pb2
        checked = []
        with self.channel() as ch:
            for module in (experiment_service_pb2, trial_service_pb2, admin_service_pb2):
                for service in module.DESCRIPTOR.services_by_name.values():
                    for method in service.methods:
                        request = getattr(module, method.input_type.name)()
                        fields = request.DESCRIPTOR.fields_by_name
                        if "experiment_id" in fields:
                            request.experiment_id = self.beta
                        if "suggestion_id" in fields:
                            request.suggestion_id = self.beta_suggestion
                        if "project" in fields:
                            request.project = "beta"
                        if "worker_id" in fields:
                            request.worker_id = "w-000000000000"
                        if method.name == "CreateExperiment":
                            request.experiment.name = "intruder"
                            request.experiment.project = "beta"
                        if method.name == "ReportProgress":
                            request.checkpoint.step = 1
                        if method.name == "RegisterWorker":
                            continue  # touches no project (covered by the role test)
                        for token in (self.alice, self.alice_worker, self.alice_reader):
                            code = self.code(lambda: self.call(ch, service.name, method.name,
                                                               request, token))
                            self.assertEqual(code, self.grpc.StatusCode.PERMISSION_DENIED,
                                             "%s.%s" % (service.name, method.name))
                        checked.append(method.name)
        self.assertEqual(len(checked), 12 + 5 + 4)
        # Nothing of beta changed: still one issued suggestion, no intruder experiment.
        listing = json.loads(self.cli(self.bob, "--json", "suggestions", str(self.beta)))
        self.assertEqual(len(listing["suggestions"]), 1)
        names = [e["name"] for e in json.loads(self.cli(self.admin, "--json", "list"))["experiments"]]
        self.assertNotIn("intruder", names)

    def test_lists_and_leases_are_narrowed_to_the_project(self):
        from hpo.v1 import experiment_service_pb2, trial_service_pb2
        with self.channel() as ch:
            listed = self.call(ch, "ExperimentService", "ListExperiments",
                               experiment_service_pb2.ListExperimentsRequest(), self.alice)
            self.assertEqual({e.project for e in listed.experiments}, {"alpha"})
            worker = self.call(ch, "TrialService", "RegisterWorker",
                               trial_service_pb2.RegisterWorkerRequest(), self.alice_worker)
            leased = self.call(ch, "TrialService", "LeaseTrial",
                               trial_service_pb2.LeaseTrialRequest(worker_id=worker.worker_id),
                               self.alice_worker)
            self.assertEqual(leased.experiment.project, "alpha")
            self.call(ch, "TrialService", "ReleaseTrial", trial_service_pb2.ReleaseTrialRequest(
                worker_id=worker.worker_id, suggestion_id=leased.suggestion.id), self.alice_worker)

    def test_roles(self):
        r = self.cli(self.alice_worker, "list", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("PERMISSION_DENIED", r.stderr)
        self.assertIn("role worker", r.stderr)
        r = self.cli(self.alice_reader, "suggest", str(self.alpha), check=False)
        self.assertIn("PERMISSION_DENIED", r.stderr)
        self.cli(self.alice_reader, "get", str(self.alpha))
        r = self.cli(self.alice, "tokens", check=False)
        self.assertIn("PERMISSION_DENIED", r.stderr)

    def test_revoked_token_stops_working(self):
        carol = self.create_token("carol", "user", "alpha")
        self.cli(carol, "list")
        tokens = json.loads(self.cli(self.admin, "--json", "tokens"))["tokens"]
        carol_id = [t["id"] for t in tokens if t["name"] == "carol"][0]
        self.cli(self.admin, "token-revoke", str(carol_id))
        r = self.cli(carol, "list", check=False)
        self.assertIn("UNAUTHENTICATED", r.stderr)
        self.assertIn("revoked", r.stderr)
        # Secrets are not stored: the database holds only their SHA-256.
        db = subprocess.run(["sqlite3", self.server.db_path, "SELECT secret_sha256 FROM api_tokens"],
                            capture_output=True, text=True).stdout
        self.assertNotIn(carol, db)
        self.assertNotIn(self.admin, db)

    def https(self, path, token=None, cookie=None):
        context = ssl.create_default_context(cafile=self.certs["ca.pem"])
        request = urllib.request.Request("https://127.0.0.1:%d%s" % (self.http_port, path))
        if token:
            request.add_header("Authorization", "Bearer " + token)
        if cookie:
            request.add_header("Cookie", "theme=light; hpo_token=" + cookie)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def test_dashboard_over_https_needs_a_token_and_is_scoped(self):
        status, _ = self.https("/api/v1/experiments")
        self.assertEqual(status, 401)
        status, body = self.https("/api/v1/experiments", self.alice)
        self.assertEqual(status, 200)
        self.assertEqual({e["project"] for e in json.loads(body)["experiments"]}, {"alpha"})
        status, _ = self.https("/api/v1/experiments/%d" % self.beta, self.alice)
        self.assertEqual(status, 403)
        status, _ = self.https("/api/v1/experiments/%d/observations" % self.beta, self.alice)
        self.assertEqual(status, 403)
        status, _ = self.https("/api/v1/experiments", self.alice_worker)
        self.assertEqual(status, 403)
        status, _ = self.https("/api/v1/experiments/%d" % self.beta, self.admin)
        self.assertEqual(status, 200)
        # The page's cookie works like the header (the CSV link relies on it).
        status, body = self.https("/api/v1/experiments/%d/observations.csv" % self.alpha,
                                  cookie=self.alice)
        self.assertEqual(status, 200)
        self.assertTrue(body.startswith(b"ID,"))
        status, _ = self.https("/api/v1/experiments/%d/observations.csv" % self.beta,
                               cookie=self.alice)
        self.assertEqual(status, 403)
        # The page itself is public (it holds no data) and served over TLS.
        status, _ = self.https("/")
        self.assertEqual(status, 200)

    def test_online_backup_while_writing_and_restore(self):
        exp = self.create_experiment(os.path.join(ARGS.source_dir, "deploy/examples/branin.json"),
                                     self.alice, "alpha", "backup-target")
        self.cli(self.admin, "--json", "get", str(exp))
        stop = threading.Event()
        acked = []

        errors = []

        def writer():
            try:
                while not stop.is_set() and len(acked) < 40:
                    s = json.loads(self.cli(self.alice, "--json", "suggest", str(exp)))
                    sid = int(s["suggestion"]["id"])
                    self.cli(self.alice, "observe", str(exp), "--suggestion", str(sid),
                             "branin=1.5")
                    acked.append(sid)
            except Exception as e:  # reported by the main thread
                errors.append(e)
        t = threading.Thread(target=writer)
        t.start()
        wait_for(lambda: len(acked) >= 5 or errors, 120, "some observations before the backup")
        self.assertEqual(errors, [])
        backup = os.path.join(self.tmp.name, "backup.db")
        out = self.cli(self.admin, "backup", backup)
        at_backup = len(acked)
        stop.set()
        t.join()
        self.assertIn("backed up to", out)
        check = subprocess.run(["sqlite3", backup, "PRAGMA integrity_check"], capture_output=True,
                               text=True).stdout.strip()
        self.assertEqual(check, "ok")
        # Restore = serve the copy: everything acknowledged before the backup is there.
        restored_dir = os.path.join(self.tmp.name, "restored")
        os.makedirs(restored_dir)
        restored = Server(ARGS.server_bin, backup, restored_dir,
                          extra_args=["--http_listen", ""])
        restored.start()
        try:
            r = subprocess.run([ARGS.cli_bin, "--server", restored.address, "--json",
                                "observations", str(exp)], capture_output=True, text=True,
                               timeout=60, check=True)
            observed = {int(o["suggestion_id"]) for o in json.loads(r.stdout).get("observations", [])}
            self.assertTrue(set(acked[:at_backup - 1]).issubset(observed))
            self.assertLessEqual(len(observed), len(acked))
        finally:
            restored.terminate()
        r = self.cli(self.admin, "backup", backup, check=False)
        self.assertIn("ALREADY_EXISTS", r.stderr)
        r = self.cli(self.admin, "backup", "relative.db", check=False)
        self.assertIn("INVALID_ARGUMENT", r.stderr)

    def test_token_projects_are_names_and_only_admins_reach_every_project(self):
        r = self.cli(self.admin, "token-create", "evil", "--role", "user", "--project",
                     "=HYPERLINK(x)", check=False)
        self.assertIn("INVALID_ARGUMENT", r.stderr)
        self.assertIn("project", r.stderr)
        # A non-admin token made without a project gets the default one, not every project.
        out = self.cli(self.admin, "--json", "token-create", "dave", "--role", "read_only")
        self.assertIn('"default"', out)
        dave = json.loads(out)["secret"]
        listed = json.loads(self.cli(dave, "--json", "list")).get("experiments", [])
        self.assertEqual({e["project"] for e in listed} - {"default"}, set())
        r = self.cli(dave, "get", str(self.alpha), check=False)
        self.assertIn("PERMISSION_DENIED", r.stderr)

    def test_worker_ids_belong_to_the_project_that_registered_them(self):
        from hpo.v1 import trial_service_pb2 as t
        codes = self.grpc.StatusCode
        bob_worker = self.create_token("bob-worker", "worker", "beta")
        with self.channel() as ch:
            beta_info = t.WorkerInfo(name="beta-node", host="beta-host",
                                     labels={"rendezvous_host": "10.0.0.2"})
            beta_id = self.call(ch, "TrialService", "RegisterWorker",
                                t.RegisterWorkerRequest(worker=beta_info), bob_worker).worker_id
            alpha_id = self.call(ch, "TrialService", "RegisterWorker",
                                 t.RegisterWorkerRequest(worker=t.WorkerInfo(name="alpha-node")),
                                 self.alice_worker).worker_id
            evil = t.WorkerInfo(name="evil", host="evil-host",
                                labels={"rendezvous_host": "evil.example"})
            self.assertEqual(self.code(lambda: self.call(
                ch, "TrialService", "RegisterWorker",
                t.RegisterWorkerRequest(worker=evil, worker_id=beta_id), self.alice_worker)),
                codes.PERMISSION_DENIED)
            # Any other call with beta's id answers as for an id that does not exist.
            for method, request in (("LeaseTrial", t.LeaseTrialRequest(worker_id=beta_id)),
                                    ("Heartbeat", t.HeartbeatRequest(worker_id=beta_id)),
                                    ("LeaseTrial", t.LeaseTrialRequest(worker_id="w-nobody"))):
                with self.assertRaises(self.grpc.RpcError) as refused:
                    self.call(ch, "TrialService", method, request, self.alice_worker)
                self.assertEqual(refused.exception.code(), codes.NOT_FOUND, method)
                self.assertIn("worker_id", refused.exception.details())
            self.call(ch, "TrialService", "Heartbeat", t.HeartbeatRequest(worker_id=beta_id),
                      bob_worker)
        status, body = self.https("/api/v1/workers", self.admin)
        self.assertEqual(status, 200)
        everyone = {w["worker_id"]: w for w in json.loads(body)["workers"]}
        self.assertEqual(everyone[beta_id]["host"], "beta-host")  # not overwritten
        self.assertIn(alpha_id, everyone)
        for path in ("/api/v1/workers", "/api/v1/workers?experiment=%d" % self.alpha):
            status, body = self.https(path, self.alice_reader)
            self.assertEqual(status, 200)
            seen = {w["worker_id"] for w in json.loads(body)["workers"]}
            self.assertIn(alpha_id, seen, path)
            self.assertNotIn(beta_id, seen, path)

    def test_concurrent_leases_of_one_worker_get_one_trial(self):
        from hpo.v1 import trial_service_pb2 as t
        with open(os.path.join(ARGS.source_dir, "deploy/examples/branin.json")) as f:
            body = json.load(f)
        body.update(project="alpha", name="lease-race", parallel_bandwidth=5,
                    observation_budget=100)
        path = os.path.join(self.tmp.name, "lease-race.json")
        with open(path, "w") as f:
            json.dump(body, f)
        created = json.loads(self.cli(self.alice, "--json", "create", "-f", path))
        exp = int(created["experiment"]["id"])
        with self.channel() as ch:
            for round_ in range(20):
                worker = self.call(ch, "TrialService", "RegisterWorker",
                                   t.RegisterWorkerRequest(), self.alice_worker).worker_id
                start = threading.Barrier(5)
                leased, errors = [], []

                def lease():
                    try:
                        start.wait()
                        request = t.LeaseTrialRequest(worker_id=worker, experiment_id=exp)
                        leased.append(self.call(ch, "TrialService", "LeaseTrial", request,
                                                self.alice_worker).suggestion.id)
                    except Exception as e:  # reported below
                        errors.append(e)
                threads = [threading.Thread(target=lease) for _ in range(5)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
                self.assertEqual(errors, [])
                self.assertEqual(len(set(leased)), 1, "round %d: %s" % (round_, leased))
                self.call(ch, "TrialService", "ReleaseTrial", t.ReleaseTrialRequest(
                    worker_id=worker, suggestion_id=leased[0]), self.alice_worker)

    def test_lower_checkpoint_step_is_refused(self):
        from hpo.v1 import experiment_pb2, experiment_service_pb2, trial_service_pb2 as t
        exp = self.create_experiment(os.path.join(ARGS.source_dir, "deploy/examples/branin.json"),
                                     self.alice, "alpha", "steps")
        with self.channel() as ch:
            worker = self.call(ch, "TrialService", "RegisterWorker", t.RegisterWorkerRequest(),
                               self.alice_worker).worker_id
            sid = self.call(ch, "TrialService", "LeaseTrial", t.LeaseTrialRequest(
                worker_id=worker, experiment_id=exp), self.alice_worker).suggestion.id

            def report(step):
                return t.ProgressReport(worker_id=worker, suggestion_id=sid,
                                        checkpoint=experiment_pb2.Checkpoint(step=step, metrics=[
                                            experiment_pb2.MetricValue(name="branin", value=3.0)]))
            self.call(ch, "TrialService", "ReportProgress", report(10), self.alice_worker)
            self.call(ch, "TrialService", "ReportProgress", report(10), self.alice_worker)  # resent
            with self.assertRaises(self.grpc.RpcError) as refused:
                self.call(ch, "TrialService", "ReportProgress", report(5), self.alice_worker)
            self.assertEqual(refused.exception.code(), self.grpc.StatusCode.INVALID_ARGUMENT)
            self.assertIn("checkpoint.step", refused.exception.details())
            curve = self.call(ch, "ExperimentService", "ListCheckpoints",
                              experiment_service_pb2.ListCheckpointsRequest(
                                  experiment_id=exp, suggestion_id=sid), self.alice)
            self.assertEqual([c.step for c in curve.checkpoints], [10])


class MutualTlsTest(unittest.TestCase):
    def test_client_certificate_required(self):
        import grpc
        from hpo.v1 import experiment_service_pb2, experiment_service_pb2_grpc
        with tempfile.TemporaryDirectory() as d:
            certs = make_certs(d)
            server = Server(ARGS.server_bin, os.path.join(d, "hpo.db"), d, extra_args=[
                "--tls_cert", certs["server.pem"], "--tls_key", certs["server.key"],
                "--tls_client_ca", certs["ca.pem"], "--http_listen", ""])
            server.start()
            try:
                ca = read(certs["ca.pem"])
                request = experiment_service_pb2.ListExperimentsRequest()
                without = grpc.secure_channel(server.address,
                                              grpc.ssl_channel_credentials(root_certificates=ca))
                with self.assertRaises(grpc.RpcError) as e:
                    experiment_service_pb2_grpc.ExperimentServiceStub(without).ListExperiments(
                        request, timeout=10)
                self.assertEqual(e.exception.code(), grpc.StatusCode.UNAVAILABLE)
                with_cert = grpc.secure_channel(server.address, grpc.ssl_channel_credentials(
                    root_certificates=ca, private_key=read(certs["client.key"]),
                    certificate_chain=read(certs["client.pem"])))
                experiment_service_pb2_grpc.ExperimentServiceStub(with_cert).ListExperiments(
                    request, timeout=10)
                r = subprocess.run([ARGS.cli_bin, "--server", server.address, "--tls_ca",
                                    certs["ca.pem"], "--tls_cert", certs["client.pem"],
                                    "--tls_key", certs["client.key"], "list"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
            finally:
                server.terminate()

    def test_non_loopback_without_auth_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            r = subprocess.run([ARGS.server_bin, "--db", os.path.join(d, "x.db"), "--listen",
                                "0.0.0.0:0", "--http_listen", ""], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 2)
            self.assertIn("--auth", r.stderr)


def health_status(address):
    """The gRPC health check's status of the whole server: 1 SERVING, 2 NOT_SERVING."""
    import grpc
    with grpc.insecure_channel(address) as ch:
        check = ch.unary_unary("/grpc.health.v1.Health/Check")
        reply = check(b"", timeout=10)
    return reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0


class FilesAndLocalUsersTest(unittest.TestCase):
    """What other local users can do with the server's files: nothing."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name
        self.servers = []

    def tearDown(self):
        for server in self.servers:
            if server.running():
                server.terminate()
        self.tmp.cleanup()

    def start(self, db_path, extra_args=()):
        workdir = tempfile.mkdtemp(dir=self.d)
        server = Server(ARGS.server_bin, db_path, workdir,
                        extra_args=["--http_listen", ""] + list(extra_args))
        server.start()
        self.servers.append(server)
        return server

    def cli(self, server, *args):
        return subprocess.run([ARGS.cli_bin, "--server", server.address] + list(args),
                              capture_output=True, text=True, timeout=60)

    def mode(self, path):
        return os.lstat(path).st_mode & 0o777

    def test_data_directory_and_files_are_the_owners_alone(self):
        data = os.path.join(self.d, "data")
        port_file = os.path.join(self.d, "port")
        old = os.umask(0o022)
        try:
            proc = subprocess.Popen([ARGS.server_bin, "--data_dir", data, "--listen",
                                     "127.0.0.1:0", "--port_file", port_file,
                                     "--http_listen", ""],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            os.umask(old)
        try:
            wait_for(lambda: os.path.exists(port_file) or proc.poll() is not None, 30, "server")
            with open(port_file) as f:
                address = "127.0.0.1:%s" % f.read().strip()
            spec = os.path.join(ARGS.source_dir, "deploy/examples/branin.json")
            r = subprocess.run([ARGS.cli_bin, "--server", address, "create", "-f", spec],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.mode(data), 0o700)
            for name in ("hpo.db", "hpo.db-wal", "hpo.db-shm", "hpo.db.lock"):
                self.assertEqual(self.mode(os.path.join(data, name)), 0o600, name)
            self.assertEqual(self.mode(port_file), 0o600)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def test_a_data_directory_made_open_by_others_is_closed(self):
        data = os.path.join(self.d, "made-by-a-script")
        os.makedirs(data, mode=0o755)
        os.chmod(data, 0o755)
        port_file = os.path.join(self.d, "port-open-dir")
        proc = subprocess.Popen([ARGS.server_bin, "--data_dir", data, "--listen", "127.0.0.1:0",
                                 "--port_file", port_file, "--http_listen", ""],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(lambda: os.path.exists(port_file) or proc.poll() is not None, 30, "server")
            self.assertTrue(os.path.exists(port_file), "the server did not start")
            self.assertEqual(self.mode(data), 0o700)
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def test_second_server_on_the_same_database_refuses_to_start(self):
        db = os.path.join(self.d, "hpo.db")
        self.start(db)
        r = subprocess.run([ARGS.server_bin, "--db", db, "--listen", "127.0.0.1:0",
                            "--http_listen", ""], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("in use by another hpo-server", r.stderr)

    def test_empty_database_file_is_refused(self):
        db = os.path.join(self.d, "hpo.db")
        open(db, "w").close()
        r = subprocess.run([ARGS.server_bin, "--db", db, "--listen", "127.0.0.1:0",
                            "--http_listen", ""], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("empty", r.stderr)
        self.assertEqual(os.path.getsize(db), 0)

    def test_corruption_found_at_runtime_turns_health_not_serving(self):
        import sqlite3
        db = os.path.join(self.d, "hpo.db")
        server = self.start(db)
        spec = os.path.join(ARGS.source_dir, "deploy/examples/branin.json")
        self.assertEqual(self.cli(server, "create", "-f", spec).returncode, 0)
        self.assertEqual(health_status(server.address), 1)
        # Another process damages the file: the experiments table points past its end.
        con = sqlite3.connect(db)
        version = con.execute("PRAGMA schema_version").fetchone()[0]
        con.execute("PRAGMA writable_schema=ON")
        con.execute("UPDATE sqlite_master SET rootpage = 100000 WHERE name = 'experiments'")
        con.commit()
        con.execute("PRAGMA schema_version = %d" % (version + 1))
        con.commit()
        con.close()
        r = self.cli(server, "list")
        self.assertIn("DATA_LOSS", r.stderr)
        wait_for(lambda: health_status(server.address) == 2, 30, "health NOT_SERVING")
        self.assertIn("corrupt", server.read_log())

    def test_backups_without_auth_stay_in_the_data_directory(self):
        import grpc
        from hpo.v1 import admin_service_pb2, admin_service_pb2_grpc
        data = os.path.join(self.d, "data")
        os.makedirs(data)
        server = self.start(os.path.join(data, "hpo.db"))
        outside = os.path.join(self.d, "outside.db")
        r = self.cli(server, "backup", outside)
        self.assertIn("PERMISSION_DENIED", r.stderr)
        self.assertFalse(os.path.exists(outside))
        # A link planted in the data directory is not followed, dangling or not.
        target = os.path.join(self.d, "target.db")
        os.symlink(target, os.path.join(data, "link.db"))
        r = self.cli(server, "backup", os.path.join(data, "link.db"))
        self.assertIn("ALREADY_EXISTS", r.stderr)
        self.assertFalse(os.path.exists(target))
        inside = os.path.join(data, "copy.db")
        r = self.cli(server, "backup", inside)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.mode(inside), 0o600)
        # A NUL byte does not cut the path short.
        with grpc.insecure_channel(server.address) as ch:
            stub = admin_service_pb2_grpc.AdminServiceStub(ch)
            with self.assertRaises(grpc.RpcError) as e:
                stub.BackupDatabase(admin_service_pb2.BackupDatabaseRequest(
                    path=os.path.join(data, "nul.db\0.txt")), timeout=30)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertFalse(os.path.exists(os.path.join(data, "nul.db")))

    def test_admin_token_file_is_not_written_through_a_planted_link(self):
        victim = os.path.join(self.d, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        token_file = os.path.join(self.d, "admin.token")
        os.symlink(victim, token_file + ".tmp")
        self.start(os.path.join(self.d, "hpo.db"),
                   ["--auth", "--admin_token_file", token_file])
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertFalse(os.path.islink(token_file))
        self.assertEqual(self.mode(token_file), 0o600)
        with open(token_file) as f:
            self.assertTrue(f.read().startswith("hpo_"))
        # A token file that is a link is refused, not read.
        other = os.path.join(self.d, "other")
        os.makedirs(other)
        os.symlink(token_file, os.path.join(other, "admin.token"))
        r = subprocess.run([ARGS.server_bin, "--db", os.path.join(other, "hpo.db"), "--listen",
                            "127.0.0.1:0", "--http_listen", "", "--auth", "--admin_token_file",
                            os.path.join(other, "admin.token")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1)
        self.assertIn("not a link", r.stderr)

    def test_second_server_through_a_link_to_the_same_database_is_refused(self):
        db = os.path.join(self.d, "hpo.db")
        self.start(db)
        other = os.path.join(self.d, "other")
        os.makedirs(other)
        for name, link in (("symlink.db", os.symlink), ("hardlink.db", os.link)):
            path = os.path.join(other, name)
            link(db, path)
            r = subprocess.run([ARGS.server_bin, "--db", path, "--listen", "127.0.0.1:0",
                                "--http_listen", ""], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 1, name)
            self.assertIn("in use by another hpo-server", r.stderr, name)
            self.assertFalse(os.path.exists(path + "-wal"), name)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--server-bin", required=True)
    parser.add_argument("--cli-bin", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
