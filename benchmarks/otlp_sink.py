"""An OTLP/HTTP endpoint that accepts every export and keeps nothing but counts, run as its own
process by the pipeline benchmark so that the services' tracing is measured with a real export
(the spans built, batched, encoded in protobuf and POSTed) without a collector on the machine.

    python -m benchmarks.otlp_sink PORT_FILE      (writes the port it listens on, then serves;
                                                  on SIGTERM writes "requests bytes" next to it)
"""

from __future__ import annotations

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

counts = {"requests": 0, "bytes": 0}
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        with lock:
            counts["requests"] += 1
            counts["bytes"] += length
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty Export*ServiceResponse: all accepted
        self.end_headers()

    def log_message(self, *_args) -> None:
        pass


def main() -> None:
    port_file = Path(sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    server.daemon_threads = True

    def stop(*_args) -> None:
        port_file.with_suffix(".counts").write_text(f"{counts['requests']} {counts['bytes']}\n")
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    port_file.write_text(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
