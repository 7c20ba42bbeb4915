#!/usr/bin/env python3
"""Continuous TCP prober for scripts/test-package.sh: connects to each TARGET (host:port) in turn, every
--interval seconds, until --stop-file exists or --max-seconds pass; writes the counts as JSON to --out.

A connect that completes the handshake is a success, a reset is "refused", no answer within --timeout is "timeout".
"""
import argparse, json, os, socket, time

parser = argparse.ArgumentParser()
parser.add_argument("--target", action="append", required=True)
parser.add_argument("--interval", type=float, default=0.05)
parser.add_argument("--timeout", type=float, default=0.5)
parser.add_argument("--max-seconds", type=float, default=600)
parser.add_argument("--stop-file", required=True)
parser.add_argument("--out", required=True)
arguments = parser.parse_args()

counts = {target: {"connected": 0, "refused": 0, "timeout": 0, "error": 0} for target in arguments.target}
first_success = {}
deadline = time.monotonic() + arguments.max_seconds
rounds = 0
while time.monotonic() < deadline and not os.path.exists(arguments.stop_file):
    rounds += 1
    for target in arguments.target:
        host, port = target.rsplit(":", 1)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        connection = socket.socket(family, socket.SOCK_STREAM)
        connection.settimeout(arguments.timeout)
        try:
            connection.connect((host.strip("[]"), int(port)))
            counts[target]["connected"] += 1
            first_success.setdefault(target, time.time())
        except ConnectionRefusedError:
            counts[target]["refused"] += 1
        except socket.timeout:
            counts[target]["timeout"] += 1
        except OSError:
            counts[target]["error"] += 1
        finally:
            connection.close()
    time.sleep(arguments.interval)

with open(arguments.out + ".tmp", "w") as output:
    json.dump({"rounds": rounds, "counts": counts}, output)
os.replace(arguments.out + ".tmp", arguments.out)
