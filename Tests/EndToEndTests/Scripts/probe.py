#!/usr/bin/env python3
"""Connects to HOST PORT once (optionally from SOURCE) and prints one line:
   connected <ms> <banner> | refused <ms> | timeout <ms> | error <ms> <errno>"""
import socket
import sys
import time

host, port = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
source = sys.argv[4] if len(sys.argv) > 4 else None
family = socket.AF_INET6 if ":" in host else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM)
s.settimeout(timeout)
if source:
    s.bind((source, 0))
start = time.monotonic()
try:
    s.connect((host, port))
    banner = s.recv(200).decode(errors="replace").strip()
    print(f"connected {(time.monotonic() - start) * 1000:.1f} {banner}")
except ConnectionRefusedError:
    print(f"refused {(time.monotonic() - start) * 1000:.1f}")
except (socket.timeout, TimeoutError):
    print(f"timeout {(time.monotonic() - start) * 1000:.1f}")
except OSError as e:
    print(f"error {(time.monotonic() - start) * 1000:.1f} {e.errno}")
finally:
    s.close()
