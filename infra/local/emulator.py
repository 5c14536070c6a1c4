"""Runs one moto server on 127.0.0.1 with Step Functions execution switched on.

Prints `READY <port>` on stdout once it answers, then serves until SIGINT/SIGTERM or,
with --exit-on-eof, until its standard input closes (so a test run that dies takes it along).
"""

import argparse
import json
import logging
import signal
import sys
import threading
import urllib.request

from moto.server import ThreadedMotoServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--exit-on-eof", action="store_true")
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=args.port, verbose=False)
    server.start()
    port = server._server.server_port  # the port actually bound when 0 was asked
    # Must be set before any state machine is created; there is no environment variable for it.
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/moto-api/config",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()
    print(f"READY {port}", flush=True)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if args.exit_on_eof:
        threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
