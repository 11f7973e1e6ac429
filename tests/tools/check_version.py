#!/usr/bin/env python3
"""One version for every package: the root Cargo.toml's
`[workspace.package] version` is the source; every copy that a tool needs
written out must equal it.

    check_version.py            report every copy; exit 1 on any drift
    check_version.py --set X.Y.Z   write X.Y.Z into the source and every copy
                                   (then run `make header` for wsrt.h)

Copies: the two binding crates (their own cargo workspaces) and their
Cargo.lock entries, the npm package.json and the package-lock.json files
that link it, WSRT_VERSION in include/wsrt.h. Derived, so not copies: the
ffi and core crates (version.workspace), pyproject.toml (`dynamic`, from
bindings-python/Cargo.toml), wsrt.__version__ and wsrt_version()
(CARGO_PKG_VERSION), wsrt.pc and the tarball names (the Makefile reads the
root Cargo.toml).
"""
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$")


def toml_section_version(path, section):
    """The `version = "..."` line of one [section] of a TOML file."""
    text = path.read_text()
    m = re.search(rf"^\[{re.escape(section)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    if not m:
        raise SystemExit(f"{path}: no [{section}] section")
    v = re.search(r'^version = "([^"]*)"', m.group(1), re.M)
    return v.group(1) if v else None


def lock_versions(path, names):
    text = path.read_text()
    out = {}
    for name in names:
        m = re.search(rf'^name = "{re.escape(name)}"\nversion = "([^"]*)"', text, re.M)
        out[name] = m.group(1) if m else None
    return out


def copies():
    """(description, found version) for every copy."""
    found = []
    for crate in ("bindings-python", "bindings-node"):
        found.append((f"{crate}/Cargo.toml", toml_section_version(ROOT / crate / "Cargo.toml", "package")))
        own = "wsrt-python" if crate == "bindings-python" else "wsrt-node"
        for name, v in lock_versions(ROOT / crate / "Cargo.lock", ["wsrt", "wsrt-proto", own]).items():
            found.append((f"{crate}/Cargo.lock ({name})", v))
    for name, v in lock_versions(ROOT / "Cargo.lock", ["wsrt", "wsrt-proto", "wsrt-ffi"]).items():
        found.append((f"Cargo.lock ({name})", v))
    found.append(("bindings-node/package.json", json.loads((ROOT / "bindings-node/package.json").read_text()).get("version")))
    for lock in sorted(ROOT.glob("*/*/package-lock.json")):
        data = json.loads(lock.read_text())
        for key, entry in data.get("packages", {}).items():
            if key.endswith("bindings-node") and entry.get("name") == "wsrt":
                found.append((f"{lock.relative_to(ROOT)} ({key})", entry.get("version")))
    header = (ROOT / "include/wsrt.h").read_text()
    m = re.search(r'^#define WSRT_VERSION "([^"]*)"', header, re.M)
    found.append(("include/wsrt.h WSRT_VERSION", m.group(1) if m else None))
    return found


def check():
    source = toml_section_version(ROOT / "Cargo.toml", "workspace.package")
    if not source or not SEMVER.match(source):
        print(f"Cargo.toml: [workspace.package] version {source!r} is not a semantic version")
        return 1
    pyproject = (ROOT / "bindings-python/pyproject.toml").read_text()
    bad = []
    if not re.search(r'^dynamic = \[[^\]]*"version"', pyproject, re.M) or re.search(r"^version\s*=", pyproject, re.M):
        bad.append(("bindings-python/pyproject.toml", "a literal version (it must be dynamic)"))
    bad += [(where, v) for where, v in copies() if v != source]
    if bad:
        print(f"version drift: the workspace version is {source}; run `make set-version VERSION={source}`")
        for where, v in bad:
            print(f"  {where}: {v}")
        return 1
    print(f"version {source}: every copy agrees")
    return 0


def set_version(new):
    if not SEMVER.match(new):
        raise SystemExit(f"{new!r} is not a semantic version (X.Y.Z)")

    def sub(path, pattern, flags=re.M):
        text = path.read_text()
        updated, n = re.subn(pattern, lambda m: m.group(1) + new + m.group(2), text, flags=flags)
        if n == 0:
            raise SystemExit(f"{path}: nothing to update for {pattern}")
        path.write_text(updated)

    sub(ROOT / "Cargo.toml", r'(\[workspace\.package\]\n(?:[^\[]*?\n)?version = ")[^"]*(")', re.S)
    for crate, own in (("bindings-python", "wsrt-python"), ("bindings-node", "wsrt-node")):
        sub(ROOT / crate / "Cargo.toml", r'(\[package\]\n(?:[^\[]*?\n)?version = ")[^"]*(")', re.S)
        for name in ("wsrt", "wsrt-proto", own):
            sub(ROOT / crate / "Cargo.lock", rf'(^name = "{name}"\nversion = ")[^"]*(")')
    for name in ("wsrt", "wsrt-proto", "wsrt-ffi", "wsrt-loadgen"):
        sub(ROOT / "Cargo.lock", rf'(^name = "{name}"\nversion = ")[^"]*(")')
    pkg = ROOT / "bindings-node/package.json"
    data = json.loads(pkg.read_text())
    data["version"] = new
    pkg.write_text(json.dumps(data, indent=2) + "\n")
    for lock in sorted(ROOT.glob("*/*/package-lock.json")):
        data = json.loads(lock.read_text())
        touched = False
        for key, entry in data.get("packages", {}).items():
            if key.endswith("bindings-node") and entry.get("name") == "wsrt":
                entry["version"] = new
                touched = True
        if touched:
            lock.write_text(json.dumps(data, indent=2) + "\n")
    print(f"version set to {new}; now run `make header` (WSRT_VERSION) and check with `make check-version`")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--set":
        set_version(sys.argv[2])
    elif len(sys.argv) == 1:
        sys.exit(check())
    else:
        raise SystemExit(__doc__)
