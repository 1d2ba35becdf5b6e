"""Run lesson notebooks headless with papermill (cwd notebooks/, outputs into build/); non-zero on failure.

Notebook 00 starts the monitoring stack and leaves it up for the lessons after it; a run that found no
stack running stops the one its notebooks started, so `make workshop` leaves no process behind.
"""
import argparse
import sys
import time
from pathlib import Path

import papermill
from jupyter_client.manager import AsyncKernelManager
from traitlets import default

from workshop.paths import BUILD_DIR, NOTEBOOKS_DIR
from workshop.stack import Stack


class LocalKernelManager(AsyncKernelManager):
    """Kernels talk over Unix sockets (IPC): no TCP ports to collide with, no plain-TCP warning."""

    @default("transport")
    def _default_transport(self):
        return "ipc"


def run_notebook(path: Path, quick: bool = True, out_dir: Path = BUILD_DIR, **parameters) -> Path:
    """Execute one notebook; its `parameters` cell gets quick=... plus any overrides."""
    edition = Path(path).resolve().parent
    if edition != NOTEBOOKS_DIR and edition.is_relative_to(NOTEBOOKS_DIR):  # notebooks/it/ -> build/it/
        out_dir = out_dir / edition.relative_to(NOTEBOOKS_DIR)
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / Path(path).name
    papermill.execute_notebook(str(path), str(output), parameters={"quick": quick, **parameters},
                               cwd=str(NOTEBOOKS_DIR), kernel_name="python3", progress_bar=False,
                               request_save_on_cell_execute=False, kernel_manager_class=LocalKernelManager)
    return output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--quick", type=int, default=1, help="1: small parameters (CI), 0: full lesson size")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    failed = []
    stack_was_running = Stack().status()["running"]
    for path in paths:
        start = time.monotonic()
        print(f"▶ {path.name} ...", flush=True)
        try:
            output = run_notebook(path, quick=bool(args.quick))
            print(f"  ✔ {path.name} in {time.monotonic() - start:.0f}s -> {output}", flush=True)
        except Exception as exc:  # report every notebook, then fail
            failed.append(path.name)
            print(f"  ✘ {path.name} failed after {time.monotonic() - start:.0f}s: {exc}", flush=True)
    if not stack_was_running and Stack().status()["mode"]:
        Stack().stop(force=True)
        print("stopped the monitoring stack these notebooks started")
    print(f"{len(paths) - len(failed)} notebooks passed, {len(failed)} failed" + (f": {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
