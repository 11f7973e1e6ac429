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
    assert runtime <= stubs[""] | {"__version__"}, runtime - stubs[""]
    native = {n for n in dir(_wsrt.Core) if not n.startswith("__")}
    assert native == stubs["Core"], native ^ stubs["Core"]
    # The enums are the core's numbering; the stubs spell it out.
    for enum in ("EventType", "ConnState"):
        assert {m.name: m.value for m in getattr(_wsrt, enum)} == stub_values(enum), enum


def stub_values(cls: str) -> dict[str, int]:
    tree = ast.parse(Path(_wsrt.__file__).with_name("_wsrt.pyi").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    return {a.targets[0].id: a.value.value for a in node.body  # type: ignore[attr-defined]
            if isinstance(a, ast.Assign)}


def test_public_api_is_documented() -> None:
    for name in wsrt.__all__:
        obj = getattr(wsrt, name)
        if inspect.isclass(obj):
            assert obj.__doc__, name
    for cls in (wsrt.WebSocket, wsrt.SseStream):
        for name in ("send", "close", "terminate", "drained", "buffered_amount", "state", "path", "headers",
                     "remote_address", "data", "subscribe"):
            assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name}"
    for cls, names in ((wsrt.Socket, ("emit", "call", "join", "leave", "rooms", "broadcast", "disconnect", "request",
                                      "sid", "namespace", "auth", "recovered")),
                       (wsrt.Namespace, ("emit", "on", "on_connect", "on_disconnect", "approve")),
                       (wsrt.SocketIO, ("of",))):
        for name in names:
            assert inspect.getdoc(getattr(cls, name)), f"{cls.__name__}.{name}"
    for name in ("websocket", "sse", "static", "engineio", "socketio", "start", "close", "serve", "serve_forever", "stop", "publish",
                 "set_topic_history", "clear_topic_history"):
        assert getattr(wsrt.Server, name).__doc__, f"Server.{name}"
    # One exception per error kind of the core, wsrt's own deriving from WsrtError.
    for cls in (wsrt.ConnectionClosedError, wsrt.BackpressureError, wsrt.InvalidStateError, wsrt.ServerStoppedError):
        assert issubclass(cls, wsrt.WsrtError)
    assert issubclass(wsrt.UnknownConnectionError, wsrt.ConnectionClosedError)
    assert [m.value for m in wsrt.ConnState] == [0, 1, 2, 3]
    assert [m.value for m in wsrt.EventType] == list(range(1, 12))
