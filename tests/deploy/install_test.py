#!/usr/bin/python3
"""`cmake --install` into a temporary prefix, and the deploy recipes run from there.

    /usr/bin/python3 tests/deploy/install_test.py --build-dir build --source-dir .

Checks: every binary, the dashboard, example specs, units, sysusers.d, Slurm scripts and the
Python package land in their places, and nothing outside a package component; the units name
the installed binaries and pass `systemd-analyze verify`; one hpo user (systemd-sysusers into a
scratch root) runs both units; the server started with the unit's command line and the shipped
/etc/default example (paths under a scratch /var/lib and /etc, loopback addresses) takes the
documented backup command and refuses backups elsewhere; the installed server serves the built
dashboard and the installed CLI and Python package reach it; the Slurm scripts, run from a spool
copy as Slurm does, find the installed hpo-worker (HPO_PREFIX, PATH, $SLURM_SUBMIT_DIR/build/bin),
run real trials, and never evaluate the values they pass.
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import deploy_common as dc
from deploy_common import harness

ARGS = None
BINARIES = ("hpo-server", "hpo-worker", "hpo-cli")
TORCH_BINARIES = ("dlrm-train", "dlrm-datagen")


def python_dir(prefix):
    found = glob.glob(os.path.join(prefix, "lib", "python3*", "dist-packages", "hpo"))
    if len(found) != 1:
        raise AssertionError("expected one installed hpo package, found %s" % found)
    return os.path.dirname(found[0])


class InstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-install-")
        cls.prefix = os.path.join(cls.tmp.name, "prefix")
        dc.run(["cmake", "--install", ARGS.build_dir, "--prefix", cls.prefix])
        cls.bin = os.path.join(cls.prefix, "bin")
        cls.units = os.path.join(cls.prefix, "lib", "systemd", "system")
        with open(os.path.join(ARGS.build_dir, "CMakeCache.txt")) as f:
            cls.with_torch = "HPO_WITH_TORCH:BOOL=ON" in f.read()

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp.name)
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            process.stop()

    def start_server(self, args, name="server"):
        """The installed hpo-server with `args` (plus port files); returns (process, port,
        dashboard port or None)."""
        port_file = os.path.join(self.dir, name + ".port")
        http_file = os.path.join(self.dir, name + ".http_port")
        server = harness.Process([os.path.join(self.bin, "hpo-server")] + args + [
            "--port_file", port_file, "--http_port_file", http_file],
            os.path.join(self.dir, name + ".log"))
        self.processes.append(server)

        def up():
            if server.proc.poll() is not None:
                raise AssertionError("hpo-server exited: " + server.read_log())
            return os.path.exists(port_file)
        harness.wait_for(up, 30, "the installed hpo-server to listen")
        port = int(dc.read(port_file))
        http = int(dc.read(http_file)) if os.path.exists(http_file) else None
        return server, port, http

    def cli(self, address, *args, env=None, check=True):
        cmd = [os.path.join(self.bin, "hpo-cli"), "--server", address] + list(args)
        full = dict(os.environ, **(env or {}))
        full.setdefault("HPO_TOKEN", "")
        result = subprocess.run(cmd, capture_output=True, text=True, env=full, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError("%s: %s" % (args, result.stderr))
        return result

    # ---- layout ------------------------------------------------------------------------------

    def test_everything_lands_in_its_place(self):
        binaries = BINARIES + (TORCH_BINARIES if self.with_torch else ())
        for name in binaries:
            path = os.path.join(self.bin, name)
            self.assertTrue(os.access(path, os.X_OK), path)
        share = os.path.join(self.prefix, "share", "hpo")
        for path in ("dashboard/index.html", "examples/dlrm.yaml", "examples/branin.json",
                     "examples/python/quickstart.py", "examples/python/worker.py",
                     "systemd/hpo-server.env.example", "systemd/hpo-worker.env.example"):
            self.assertTrue(os.path.isfile(os.path.join(share, path)), path)
        for script in ("hpo-workers.sbatch", "hpo-gang.sbatch"):
            self.assertTrue(os.access(os.path.join(share, "slurm", script), os.X_OK), script)
        for unit in ("hpo-server.service", "hpo-worker@.service"):
            self.assertTrue(os.path.isfile(os.path.join(self.units, unit)), unit)
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "lib/sysusers.d/hpo.conf")))
        self.assertTrue(os.path.isfile(os.path.join(self.prefix, "share/doc/hpo/README.md")))
        package = os.path.join(python_dir(self.prefix), "hpo")
        for module in ("__init__.py", "client.py", "worker.py", "errors.py", "spec.py",
                       "v1/experiment_service_pb2_grpc.py", "v1/trial_service_pb2.py"):
            self.assertTrue(os.path.isfile(os.path.join(package, module)), module)
        # Every install rule belongs to a package component.
        stray = os.path.join(self.dir, "unspecified")
        dc.run(["cmake", "--install", ARGS.build_dir, "--prefix", stray, "--component",
                "Unspecified"])
        self.assertEqual([f for _, _, files in os.walk(stray) for f in files], [])

    def test_versions_agree(self):
        with open(os.path.join(ARGS.build_dir, "CMakeCache.txt")) as f:
            version = re.search(r"^CMAKE_PROJECT_VERSION:STATIC=(.*)$", f.read(), re.M).group(1)
        pyproject = dc.read(os.path.join(ARGS.source_dir, "client/python/pyproject.toml"))
        self.assertIn('version = "%s"' % version, pyproject)
        out = dc.run([sys.executable, "-c", "import hpo; print(hpo.__version__, hpo.__file__)"],
                     env=dict(os.environ, PYTHONPATH=python_dir(self.prefix))).stdout.split()
        self.assertEqual(out[0], version)
        self.assertTrue(out[1].startswith(self.prefix), out[1])

    # ---- systemd -----------------------------------------------------------------------------

    def test_units_run_the_installed_binaries_and_verify(self):
        server = dc.unit_settings(os.path.join(self.units, "hpo-server.service"))
        worker = dc.unit_settings(os.path.join(self.units, "hpo-worker@.service"))
        self.assertEqual(server["ExecStart"][0].split()[0], os.path.join(self.bin, "hpo-server"))
        self.assertEqual(worker["ExecStart"][0].split()[0], os.path.join(self.bin, "hpo-worker"))
        for text in (dc.read(os.path.join(self.units, u)) for u in os.listdir(self.units)):
            self.assertNotIn("@HPO_", text)
            self.assertNotIn("/usr/local/bin", text)
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed")
        for unit in ("hpo-server.service", "hpo-worker@.service"):
            result = subprocess.run([analyze, "verify", os.path.join(self.units, unit)],
                                    capture_output=True, text=True)
            self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""), unit)
        # The check is live: a unit whose binary is missing fails it.
        broken = os.path.join(self.dir, "hpo-server.service")
        with open(broken, "w") as f:
            f.write(dc.read(os.path.join(self.units, "hpo-server.service")).replace(
                os.path.join(self.bin, "hpo-server"), os.path.join(self.bin, "no-such-server")))
        self.assertNotEqual(subprocess.run([analyze, "verify", broken],
                                           capture_output=True).returncode, 0)

    def test_one_user_runs_both_units(self):
        server = dc.unit_settings(os.path.join(self.units, "hpo-server.service"))
        worker = dc.unit_settings(os.path.join(self.units, "hpo-worker@.service"))
        self.assertEqual((server["User"], server["Group"]), (["hpo"], ["hpo"]))
        self.assertEqual((worker["User"], worker["Group"]), (["hpo"], ["hpo"]))
        sysusers = shutil.which("systemd-sysusers")
        if sysusers is None:
            self.skipTest("systemd-sysusers is not installed")
        root = os.path.join(self.dir, "root")
        os.makedirs(os.path.join(root, "etc"))
        dc.run([sysusers, "--root", root,
                os.path.join(self.prefix, "lib", "sysusers.d", "hpo.conf")])
        users = [line.split(":") for line in
                 dc.read(os.path.join(root, "etc/passwd")).splitlines()]
        hpo = [u for u in users if u[0] == "hpo"]
        self.assertEqual(len(hpo), 1, users)
        self.assertEqual(hpo[0][5:], ["/var/lib/hpo", "/usr/sbin/nologin"])
        self.assertIn("hpo:", dc.read(os.path.join(root, "etc/group")))
        self.assertIn("hpo", server["StateDirectory"][0].split())

    def test_documented_backup_works_under_the_server_unit(self):
        unit = dc.unit_settings(os.path.join(self.units, "hpo-server.service"))
        # ProtectSystem=strict: the server may write only its state directories.
        self.assertEqual(unit["ProtectSystem"], ["strict"])
        writable = ["/var/lib/" + d for d in unit["StateDirectory"][0].split()]
        environment = dict(e.split("=", 1) for e in unit.get("Environment", []))
        environment.update(dc.env_file(os.path.join(self.prefix,
                                                    "share/hpo/systemd/hpo-server.env.example")))
        command = dc.expand_exec(unit["ExecStart"][0], environment)
        flags = dict(w[2:].split("=", 1) for w in command[1:] if "=" in w)
        self.assertIn(flags["backup_dir"], writable)
        # Every backup command in the docs writes into that directory.
        documented = []
        for doc in ("README.md", "docs/security.md", "docs/cluster.md"):
            documented += re.findall(r"hpo-cli backup (\S+)", dc.read(
                os.path.join(ARGS.source_dir, doc)))
        self.assertTrue(documented)
        for path in documented:
            self.assertTrue(path.startswith(flags["backup_dir"] + "/"), path)

        # The unit's command line with the shipped example settings, in a scratch root.
        root = os.path.join(self.dir, "root")
        certs = harness.make_certs(self.dir)
        os.makedirs(os.path.join(root, "etc/hpo"))
        for name in ("server.pem", "server.key"):
            shutil.copy(certs[name], os.path.join(root, "etc/hpo", name))
        for d in writable:  # what StateDirectory= makes
            os.makedirs(root + d, mode=0o700)

        def local(word):
            word = re.sub(r"0\.0\.0\.0:\d+", "127.0.0.1:0", word)
            return re.sub(r"(=)(/var/lib/|/etc/hpo/)", lambda m: m.group(1) + root + m.group(2),
                          word)
        args = [local(w) for w in command[1:]]
        self.assertIn("--auth", args)
        _, port, http = self.start_server(args)
        address = "localhost:%d" % port
        env = {"HPO_TLS_CA": certs["ca.pem"],
               "HPO_TOKEN": dc.read(root + "/var/lib/hpo/admin.token").strip()}
        target = root + os.path.join(flags["backup_dir"], "hpo-today.db")
        reply = json.loads(self.cli(address, "--json", "backup", target, env=env).stdout)
        self.assertGreater(int(reply["bytes"]), 0)
        self.assertTrue(os.path.isfile(target))
        refused = self.cli(address, "backup", os.path.join(self.dir, "elsewhere.db"), env=env,
                           check=False)
        self.assertIn("PERMISSION_DENIED", refused.stderr)
        status, body = dc.https_get("https://localhost:%d/" % http, ca=certs["ca.pem"])
        self.assertEqual(status, 200)
        self.assertNotIn(dc.NOT_BUILT, body)

    # ---- the installed server, CLI and Python package ----------------------------------------

    def test_installed_server_serves_the_dashboard_to_the_installed_clients(self):
        _, port, http = self.start_server(["--db", os.path.join(self.dir, "hpo.db"), "--listen",
                                           "127.0.0.1:0", "--http_listen", "127.0.0.1:0"])
        address = "127.0.0.1:%d" % port
        spec = os.path.join(self.prefix, "share/hpo/examples/branin.json")
        created = json.loads(self.cli(address, "--json", "create", "-f", spec).stdout)
        experiment_id = int(created["experiment"]["id"])
        status, page = dc.https_get("http://127.0.0.1:%d/" % http)
        self.assertEqual(status, 200)
        self.assertNotIn(dc.NOT_BUILT, page)
        self.assertEqual(page, dc.read(os.path.join(self.prefix, "share/hpo/dashboard/index.html")))
        status, listed = dc.https_get("http://127.0.0.1:%d/api/v1/experiments" % http)
        self.assertEqual(status, 200)
        self.assertIn('"branin"', listed)
        out = dc.run([sys.executable, "-c",
                      "import sys, hpo; e = hpo.Client(sys.argv[1]).get_experiment(int(sys.argv[2]));"
                      " print(e.name, len(e.search_space.parameters))", address,
                      str(experiment_id)],
                     env=dict(os.environ, PYTHONPATH=python_dir(self.prefix), HPO_TOKEN=""))
        self.assertEqual(out.stdout.split(), ["branin", "2"])

    # ---- Slurm -------------------------------------------------------------------------------

    def slurm_job(self, script, env, experiment_id, address):
        """Runs an installed sbatch script as Slurm would: a copy in a spool directory, run with
        the submitter's environment, srun on PATH."""
        spool = os.path.join(self.dir, "spool", "job42")
        os.makedirs(spool, exist_ok=True)
        copy = os.path.join(spool, "slurm_script")
        shutil.copy(os.path.join(self.prefix, "share/hpo/slurm", script), copy)
        full = {"PATH": os.path.join(self.dir, "slurm-bin") + ":/usr/bin:/bin",
                "HOME": self.dir, "TMPDIR": self.dir, "HPO_SERVER": address, "HPO_TOKEN": "",
                "SLURM_JOB_ID": "42"}
        full.update(env)
        return subprocess.run(["bash", copy, str(experiment_id)], cwd=self.dir, env=full,
                              capture_output=True, text=True, timeout=120)

    def test_slurm_scripts_find_the_installed_worker_and_pass_values_as_data(self):
        os.makedirs(os.path.join(self.dir, "slurm-bin"))
        dc.fake_srun(os.path.join(self.dir, "slurm-bin"))
        _, port, _ = self.start_server(["--db", os.path.join(self.dir, "hpo.db"), "--listen",
                                        "127.0.0.1:0", "--http_listen="])
        address = "127.0.0.1:%d" % port
        spec = os.path.join(self.prefix, "share/hpo/examples/branin.json")
        experiment_id = json.loads(self.cli(address, "--json", "create", "-f",
                                            spec).stdout)["experiment"]["id"]
        train = os.path.join(self.dir, "train.sh")
        with open(train, "w") as f:
            f.write("#!/bin/sh\necho HPO_RESULT branin=1.5\n")
        os.chmod(train, 0o755)
        planted = os.path.join(self.dir, "planted")
        flags = "--command=%s --max_trials=1 --name=$(touch${IFS}%s)" % (train, planted)

        # A built checkout the job was submitted from: its build/bin.
        checkout = os.path.join(self.dir, "checkout")
        os.makedirs(os.path.join(checkout, "build", "bin"))
        os.symlink(os.path.join(self.bin, "hpo-worker"),
                   os.path.join(checkout, "build", "bin", "hpo-worker"))
        on_path = os.path.join(self.dir, "slurm-bin") + ":" + self.bin + ":/usr/bin:/bin"
        cases = [
            ("hpo-workers.sbatch", {"HPO_PREFIX": self.prefix}),
            ("hpo-workers.sbatch", {"PATH": on_path}),
            ("hpo-workers.sbatch", {"SLURM_SUBMIT_DIR": checkout}),
            ("hpo-gang.sbatch", {"HPO_PREFIX": self.prefix, "HPO_RENDEZVOUS_BY_ADDRESS": "1"}),
        ]
        for n, (script, env) in enumerate(cases, start=1):
            result = self.slurm_job(script, dict(env, HPO_WORKER_FLAGS=flags), experiment_id,
                                    address)
            self.assertEqual(result.returncode, 0, (script, env, result.stdout + result.stderr))
            observations = self.cli(address, "--json", "observations", str(experiment_id)).stdout
            self.assertEqual(len(json.loads(observations).get("observations", [])), n,
                             (script, env, result.stderr))
            self.assertFalse(os.path.exists(planted), "a value was run as shell code")
        # Nothing to run: the script says where it looked.
        missing = self.slurm_job("hpo-workers.sbatch", {"SLURM_SUBMIT_DIR": self.dir},
                                 experiment_id, address)
        self.assertEqual(missing.returncode, 1)
        self.assertIn("HPO_PREFIX", missing.stderr)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
