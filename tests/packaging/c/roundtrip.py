"""A WebSocket client round trip against the C example's /echo: text and
binary come back unchanged and in order. Usage: roundtrip.py PORT"""
import sys

from websockets.sync.client import connect

port = int(sys.argv[1])
with connect(f"ws://127.0.0.1:{port}/echo", open_timeout=10) as ws:
    sent = ["hello from an installed wsrt", b"\x00\x01\xfe\xff" * 1000, "é✓"]
    for message in sent:
        ws.send(message)
    got = [ws.recv(timeout=10) for _ in sent]
    assert got == sent, f"echo mismatch: {got!r}"
print(f"round trip ok on port {port}")
