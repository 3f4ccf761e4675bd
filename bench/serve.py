"""Serve our verifier or the floor (bench/bare_app.py) with exactly the same gunicorn settings.

    python bench/serve.py ours|bare BIND WORKERS THREADS WORKER_CLASS
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from flask import Flask

from bench.bare_app import create_bare_app
from verifier.web.serve import VerifierServer


class BareServer(VerifierServer):
    def load(self) -> Flask:
        return create_bare_app(Path(str(self.app_config["HOME"])))


def main() -> None:
    app, bind, workers, threads, worker_class = sys.argv[1:6]
    options = {"bind": bind, "workers": int(workers), "threads": int(threads), "worker_class": worker_class}
    config = {"HOME": os.environ.get("PERMIT_HOME")}
    (BareServer if app == "bare" else VerifierServer)(config, options).run()


if __name__ == "__main__":
    main()
