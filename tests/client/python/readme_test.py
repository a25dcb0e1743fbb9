#!/usr/bin/python3
"""The Python SDK's documentation, run: README.md ("Python SDK"), docs/python.md and
client/python/README.md, against a real hpo-server with --auth and TLS.

    /usr/bin/python3 tests/client/python/readme_test.py --server-bin build/bin/hpo-server \
        --cli-bin build/bin/hpo-cli --source-dir .

The README's install command runs as written (a virtual environment under a scratch HOME, pip
offline with Debian's setuptools) in a scratch copy of the checkout; its Python blocks must be
the example files verbatim; its shell block runs with the server, CA and tokens in place of the
placeholders of its `export` line; docs/python.md's Python blocks run in order as one program.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def blocks(text, language):
    """The fenced code blocks of `language`, in order."""
    return re.findall(r"^```%s\n(.*?)^```$" % language, text, re.M | re.S)


def section(text, title):
    start = text.index("\n## %s\n" % title)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


class ReadmeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(ARGS.source_dir, "tests", "integration"))
        import harness
        cls.tmp = tempfile.TemporaryDirectory(prefix="hpo-readme-")
        d = cls.tmp.name
        certs = harness.make_certs(d)
        token_file = os.path.join(d, "admin.token")
        cls.server = harness.Server(ARGS.server_bin, os.path.join(d, "hpo.db"), d, [
            "--auth", "--admin_token_file", token_file, "--tls_cert", certs["server.pem"],
            "--tls_key", certs["server.key"], "--http_listen="])
        cls.server.start()
        cls.env = {"HPO_SERVER": cls.server.address, "HPO_TLS_CA": certs["ca.pem"]}
        admin = read(token_file).strip()
        cls.alice = cls.cli(admin, "token-create", "alice", "--role", "user", "--project", "dlrm")
        cls.nodes = cls.cli(admin, "token-create", "nodes", "--role", "worker", "--project",
                            "dlrm")
        # A scratch checkout: pip builds in the source tree it is given.
        cls.checkout = os.path.join(d, "checkout")
        ignore = shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        for part in ("client/python", "proto", "deploy/examples"):
            shutil.copytree(os.path.join(ARGS.source_dir, part),
                            os.path.join(cls.checkout, part), ignore=ignore)
        cls.home = os.path.join(d, "home")
        os.mkdir(cls.home)
        cls.readme = section(read(os.path.join(ARGS.source_dir, "README.md")), "Python SDK")

    @classmethod
    def tearDownClass(cls):
        cls.server.terminate()
        cls.tmp.cleanup()

    @classmethod
    def cli(cls, token, *args):
        result = subprocess.run([ARGS.cli_bin] + list(args), capture_output=True, text=True,
                                env=dict(os.environ, HPO_TOKEN=token, **cls.env), check=True)
        return result.stdout.strip().splitlines()[-1]

    def bash(self, script, env=None):
        """Runs `script` with bash -e in the scratch checkout; Debian's python3 first on PATH
        unless `env` says otherwise."""
        full = {"HOME": self.home, "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
        full.update(env or {})
        result = subprocess.run(["bash", "-e", "-c", script], cwd=self.checkout, env=full,
                                capture_output=True, text=True, timeout=300)
        self.assertEqual(result.returncode, 0, script + "\n" + result.stdout + result.stderr)
        return result.stdout

    def install(self):
        """The README's install command (the second line; the first installs the Debian package,
        which deb_package_test covers), once."""
        lines = blocks(self.readme, "sh")[0].strip().splitlines()
        self.assertTrue(lines[0].startswith("sudo apt-get install ./dist/python3-hpo_"), lines)
        command = lines[1]
        self.assertIn("pip install --no-build-isolation --no-index client/python", command)
        venv = os.path.join(self.home, "hpo-env", "bin")
        if not os.path.exists(os.path.join(venv, "python3")):
            self.bash(command)
        return command, venv

    def test_install_command_is_the_same_everywhere_and_installs_the_package(self):
        command, venv = self.install()
        docs = read(os.path.join(ARGS.source_dir, "docs/python.md"))
        package_readme = read(os.path.join(ARGS.source_dir, "client/python/README.md"))
        self.assertIn(command, blocks(docs, "sh")[0].splitlines())
        self.assertIn(command, blocks(package_readme, "sh")[0].splitlines())
        where = self.bash("python3 -c 'import hpo, hpo.v1.trial_service_pb2_grpc; "
                          "print(hpo.__version__, hpo.__file__)'",
                          {"PATH": venv + ":/usr/bin:/bin"}).split()
        self.assertTrue(where[1].startswith(os.path.join(self.home, "hpo-env")), where)

    def test_readme_python_blocks_are_the_example_files(self):
        code = blocks(self.readme, "python")
        self.assertEqual(len(code), 2)
        examples = os.path.join(ARGS.source_dir, "client", "python", "examples")
        self.assertEqual(code[0], read(os.path.join(examples, "quickstart.py")))
        self.assertEqual(code[1], read(os.path.join(examples, "worker.py")))

    def test_readme_commands_run_against_a_secure_server(self):
        _, venv = self.install()
        script = blocks(self.readme, "sh")[1].strip().splitlines()
        # The placeholders of the first line: this server, its CA and alice's token.
        self.assertTrue(script[0].startswith("export HPO_SERVER="), script[0])
        for name in ("HPO_SERVER", "HPO_TLS_CA", "HPO_TOKEN"):
            self.assertIn(name + "=", script[0])
        env = dict(self.env, HPO_TOKEN=self.alice, ALICE_TOKEN=self.alice,
                   WORKER_TOKEN=self.nodes,
                   PATH=":".join([venv, os.path.dirname(ARGS.cli_bin), "/usr/bin", "/bin"]))
        out = self.bash("\n".join(script[1:]), env).splitlines()
        self.assertRegex(out[0], r"^experiment \d+: best loss \d\.\d{4} at \{'x': ")
        stats = eval(out[-1], {})  # the worker's counts, a dict literal
        self.assertEqual(stats["failed"], 0)
        self.assertEqual(stats["completed"] + stats["pruned"], 12)
        self.assertGreater(stats["pruned"], 0)
        listed = subprocess.run([ARGS.cli_bin, "--json", "list"], capture_output=True,
                                text=True, check=True,
                                env=dict(os.environ, HPO_TOKEN=self.alice, **self.env)).stdout
        states = {e["name"]: e["state"] for e in json.loads(listed)["experiments"]}
        self.assertEqual(states["python-worker-lr"], "EXPERIMENT_STATE_COMPLETED")

    def test_docs_python_blocks_run_as_one_program(self):
        _, venv = self.install()
        docs = read(os.path.join(ARGS.source_dir, "docs/python.md"))
        program = "\n".join(blocks(docs, "python"))
        path = os.path.join(self.tmp.name, "docs_python.py")
        with open(path, "w") as f:
            f.write(program)
        env = dict(self.env, HPO_TOKEN=self.alice, WORKER_TOKEN=self.nodes,
                   PATH=venv + ":/usr/bin:/bin")
        out = self.bash("python3 " + path, env)
        self.assertIn("tls=True, token=set", out)
        self.assertIn("ALREADY_EXISTS", out)
        self.assertIn("{'completed': 2, 'pruned': 0, 'failed': 0}", out)
        self.assertIn("2 observations", out)  # one observed, one failed


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--server-bin", "--cli-bin", "--source-dir"):
        parser.add_argument(flag, required=True)
    ARGS, rest = parser.parse_known_args()
    ARGS.source_dir = os.path.abspath(ARGS.source_dir)
    ARGS.server_bin, ARGS.cli_bin = map(os.path.abspath, (ARGS.server_bin, ARGS.cli_bin))
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)
