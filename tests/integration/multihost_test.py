#!/usr/bin/python3
"""Gang trials across hosts: every hpo process runs in its own Linux network namespace (ip netns,
iproute2), joined by veth links to a bridge, so each is a separate host with its own address and
no shared loopback. The server runs with --auth on its cluster address, as docs/cluster.md sets it
up; the workers use a worker token and the embedded LibTorch DLRM trainer (c10d/Gloo between
namespaces).

  - dlrm-train ranks on two hosts give the same AUC and loss as one process;
  - an experiment created with hpo-cli from a YAML spec with training.ranks_per_trial 2, then 3,
    runs every trial as one distributed run over 2 (3) worker hosts, rank 0's host serving the
    rendezvous, and the workers exit when the experiment is done;
  - SIGKILL of one rank's worker mid-trial frees the gang; the trial is retried by a new gang and
    observed once.

Needs root (CAP_NET_ADMIN) and iproute2; exits 77 (skipped) where namespaces cannot be made.
About 60 s.

Usage: multihost_test.py --server-bin PATH --worker-bin PATH --cli-bin PATH --train-bin PATH
                         --source-dir DIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

from harness import Process, ProcessTestCase, run_process_tests, wait_for

ARGS = None
SKIP = 77
SUBNET = "10.78.%d.%d"


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), check=check, capture_output=True, text=True)


class Network:
    """A bridge in its own namespace and `hosts` namespaces linked to it (10.78.N.1..hosts)."""

    def __init__(self, hosts):
        self.tag = "%05d" % (os.getpid() % 100000)
        self.net = os.getpid() % 200 + 20  # third octet, so concurrent runs do not collide
        self.switch = "hposw" + self.tag
        self.hosts = ["hpoh%d-%s" % (i, self.tag) for i in range(hosts)]
        self.made = []

    def address(self, i):
        return SUBNET % (self.net, i + 1)

    def up(self):
        sh("ip", "netns", "add", self.switch)
        self.made.append(self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        for i, ns in enumerate(self.hosts):
            sh("ip", "netns", "add", ns)
            self.made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            outer, inner = "hv%d%s" % (i, self.tag), "eth0"
            sh("ip", "link", "add", outer, "netns", self.switch, "type", "veth",
               "peer", "name", inner, "netns", ns)
            sh("ip", "-n", self.switch, "link", "set", outer, "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", self.address(i) + "/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")

    def down(self):
        for ns in reversed(self.made):
            # Processes left in a namespace would keep its links: kill them first.
            pids = sh("ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        self.made = []

    def run(self, i, cmd, **kw):
        return ["ip", "netns", "exec", self.hosts[i]] + list(cmd)


def can_make_namespaces():
    if os.geteuid() != 0:
        return "needs root (CAP_NET_ADMIN) to create network namespaces"
    probe = "hpoprobe%05d" % (os.getpid() % 100000)
    made = sh("ip", "netns", "add", probe, check=False)
    if made.returncode != 0:
        return "ip netns add failed: " + made.stderr.strip()
    sh("ip", "netns", "del", probe, check=False)
    return None


# A small DLRM: 8 tables, three of them model-parallel (>= 1500 rows), the rest replicated.
TABLES = "4000-3000-1500-200-100-50-20-10"
FIXED = {"table_sizes": TABLES, "replicate_below_rows": "1000", "batch_size": "256",
         "embedding_dim": "8", "bottom_mlp": "32-8", "top_mlp": "32-1", "optimizer": "sgd",
         "synthetic_test_examples": "4096", "dist_timeout_seconds": "30", "rank_memory_mb": "1"}

SPEC = """\
name: {name}
project: multihost
search_space:
  parameters:
    - name: learning_rate
      type: double
      bounds: {{min: 0.2, max: 0.5}}
      transformation: log
metrics:
  - name: auc
    objective: maximize
observation_budget: {budget}
parallel_bandwidth: 1
optimizer:
  algorithm: random
