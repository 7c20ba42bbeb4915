#!/usr/bin/env python3
"""A minimal SMTP banner server for the end-to-end tests: listens on every given ADDRESS:PORT,
answers each connection with '220 <name> ESMTP' and closes it. Runs until killed."""
import selectors
import socket
import sys

sel = selectors.DefaultSelector()
for spec in sys.argv[1:]:
    host, _, port = spec.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(1024)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, host)
print("ready", flush=True)
while True:
    for key, _ in sel.select():
        try:
            conn, _ = key.fileobj.accept()
            conn.sendall(b"220 " + key.data.encode() + b" ESMTP e2e\r\n")
            conn.close()
        except OSError:
            pass
