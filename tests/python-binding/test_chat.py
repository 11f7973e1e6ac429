"""examples/python/chat.py, run as a process (blocking serve_forever mode)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from conftest import HOST, ROOT, STOP_TIMEOUT, free_port, run, w, ws_connect
from websockets.exceptions import InvalidStatus


@pytest.fixture
def chat(tmp_path):  # type: ignore[no-untyped-def]
    port = free_port()
    log = open(tmp_path / "chat.stderr", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples/python/chat.py")],
                            env=dict(os.environ, PORT=str(port)), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, (tmp_path / "chat.stderr").read_text()
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "chat.py not listening"
            time.sleep(0.05)
    yield f"ws://{HOST}:{port}"
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(STOP_TIMEOUT) == 0, (tmp_path / "chat.stderr").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()


def test_room_broadcast_and_refusals(chat: str) -> None:
    async def go() -> None:
        async with ws_connect(f"{chat}/chat?room=r1&name=ann") as ann:
            assert await w(ann.recv()) == "* ann joined r1 (1 here)"
            async with ws_connect(f"{chat}/chat?room=r1&name=bob") as bob, \
                    ws_connect(f"{chat}/chat?room=r2&name=cy") as cy:
                assert await w(bob.recv()) == "* bob joined r1 (2 here)"
                assert await w(ann.recv()) == "* bob joined r1 (2 here)"
                assert await w(cy.recv()) == "* cy joined r2 (1 here)"
                await bob.send("hello room")
                assert await w(ann.recv()) == "bob: hello room"
                assert await w(bob.recv()) == "bob: hello room"
                for url, status in ((f"{chat}/chat?room=r1&name=ann", 409), (f"{chat}/chat?room=r1", 400)):
                    with pytest.raises(InvalidStatus) as e:
                        await ws_connect(url)
                    assert e.value.response.status_code == status
                await cy.send("only r2 hears this")
                assert await w(cy.recv()) == "cy: only r2 hears this"
            assert await w(ann.recv()) == "* bob left"

    run(go())
