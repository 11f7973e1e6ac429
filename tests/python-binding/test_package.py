"""The installed package: typed (py.typed, stubs that match the native
module), documented, and the public names in place."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import wsrt
from wsrt import _wsrt


def stub_members() -> dict[str, set[str]]:
    path = Path(_wsrt.__file__).with_name("_wsrt.pyi")
    tree = ast.parse(path.read_text())
    out: dict[str, set[str]] = {"": set()}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            out[node.name] = {n.name for n in node.body
                              if isinstance(n, ast.FunctionDef) and not n.name.startswith("__")}
            out[""].add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[""].add(node.target.id)
        elif isinstance(node, ast.Assign):
            out[""].update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def test_typed_package_files() -> None:
    pkg = Path(wsrt.__file__).parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_wsrt.pyi").is_file()


def test_stubs_match_native_module() -> None:
    stubs = stub_members()
    runtime = {n for n in dir(_wsrt) if not n.startswith("__") or n == "__version__"}
    assert runtime - {"BytesLike"} <= stubs[""] | {"__version__"}, runtime - stubs[""]
    for cls in ("WebSocket", "SseStream", "Core"):
        native = {n for n in dir(getattr(_wsrt, cls)) if not n.startswith("__")}
        assert native == stubs[cls], (cls, native ^ stubs[cls])


def test_public_api_is_documented() -> None:
    for name in wsrt.__all__:
        obj = getattr(wsrt, name)
        if inspect.isclass(obj):
            assert obj.__doc__, name
    for cls in (wsrt.WebSocket, wsrt.SseStream):
        for name in ("send", "close", "drained", "buffered_amount", "path", "headers"):
            assert getattr(cls, name).__doc__, f"{cls.__name__}.{name}"
    for name in ("websocket", "sse", "static", "start", "shutdown", "serve", "serve_forever", "stop"):
        assert getattr(wsrt.Server, name).__doc__, f"Server.{name}"
    assert issubclass(wsrt.ConnectionClosedError, wsrt.WsrtError)
    assert issubclass(wsrt.BackpressureError, wsrt.WsrtError)
