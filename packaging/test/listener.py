#!/usr/bin/env python3
"""TCP listener for scripts/test-package.sh: accepts and closes connections on each --port, for --max-seconds."""
import argparse, select, socket, time

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, action="append", required=True)
parser.add_argument("--max-seconds", type=float, default=900)
arguments = parser.parse_args()

listeners = []
for port in arguments.port:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(512)
    listeners.append(listener)
deadline = time.monotonic() + arguments.max_seconds
while time.monotonic() < deadline:
    ready, _, _ = select.select(listeners, [], [], 1.0)
    for listener in ready:
        connection, _ = listener.accept()
        connection.close()
