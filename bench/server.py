"""A moto server in its own process (so the benchmark measures only the client), with recycler's
emulator additions installed: `python -m bench.server PORT`."""

from __future__ import annotations

import logging
import sys
import time

from moto.server import ThreadedMotoServer

from recycler import emulator

if __name__ == "__main__":
    emulator.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
    server.start()
    while True:
        time.sleep(3600)
