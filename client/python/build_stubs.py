#!/usr/bin/python3
"""Generates the Python protobuf and gRPC stubs of proto/hpo/v1/*.proto (the `hpo.v1` package).

    /usr/bin/python3 client/python/build_stubs.py PROTO_DIR OUT_DIR

Used by setup.py (pip install) and by the CMake build (build/python). Runs Debian's protoc
(protobuf-compiler, 3.21) with /usr/bin/grpc_python_plugin (protobuf-compiler-grpc): the protoc
inside Debian's python3-grpc-tools is 3.5 and refuses proto3 `optional` fields. PROTOC and
GRPC_PYTHON_PLUGIN in the environment name other programs.
"""

import os
import shutil
import subprocess
import sys


def find_tools():
    protoc = os.environ.get("PROTOC") or shutil.which("protoc") or "/usr/bin/protoc"
    plugin = os.environ.get("GRPC_PYTHON_PLUGIN") or "/usr/bin/grpc_python_plugin"
    for tool, package in ((protoc, "protobuf-compiler"), (plugin, "protobuf-compiler-grpc")):
        if not os.access(tool, os.X_OK):
            raise RuntimeError(f"{tool} not found: install the Debian package {package}")
    return protoc, plugin


def generate(proto_dir, out_dir):
    """Writes out_dir/hpo/v1/*_pb2.py and *_pb2_grpc.py; returns the written paths."""
    source = os.path.join(proto_dir, "hpo", "v1")
    protos = sorted(f"hpo/v1/{name}" for name in os.listdir(source) if name.endswith(".proto"))
    if not protos:
        raise RuntimeError(f"no .proto files in {source}")
    protoc, plugin = find_tools()
    os.makedirs(out_dir, exist_ok=True)
    # An argument list, never a shell line: paths may hold any character.
    subprocess.run([protoc, "-I", proto_dir, f"--python_out={out_dir}", f"--grpc_out={out_dir}",
                    f"--plugin=protoc-gen-grpc={plugin}"] + protos, check=True)
    package = os.path.join(out_dir, "hpo", "v1")
    init = os.path.join(package, "__init__.py")
    with open(init, "w") as f:
        f.write('"""Generated from proto/hpo/v1 by build_stubs.py."""\n')
    written = [init]
    for proto in protos:
        stem = os.path.basename(proto)[:-len(".proto")]
        written += [os.path.join(package, stem + "_pb2.py"),
                    os.path.join(package, stem + "_pb2_grpc.py")]
    return written


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        generate(argv[0], argv[1])
    except (RuntimeError, subprocess.CalledProcessError) as error:
        print(f"build_stubs: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
