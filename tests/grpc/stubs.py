"""Generates Python stubs for ccmux.v1 (and the standard health/reflection services) with
Debian's protoc + grpc_python_plugin into a temp dir, and imports them. Only Debian's
/usr/bin/python3 has python3-grpcio: run the tests with it."""
import os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "plugins", "transport-grpc", "proto")
STD_DIR = os.path.join(HERE, "std")


def generate(out_dir=None):
    out = out_dir or tempfile.mkdtemp(prefix="ccmux-stubs-")
    protos = [os.path.join("ccmux", "v1", f) for f in sorted(os.listdir(os.path.join(PROTO_DIR, "ccmux", "v1")))
              if f.endswith(".proto")]
    std = ["stdsvc/health.proto", "stdsvc/reflection.proto"]  # packages grpc.health.v1, grpc.reflection.v1alpha
    for inc, files in ((PROTO_DIR, protos), (STD_DIR, std)):
        subprocess.run(["protoc", "-I", inc, "--python_out", out, "--grpc_python_out", out,
                        "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin"] + files, check=True)
    sys.path.insert(0, out)
    return out
