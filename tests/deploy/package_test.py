#!/usr/bin/python3
"""The Debian packages, built by the README's install command and used without installing them
on this machine.

    /usr/bin/python3 tests/deploy/package_test.py --build-dir build --source-dir .

Runs the README's "Install" block: `bash deploy/package.sh` as written (on this build tree, into
a scratch dist directory); `apt-get install ./dist/*.deb` as `apt-get install --simulate` (the
dependencies resolve on this Debian, nothing changes); `systemctl enable --now hpo-server` as
`systemd-analyze verify --root` of the unpacked packages. Then checks the packages' names,
versions, dependencies and contents, runs hpo-common's maintainer script into a scratch root
(the hpo user), and runs the unpacked hpo-server (--auth, TLS, dashboard), hpo-cli, python3-hpo
and hpo-worker against each other.
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
import time
import unittest

import deploy_common as dc
from deploy_common import harness

ARGS = None
PACKAGES = ("hpo-common", "hpo-server", "hpo-worker", "hpo-cli", "python3-hpo")


def cache_value(name):
    with open(os.path.join(ARGS.build_dir, "CMakeCache.txt")) as f:
        match = re.search(r"^%s:[A-Z]+=(.*)$" % re.escape(name), f.read(), re.M)
    return match.group(1) if match else ""


def install_commands():
    """The README's Install block, comments dropped."""
    readme = dc.read(os.path.join(ARGS.source_dir, "README.md"))
    start = readme.index("\n## Install\n")
    block = re.search(r"^```sh\n(.*?)^```$", readme[start:], re.M | re.S).group(1)
    return [line.split("#")[0].strip() for line in block.strip().splitlines()]


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-deb-")
        cls.dist = os.path.join(cls.tmp.name, "dist")
        commands = install_commands()
        assert commands[0] == "bash deploy/package.sh", commands
        env = dict(os.environ, HPO_BUILD_DIR=ARGS.build_dir, HPO_DIST_DIR=cls.dist,
                   HPO_JOBS=os.environ.get("HPO_JOBS", "1"),
                   HPO_BUILD_TYPE=cache_value("CMAKE_BUILD_TYPE") or "RelWithDebInfo")
        started = time.monotonic()
        cls.package_output = dc.run(["bash", "-c", commands[0]], cwd=ARGS.source_dir,
                                    env=env).stdout
        print("deploy/package.sh: %.0f s" % (time.monotonic() - started), file=sys.stderr)
        cls.debs = {}
        for deb in glob.glob(os.path.join(cls.dist, "*.deb")):
            cls.debs[dc.run(["dpkg-deb", "-f", deb, "Package"]).stdout.strip()] = deb
        cls.root = os.path.join(cls.tmp.name, "root")
        for deb in cls.debs.values():
            dc.run(["dpkg-deb", "-x", deb, cls.root])
        cls.usr = os.path.join(cls.root, "usr")
        cls.with_torch = cache_value("HPO_WITH_TORCH") == "ON"

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.dir = tempfile.mkdtemp(dir=self.tmp.name)
        self.processes = []

    def tearDown(self):
        for process in self.processes:
            process.stop()

    def field(self, package, name):
        return dc.run(["dpkg-deb", "-f", self.debs[package], name]).stdout.strip()

    def contents(self, package):
        listing = dc.run(["dpkg-deb", "-c", self.debs[package]]).stdout.splitlines()
        return {line.split()[-1].lstrip(".") for line in listing if not line.startswith("d")}

    def test_readme_install_block_is_what_this_test_runs(self):
        self.assertEqual(install_commands(), ["bash deploy/package.sh",
                                              "sudo apt-get install ./dist/*.deb",
                                              "sudo systemctl enable --now hpo-server"])

    def test_packages_names_versions_and_dependencies(self):
        self.assertEqual(sorted(self.debs), sorted(PACKAGES))
        version = cache_value("CMAKE_PROJECT_VERSION")
        for package in PACKAGES:
            self.assertEqual(self.field(package, "Version"), version, package)
        self.assertEqual(self.field("hpo-common", "Architecture"), "all")
        self.assertEqual(self.field("python3-hpo", "Architecture"), "all")
        same = "hpo-common (= %s)" % version
        server = self.field("hpo-server", "Depends")
        for dependency in (same, "libgrpc++1.51", "libsqlite3-0", "libssl3", "libcpp-httplib"):
            self.assertIn(dependency, server)
        worker = self.field("hpo-worker", "Depends")
        self.assertIn(same, worker)
        self.assertIn("libgrpc++1.51", worker)
        if self.with_torch:
            self.assertIn("libtorch1.13", worker)
        self.assertIn("libyaml-cpp0.7", self.field("hpo-cli", "Depends"))
        python = self.field("python3-hpo", "Depends")
        for dependency in ("python3-grpcio", "python3-protobuf"):
            self.assertIn(dependency, python)

    def test_packages_hold_their_files_once(self):
        expected = {
            "hpo-server": ["/usr/bin/hpo-server", "/usr/share/hpo/dashboard/index.html",
                           "/usr/lib/systemd/system/hpo-server.service",
                           "/usr/share/hpo/systemd/hpo-server.env.example"],
            "hpo-worker": ["/usr/bin/hpo-worker", "/usr/lib/systemd/system/hpo-worker@.service",
                           "/usr/share/hpo/slurm/hpo-workers.sbatch",
                           "/usr/share/hpo/slurm/hpo-gang.sbatch"]
                          + (["/usr/bin/dlrm-train", "/usr/bin/dlrm-datagen"]
                             if self.with_torch else []),
            "hpo-cli": ["/usr/bin/hpo-cli", "/usr/share/hpo/examples/dlrm.yaml"],
            "python3-hpo": ["/usr/lib/python3/dist-packages/hpo/__init__.py",
                            "/usr/lib/python3/dist-packages/hpo/v1/trial_service_pb2_grpc.py",
                            "/usr/share/hpo/examples/python/quickstart.py"],
            "hpo-common": ["/usr/lib/sysusers.d/hpo.conf", "/usr/share/doc/hpo/README.md"],
        }
        seen = {}
        for package in PACKAGES:
            files = self.contents(package)
            for path in expected[package]:
                self.assertIn(path, files, package)
            for path in files:
                self.assertNotIn(path, seen, "%s is in %s and %s" % (path, seen.get(path),
                                                                     package))
                seen[path] = package
        self.assertFalse([p for p in seen if "__pycache__" in p])

    def test_dependencies_resolve_on_this_system(self):
        self.assertEqual(install_commands()[1], "sudo apt-get install ./dist/*.deb")
        debs = sorted(self.debs.values())
        result = dc.run(["apt-get", "install", "--simulate"] + debs,
                        env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        for package in PACKAGES:
            self.assertRegex(result.stdout, r"(?m)^(Inst|Conf) %s " % re.escape(package))

    def test_units_verify_in_the_unpacked_root(self):
        self.assertEqual(install_commands()[2], "sudo systemctl enable --now hpo-server")
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            self.skipTest("systemd-analyze is not installed")
        units = os.path.join(self.usr, "lib", "systemd", "system")
        server = dc.unit_settings(os.path.join(units, "hpo-server.service"))
        self.assertTrue(server["ExecStart"][0].startswith("/usr/bin/hpo-server "))
        # The units they depend on (multi-user.target, ...) come from this machine's systemd.
        root = os.path.join(self.dir, "root")
        shutil.copytree(self.root, root, symlinks=True)
        for target in glob.glob("/usr/lib/systemd/system/*.target") + glob.glob(
                "/usr/lib/systemd/system/*.slice"):
            shutil.copy(target, os.path.join(root, "usr/lib/systemd/system"),
                        follow_symlinks=True)
        result = subprocess.run([analyze, "verify", "--root", root, "hpo-server.service",
                                 "hpo-worker@1.service"], capture_output=True, text=True)
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))
        os.remove(os.path.join(root, "usr/bin/hpo-server"))
        self.assertNotEqual(subprocess.run([analyze, "verify", "--root", root,
                                            "hpo-server.service"],
                                           capture_output=True).returncode, 0)

    def test_hpo_common_creates_the_user(self):
        sysusers = shutil.which("systemd-sysusers")
        if sysusers is None:
            self.skipTest("systemd-sysusers is not installed")
        control = os.path.join(self.dir, "control")
        dc.run(["dpkg-deb", "-e", self.debs["hpo-common"], control])
        root = os.path.join(self.dir, "root")
        shutil.copytree(self.root, root, symlinks=True)
        os.makedirs(os.path.join(root, "etc"))
        dc.run(["sh", os.path.join(control, "postinst"), "configure"],
               env=dict(os.environ, DPKG_ROOT=root))
        passwd = dc.read(os.path.join(root, "etc/passwd"))
        self.assertRegex(passwd, r"(?m)^hpo:x:\d+:\d+:[^:]*:/var/lib/hpo:/usr/sbin/nologin$")

    def test_unpacked_server_cli_dashboard_python_and_worker(self):
        bin_dir = os.path.join(self.usr, "bin")
        certs = harness.make_certs(self.dir)
        token_file = os.path.join(self.dir, "admin.token")
        port_file, http_file = os.path.join(self.dir, "port"), os.path.join(self.dir, "http")
        server = harness.Process([os.path.join(bin_dir, "hpo-server"), "--data_dir",
                                  os.path.join(self.dir, "data"), "--listen", "127.0.0.1:0",
                                  "--port_file", port_file, "--http_listen", "127.0.0.1:0",
                                  "--http_port_file", http_file, "--auth",
                                  "--admin_token_file", token_file, "--tls_cert",
                                  certs["server.pem"], "--tls_key", certs["server.key"]],
                                 os.path.join(self.dir, "server.log"))
        self.processes.append(server)
        harness.wait_for(lambda: os.path.exists(http_file) or server.proc.poll() is not None,
                         30, "the unpacked hpo-server to listen")
        self.assertIsNone(server.proc.poll(), server.read_log())
        address = "127.0.0.1:%s" % dc.read(port_file).strip()
        env = dict(os.environ, HPO_SERVER=address, HPO_TLS_CA=certs["ca.pem"],
                   HPO_TOKEN=dc.read(token_file).strip())

        def cli(*args, token=None):
            full = dict(env, HPO_TOKEN=token) if token else env
            return dc.run([os.path.join(bin_dir, "hpo-cli")] + list(args), env=full).stdout

        alice = cli("token-create", "alice", "--role", "user", "--project", "dlrm").split()[-1]
        nodes = cli("token-create", "nodes", "--role", "worker", "--project", "examples"
                    ).split()[-1]
        created = json.loads(cli("--json", "create", "-f",
                                 os.path.join(self.usr, "share/hpo/examples/branin.json")))
        experiment_id = created["experiment"]["id"]

        # The dashboard the package installed, not the page of a server without one.
        status, page = dc.https_get("https://127.0.0.1:%s/" % dc.read(http_file).strip(),
                                    ca=certs["ca.pem"])
        self.assertEqual(status, 200)
        self.assertNotIn(dc.NOT_BUILT, page)
        self.assertEqual(page, dc.read(os.path.join(self.usr, "share/hpo/dashboard/index.html")))

        # python3-hpo, as /usr/bin/python3 would import it, with a user token.
        python_env = dict(env, HPO_TOKEN=alice,
                          PYTHONPATH=os.path.join(self.usr, "lib/python3/dist-packages"))
        out = dc.run(["/usr/bin/python3",
                      os.path.join(self.usr, "share/hpo/examples/python/quickstart.py")],
                     env=python_env, cwd=self.dir).stdout
        self.assertRegex(out, r"^experiment \d+: best loss ")

        # hpo-worker with a worker token runs one trial of the CLI's experiment.
        train = os.path.join(self.dir, "train.sh")
        with open(train, "w") as f:
            f.write("#!/bin/sh\necho HPO_RESULT branin=2.5\n")
        os.chmod(train, 0o755)
        dc.run([os.path.join(bin_dir, "hpo-worker"), "--experiment", experiment_id,
                "--command", train, "--max_trials", "1", "--name", "packaged"],
               env=dict(env, HPO_TOKEN=nodes), timeout=120)
        observations = json.loads(cli("--json", "observations", experiment_id))["observations"]
        self.assertEqual([o["values"][0]["value"] for o in observations], [2.5])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--build-dir", required=True)
    parser.add_argument("--source-dir", required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.build_dir = os.path.abspath(ARGS.build_dir)
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
