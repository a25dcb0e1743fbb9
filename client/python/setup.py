"""Builds the hpo package with its hpo.v1 stubs generated from the protos (see pyproject.toml).

The protos are ../../proto of this directory (a checkout of the repository) or $HPO_PROTO_DIR.
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import build_stubs  # noqa: E402


class BuildPyWithStubs(build_py):
    def run(self):
        super().run()
        proto_dir = os.environ.get("HPO_PROTO_DIR") or os.path.join(HERE, "..", "..", "proto")
        if not os.path.isdir(os.path.join(proto_dir, "hpo", "v1")):
            raise SystemExit(f"hpo-client: no protos at {proto_dir}/hpo/v1: build from a "
                             "checkout of the repository or set HPO_PROTO_DIR")
        if not self.dry_run:
            build_stubs.generate(proto_dir, self.build_lib)


setup(cmdclass={"build_py": BuildPyWithStubs})
