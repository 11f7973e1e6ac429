#!/usr/bin/env python3
"""Fails when modules of a Rust crate import each other in a circle.

Usage: import_cycles.py SRC_DIR [SRC_DIR ...]   (each a crate's src/)

Among the modules declared in the same parent (siblings), module A depends
on module B when code anywhere in A's files names a path into B
(`crate::b::…`, `super::b::…`, `use super::{b::…}`). A child naming its
parent is normal (the parent declares it) and is not an edge. A cycle among
siblings — `server` uses `driver`, `driver` uses `pubsub`, `pubsub` uses
`server` — is reported with the lines that make it, and the exit status is 1.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
USE = re.compile(r"\buse\s+(crate|super|self)::(.*?);", re.S)


def module_of(src: Path, file: Path) -> tuple[str, ...]:
    rel = file.relative_to(src).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] in ("lib", "main", "mod"):
        parts.pop()
    return tuple(parts)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def test_code(text: str) -> str:
    # Unit tests (after `#[cfg(test)]`) may use anything.
    return text.split("#[cfg(test)]")[0]


def resolve(module: tuple[str, ...], is_mod_file: bool, prefix: str, rest: list[str]) -> tuple[str, ...]:
    # `super` in a.rs (module a) is a's parent; in a/mod.rs it is the same.
    base: list[str]
    if prefix == "crate":
        base = []
    elif prefix == "self":
        base = list(module)
    else:
        base = list(module[:-1])
        while rest and rest[0] == "super":
            base = base[:-1]
            rest = rest[1:]
    return tuple(base + rest)


def targets(module: tuple[str, ...], is_mod_file: bool, text: str) -> list[tuple[str, ...]]:
    found = []
    for m in PATH.finditer(text):
        segs = [s for s in m.group(2).split("::") if s]
        found.append(resolve(module, is_mod_file, m.group(1), segs))
    for m in USE.finditer(text):
        body = m.group(2).strip()
        head, _, group = body.partition("{")
        head_segs = [s for s in head.split("::") if s.strip()]
        if not group:
            continue
        depth, item, items = 0, "", []
        for ch in group:
            if ch == "{":
                depth += 1
            elif ch == "}":
                if depth == 0:
                    break
                depth -= 1
            if ch == "," and depth == 0:
                items.append(item)
                item = ""
            else:
                item += ch
        items.append(item)
        for it in items:
            first = it.strip().split("::")[0].strip()
            if first and first not in ("self", "*"):
                found.append(resolve(module, is_mod_file, m.group(1), [s.strip() for s in head_segs] + [first]))
    return found


def check(src: Path) -> list[str]:
    files = sorted(src.rglob("*.rs"))
    modules = {module_of(src, f): f for f in files}
    edges: dict[tuple[str, ...], dict[tuple[str, ...], int]] = {}
    for mod, f in modules.items():
        text = test_code(strip_comments(f.read_text()))
        for t in targets(mod, f.name == "mod.rs", text):
            # The sibling pair below the deepest common ancestor.
            k = 0
            while k < min(len(mod), len(t)) and mod[k] == t[k]:
                k += 1
            if k >= len(mod) or k >= len(t):
                continue  # naming an ancestor or a descendant
            a, b = mod[: k + 1], t[: k + 1]
            if b in modules or any(m[: k + 1] == b for m in modules):
                edges.setdefault(a, {}).setdefault(b, 0)
                edges[a][b] += 1
    problems = []
    state: dict[tuple[str, ...], int] = {}
    stack: list[tuple[str, ...]] = []

    def visit(n: tuple[str, ...]) -> None:
        state[n] = 1
        stack.append(n)
        for m in edges.get(n, {}):
            if state.get(m) == 1:
                cycle = stack[stack.index(m):] + [m]
                problems.append(" -> ".join("::".join(c) or "crate" for c in cycle))
            elif m not in state:
                visit(m)
        stack.pop()
        state[n] = 2

    for n in list(edges):
        if n not in state:
            visit(n)
    return problems


def main() -> int:
    bad = 0
    for arg in sys.argv[1:]:
        src = Path(arg)
        for cycle in check(src):
            print(f"{src}: import cycle: {cycle}")
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main())
