#!/usr/bin/env python3
"""A stand-in for systemd's notify socket: binds the AF_UNIX datagram socket PATH and appends every
message it receives (newlines shown as '|') as one line to OUTPUT, for at most SECONDS.
usage: notify_listener.py PATH OUTPUT SECONDS"""
import os
import socket
import sys
import time

path, output, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(0.2)
deadline = time.monotonic() + seconds
with open(output, "a", buffering=1) as out:
    print("listening", file=out)
    while time.monotonic() < deadline:
        try:
            data = s.recv(4096)
        except socket.timeout:
            continue
        out.write(data.decode(errors="replace").replace("\n", "|") + "\n")
