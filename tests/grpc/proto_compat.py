#!/usr/bin/python3
"""The proto is a contract: compares the ccmux.v1 .proto files with the frozen copy of the
last released ones (tests/grpc/frozen/) and fails when a released client could break:

  - a message, enum, service or method removed;
  - a field removed, or its number now carried by another name, type, label or oneof
    (a reused field number);
  - a method's request/response type or streaming changed;
  - an enum value's number reused for another name.

New messages, fields, methods and values are compatible. Uses protoc's descriptor sets and
Debian's python3-protobuf.

  proto_compat.py FROZEN_DIR CURRENT_DIR       exit 0 when compatible, 1 with the reasons
  proto_compat.py --self-test CURRENT_DIR      proves the check fails on each kind of break
"""
import os, re, shutil, subprocess, sys, tempfile

from google.protobuf import descriptor_pb2


def load(proto_root):
    files = sorted(os.path.relpath(os.path.join(d, f), proto_root)
                   for d, _, fs in os.walk(proto_root) for f in fs if f.endswith(".proto"))
    with tempfile.NamedTemporaryFile(suffix=".pb") as out:
        subprocess.run(["protoc", "-I", proto_root, "--include_imports", "--descriptor_set_out", out.name] + files, check=True)
        fds = descriptor_pb2.FileDescriptorSet.FromString(open(out.name, "rb").read())
    messages, enums, services = {}, {}, {}

    def walk(prefix, msgs, ens):
        for m in msgs:
            name = prefix + "." + m.name
            messages[name] = m
            walk(name, m.nested_type, m.enum_type)
        for e in ens:
            enums[prefix + "." + e.name] = e

    for f in fds.file:
        walk(f.package, f.message_type, f.enum_type)
        for s in f.service:
            services[f.package + "." + s.name] = s
    return messages, enums, services


def field_sig(m, f):
    oneof = m.oneof_decl[f.oneof_index].name if f.HasField("oneof_index") else ""
    return (f.name, f.type, f.type_name, f.label, oneof)


def compare(frozen_root, current_root):
    fm, fe, fs = load(frozen_root)
    cm, ce, cs = load(current_root)
    problems = []
    for name, m in fm.items():
        if name not in cm:
            problems.append("message %s removed" % name)
            continue
        now = {f.number: f for f in cm[name].field}
        for f in m.field:
            g = now.get(f.number)
            if g is None:
                problems.append("%s: field %s = %d removed" % (name, f.name, f.number))
            elif field_sig(m, f) != field_sig(cm[name], g):
                problems.append("%s: field number %d reused or changed (%s -> %s)" %
                                (name, f.number, field_sig(m, f), field_sig(cm[name], g)))
    for name, e in fe.items():
        if name not in ce:
            problems.append("enum %s removed" % name)
            continue
        now = {v.number: v.name for v in ce[name].value}
        for v in e.value:
            if now.get(v.number) != v.name:
                problems.append("%s: value %s = %d removed or reused" % (name, v.name, v.number))
    for name, s in fs.items():
        if name not in cs:
            problems.append("service %s removed" % name)
            continue
        now = {x.name: x for x in cs[name].method}
        for meth in s.method:
            n = now.get(meth.name)
            if n is None:
                problems.append("%s: method %s removed" % (name, meth.name))
            elif (meth.input_type, meth.output_type, meth.client_streaming, meth.server_streaming) != \
                    (n.input_type, n.output_type, n.client_streaming, n.server_streaming):
                problems.append("%s: method %s changed its types or streaming" % (name, meth.name))
    return problems


# Each break the check must catch: (what, file, pattern, replacement).
BREAKS = [
    ("a reused field number", "ccmux/v1/common.proto", r"string reason = 3;", "string why = 3;"),
    ("a field's type changed", "ccmux/v1/common.proto", r"int64 turns = 14;", "string turns = 14;"),
    ("a removed field", "ccmux/v1/common.proto", r"\n  string cwd = 4;", ""),
    ("a removed method", "ccmux/v1/sessions.proto", r"\n  rpc Stop\(SessionRef\) returns \(StopResponse\);", ""),
    ("a method no longer streaming", "ccmux/v1/events.proto", r"returns \(stream SubscribeUpdate\)", "returns (SubscribeUpdate)"),
    ("a removed message", "ccmux/v1/machine.proto", r"message MethodsRequest \{\}", ""),
]


def self_test(current_root):
    failures = 0
    for what, rel, pattern, repl in BREAKS:
        tmp = tempfile.mkdtemp(prefix="ccmux-proto-break-")
        try:
            shutil.copytree(current_root, tmp, dirs_exist_ok=True)
            path = os.path.join(tmp, rel)
            text = open(path).read()
            broken, n = re.subn(pattern, repl, text, count=1)
            if n != 1:
                print("SELF-TEST SETUP: pattern for %s not found in %s" % (what, rel))
                failures += 1
                continue
            if what == "a removed message":  # keep the file compiling: drop the rpc using it too
                broken = re.sub(r"\n  rpc Methods\(MethodsRequest\) returns \(MethodsResponse\);", "", broken)
            open(path, "w").write(broken)
            problems = compare(current_root, tmp)
            if problems:
                print("caught %s: %s" % (what, problems[0]))
            else:
                print("NOT CAUGHT: %s" % what)
                failures += 1
        finally:
            shutil.rmtree(tmp)
    if compare(current_root, current_root):
        print("the current proto is not compatible with itself")
        failures += 1
    return failures


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--self-test":
        sys.exit(1 if self_test(sys.argv[2]) else 0)
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    problems = compare(sys.argv[1], sys.argv[2])
    for p in problems:
        print("INCOMPATIBLE: " + p)
    if problems:
        print("The released ccmux.v1 API (tests/grpc/frozen) must keep working: add fields and methods, never "
              "remove or renumber them. A deliberate break needs ccmux.v2.")
        sys.exit(1)
    print("ccmux.v1 is compatible with the frozen copy (%s)" % sys.argv[1])


if __name__ == "__main__":
    main()
