#!/usr/bin/env python3
"""Every ccmux/ccmuxd command line the README shows exists: each subcommand (and sub-subcommand)
answers --help, and each --flag it shows is in that --help. The packages ship --help, not man
pages, so --help has to match the README.

usage: readme_help.py README CCMUX CCMUXD
"""
import os, re, subprocess, sys

readme, ccmux, ccmuxd = sys.argv[1:4]
text = open(readme, encoding="utf-8").read()

# Command lines: lines of ``` blocks and `inline` spans that start with "ccmux " or "ccmuxd ".
lines = []
in_block = False
for line in text.splitlines():
    if line.startswith("```"):
        in_block = not in_block
        continue
    if in_block and re.match(r"\s*ccmuxd? ", line):
        lines.append(line.strip())
lines += [m for m in re.findall(r"`(ccmuxd? [^`]+)`", text)]

help_cache = {}
def help_of(binary, path):
    key = (binary, tuple(path))
    if key not in help_cache:
        r = subprocess.run([binary, *path, "--help"], capture_output=True, text=True, timeout=30)
        help_cache[key] = r.stdout if r.returncode == 0 else None
    return help_cache[key]

def subcommands(binary, path):
    h = help_of(binary, path) or ""
    part = h.split("Subcommands:", 1)
    return set(re.findall(r"^  (\S+)", part[1], re.M)) if len(part) == 2 else set()

def words(segment):
    segment = re.sub(r"'[^']*'|\"[^\"]*\"", "ARG", segment)  # quoted arguments are values
    return segment.split()

problems = []
checked = 0
for line in lines:
    line = re.split(r"\s#\s", line)[0]          # a trailing comment
    line = re.split(r"\s[>]\s", line)[0]        # a redirection
    segments = re.split(r"\s\|\s", line)        # "a | b": alternatives
    parent = None
    for seg in segments:
        w = words(seg)
        if not w:
            continue
        checked_seg = seg
        if w[0] in ("ccmux", "ccmuxd"):
            binary, w, base = (ccmux if w[0] == "ccmux" else ccmuxd), w[1:], []
            # global options before the subcommand ("ccmux --host NAME ls"): in the top-level --help
            while w and w[0].startswith("--"):
                checked += 1
                if not re.search(r"(^|[\s,])" + re.escape(w[0]) + r"\b", help_of(binary, []) or "", re.M):
                    problems.append(f"{line}: {w[0]} is not in `{os.path.basename(binary)} --help`")
                checked_seg = checked_seg.replace(w[0], "", 1)
                w = w[1:]
                if w and not w[0].startswith("-") and w[0] not in subcommands(binary, []):
                    w = w[1:]  # the option's value
        elif parent is not None:
            binary, base = parent                 # "token create x | list": list is token's
        else:
            continue
        # the subcommand path: words that are subcommands ("interrupt|stop": either)
        path = list(base)
        for word in w:
            names = [n for n in word.split("|") if n in subcommands(binary, path)]
            if not names or word.startswith("-"):
                break
            path.append(names[0])
            for alt in word.split("|")[1:]:
                if alt not in subcommands(binary, path[:-1]):
                    problems.append(f"{line}: '{alt}' is not a subcommand of {' '.join(path[:-1]) or 'the top level'}")
        if (binary == ccmux and not path) or len(path) == len(base) and base:
            problems.append(f"{line}: no ccmux subcommand {' '.join(base + w[:1])}")
            continue
        parent = (binary, path[:-1])
        h = help_of(binary, path)
        shown = " ".join(["ccmux" if binary == ccmux else "ccmuxd", *path])
        if h is None:
            problems.append(f"{line}: `{shown} --help` fails")
            continue
        for flag in re.findall(r"--[a-z][a-z0-9-]*", checked_seg):
            checked += 1
            if not re.search(r"(^|[\s,])" + re.escape(flag) + r"\b", h, re.M):
                problems.append(f"{line}: {flag} is not in `{shown} --help`")

if problems:
    print("README and --help disagree:\n  " + "\n  ".join(problems))
    sys.exit(1)
print(f"{len(lines)} README command lines, {checked} flags: all in --help")
