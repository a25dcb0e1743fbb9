"""Shared pieces of the deployment tests: systemd unit parsing, installed-server processes, HTTPS
reads and a stand-in for Slurm's srun."""

import os
import re
import shlex
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402,F401  (re-exported: Server, Process, wait_for, make_certs)

NOT_BUILT = "The dashboard front end is not built"


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def unit_settings(path):
    """A unit file's [Service] (and [Unit]) settings: {key: [values in order]}, with continued
    lines joined."""
    text = read(path).replace("\\\n", " ")
    settings = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def env_file(path):
    """VAR=value lines of an EnvironmentFile (no quotes used in ours)."""
    values = {}
    for line in read(path).splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values


def expand_exec(command, environment):
    """systemd's expansion of an Exec line: ${VAR} stays one word, a word that is just $VAR is
    split at white space (systemd.service(5), "Command lines")."""
    words = []
    for word in shlex.split(command):
        plain = re.fullmatch(r"\$([A-Za-z_][A-Za-z0-9_]*)", word)
        if plain:
            words += environment.get(plain.group(1), "").split()
        else:
            words.append(re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}",
                                lambda m: environment.get(m.group(1), ""), word))
    return words


def https_get(url, ca=None, headers=None):
    """(status, body) of a GET; over HTTPS the server is checked against `ca`."""
    context = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")


def fake_srun(directory):
    """A `srun` for one node: drops its options and runs the command as task 0 of job 42."""
    path = os.path.join(directory, "srun")
    with open(path, "w") as f:
        f.write("#!/bin/bash\n"
                "while [ $# -gt 0 ] && [ \"${1#-}\" != \"$1\" ]; do shift; done\n"
                "export SLURM_PROCID=0 SLURM_CPUS_ON_NODE=1 SLURM_JOB_ID=42\n"
                "exec \"$@\"\n")
    os.chmod(path, 0o755)
    return path


def run(cmd, **kwargs):
    """subprocess.run with text output; raises with the output when it fails."""
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    result = subprocess.run(cmd, **kwargs)
    if result.returncode != 0:
        raise AssertionError("%s exited with %d:\n%s%s" % (cmd, result.returncode, result.stdout,
                                                          result.stderr))
    return result