training:
  ranks_per_trial: {ranks}
  max_steps: {steps}
  eval_every_steps: {eval_every}
  parameter_mapping:
    learning_rate: learning_rate
  fixed_options:
{fixed}
"""


class MultiHostTest(ProcessTestCase):
    prefix = "hpo-multihost-it-"
    network = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.network = Network(hosts=4)  # 0: server, 1-3: workers
        try:
            cls.network.up()
        except subprocess.CalledProcessError as e:
            cls.network.down()
            raise RuntimeError("making the test network failed: %s %s" % (e.cmd, e.stderr))

    @classmethod
    def tearDownClass(cls):
        if cls.network is not None:
            cls.network.down()
        super().tearDownClass()

    def setUp(self):
        super().setUp()
        self.workers = {}
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.stop()
        failed = len(self._outcome.result.errors) + len(self._outcome.result.failures)
        if failed > self._problems_before:
            for p in self.procs:
                print("--- %s ---\n%s" % (p.log_path, p.read_log()))
        super().tearDown()

    # --- the cluster -------------------------------------------------------------------------

    def start_cluster_server(self):
        net = self.network
        self.admin_file = os.path.join(self.dir, "admin.token")
        port_file = os.path.join(self.dir, "port")
        server = Process(net.run(0, [ARGS.server_bin, "--db", os.path.join(self.dir, "hpo.db"),
                                  "--listen", net.address(0) + ":0", "--port_file", port_file,
                                  "--auth", "--admin_token_file", self.admin_file,
                                  "--http_listen=", "--lease_timeout_seconds=3",
                                  "--max_lease_attempts=3"]),
                      os.path.join(self.dir, "server.log"))
        self.procs.append(server)
        wait_for(lambda: os.path.exists(port_file) or server.proc.poll() is not None, 30,
                 "hpo-server to listen")
        self.assertIsNone(server.proc.poll(), server.read_log())
        with open(port_file) as f:
            self.address = "%s:%s" % (net.address(0), f.read().strip())
        with open(self.admin_file) as f:
            self.admin_token = f.read().strip()
        made = self.cli(["token-create", "workers", "--role", "worker", "--project", "multihost"],
                        self.admin_token)
        self.worker_token = re.search(r"hpo_[0-9a-f]{48}", made).group(0)
        return server

    def cli(self, args, token, host=0):
        out = subprocess.run(self.network.run(host, [ARGS.cli_bin, "--server", self.address] + args),
                             capture_output=True, text=True, env=dict(os.environ, HPO_TOKEN=token),
                             timeout=60)
        self.assertEqual(out.returncode, 0, "hpo-cli %s: %s%s" % (args, out.stdout, out.stderr))
        return out.stdout

    def create(self, name, ranks, budget, steps, eval_every):
        path = os.path.join(self.dir, name + ".yaml")
        fixed = "".join('    %s: "%s"\n' % kv for kv in sorted(FIXED.items()))
        with open(path, "w") as f:
            f.write(SPEC.format(name=name, ranks=ranks, budget=budget, steps=steps,
                                eval_every=eval_every, fixed=fixed))
        out = self.cli(["create", "-f", path, "--json"], self.admin_token)
        return int(json.loads(out)["experiment"]["id"])

    def start_worker(self, host, experiment_id, extra=()):
        net = self.network
        name = "host%d" % host
        w = Process(net.run(host, [ARGS.worker_bin, "--server", self.address, "--name", name,
                                "--experiment", str(experiment_id), "--threads", "1",
                                "--rendezvous_host", net.address(host),
                                "--rendezvous_port", str(29400 + host)] + list(extra)),
                 os.path.join(self.dir, "worker-%s.log" % name),
                 env={"HPO_TOKEN": self.worker_token, "OMP_NUM_THREADS": "1"})
        self.procs.append(w)
        self.workers[name] = w
        return w

    def listed(self, what, *ids):
        """hpo-cli WHAT IDS --json: the response's list (observations, suggestions, ...)."""
        out = json.loads(self.cli([what] + [str(i) for i in ids] + ["--json"], self.admin_token))
        return out.get(what, [])

    # --- tests -------------------------------------------------------------------------------

    def test_two_host_ranks_match_one_process(self):
        """dlrm-train itself: rank 0 on host 1, rank 1 on host 2, against one process."""
        net = self.network
        common = ["--table_sizes", TABLES, "--replicate_below_rows", "1000", "--batch_size", "256",
                  "--embedding_dim", "8", "--bottom_mlp", "32-8", "--top_mlp", "32-1",
                  "--optimizer", "sgd", "--lr", "0.1", "--max_steps", "300",
                  "--synthetic_test_examples", "4096", "--threads", "1", "--json"]
        single = subprocess.run([ARGS.train_bin] + common, capture_output=True, text=True,
                                timeout=300)
        self.assertEqual(single.returncode, 0, single.stderr)
        ranks = [Process(net.run(1 + r, [ARGS.train_bin] + common + [
                     "--world_size", "2", "--rank", str(r), "--master_addr", net.address(1),
                     "--master_port", "29411", "--dist_timeout", "60"]),
                      os.path.join(self.dir, "rank%d.log" % r)) for r in range(2)]
        self.procs.extend(ranks)
        for r in ranks:
            self.assertEqual(r.wait(300), 0, r.read_log())
        want = json.loads(single.stdout.strip().splitlines()[-1])
        got = json.loads(ranks[0].read_log().strip().splitlines()[-1])
        # Same data, global batch and initialization: equal up to float summation order.
        self.assertAlmostEqual(got["eval_auc"], want["eval_auc"], delta=2e-4)
        self.assertAlmostEqual(got["eval_logloss"], want["eval_logloss"], delta=2e-4)
        self.assertEqual((got["world_size"], want["world_size"]), (2, 1))
        self.assertGreater(want["eval_auc"], 0.52)

    def run_gang_experiment(self, ranks, budget):
        self.start_cluster_server()
        experiment_id = self.create("gang%d" % ranks, ranks, budget, steps=1000, eval_every=250)
        hosts = list(range(1, ranks + 1))
        for host in hosts:
            self.start_worker(host, experiment_id, ["--exit_when_idle"])
        for host in hosts:
            w = self.workers["host%d" % host]
            self.assertEqual(w.wait(300), 0, w.read_log())
        return experiment_id, self.listed("observations", experiment_id)

    def assert_gang_runs(self, ranks, budget, observations):
        self.assertEqual(len(observations), budget, observations)
        for o in observations:
            self.assertFalse(o.get("failed", False), o)
            values = {v["name"]: v["value"] for v in o["values"]}
            self.assertGreater(values["auc"], 0.6, o)  # it learned (0.72-0.74 in one process)
            self.assertEqual(o["metadata"]["world_size"], str(ranks), o)
        # Every worker trained every trial as its rank, meeting at host 1's address.
        for host in range(1, ranks + 1):
            log = self.workers["host%d" % host].read_log(None)
            places = re.findall(r"gang rank (\d+) of (\d+), rendezvous ([\d.]+):(\d+)", log)
            self.assertEqual(len(places), budget, log)
            for rank, world, addr, port in places:
                self.assertEqual(int(world), ranks)
                self.assertIn(addr, [self.network.address(h) for h in range(1, ranks + 1)])
        rank0 = [(h, m) for h in range(1, ranks + 1)
                 for m in re.findall(r"gang rank 0 of \d+, rendezvous ([\d.]+):(\d+)",
                                     self.workers["host%d" % h].read_log(None))]
        for host, (addr, port) in rank0:  # rank 0 serves the rendezvous on its own address
            self.assertEqual(addr, self.network.address(host))
            self.assertEqual(int(port), 29400 + host)
            # The spec's trainer options reach the planner: its plan keeps the 1 MiB budget.
            self.assertIn("of 1.0 MiB budget", self.workers["host%d" % host].read_log(None))

    def test_two_rank_trials_span_two_hosts(self):
        _, observations = self.run_gang_experiment(ranks=2, budget=2)
        self.assert_gang_runs(2, 2, observations)

    def test_three_rank_trials_span_three_hosts(self):
        _, observations = self.run_gang_experiment(ranks=3, budget=1)
        self.assert_gang_runs(3, 1, observations)

    def test_killed_rank_frees_the_gang_and_the_trial_is_retried(self):
        self.start_cluster_server()
        experiment_id = self.create("killed", 2, 1, steps=15000, eval_every=250)
        a = self.start_worker(1, experiment_id, ["--exit_when_idle"])
        b = self.start_worker(2, experiment_id, ["--exit_when_idle"])
        # Kill rank 1 once its trial has a checkpoint on the server (training is under way).
        def training():
            active = [x for x in self.listed("suggestions", experiment_id)
                      if x.get("state") == "SUGGESTION_STATE_ACTIVE"]
            if not active or not self.listed("checkpoints", experiment_id, active[0]["id"]):
                return None
            return next((w for w in (a, b) if "gang rank 1 of 2" in w.read_log(None)), None)
        victim = wait_for(training, 120, "the 2-rank trial to train", interval=0.5)
        victim.stop()
        survivor = a if victim is b else b
        c = self.start_worker(3, experiment_id, ["--exit_when_idle"])
        # The survivor's run fails or is stopped; a new gang (survivor + host 3) retries it.
        for w in (survivor, c):
            self.assertEqual(w.wait(600), 0, w.read_log())
        observations = self.listed("observations", experiment_id)
        self.assertEqual(len(observations), 1, observations)
        self.assertFalse(observations[0].get("failed", False), observations[0])
        suggestions = self.listed("suggestions", experiment_id)
        self.assertEqual(len(suggestions), 1, suggestions)  # retried, not duplicated
        self.assertEqual(int(suggestions[0]["attempts"]), 2, suggestions)
        self.assertIn("gang rank", c.read_log(None))


def main():
    reason = can_make_namespaces()
    if reason:
        print("skipped: " + reason)
        return SKIP
    run_process_tests(sys.modules[__name__], flags=("--server-bin", "--worker-bin", "--cli-bin",
                                                    "--train-bin", "--source-dir"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
