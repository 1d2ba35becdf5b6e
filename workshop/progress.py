"""Progress bars that stay readable wherever the output ends up (workshop.traffic uses them).

    bar = progress_bar(total=600, desc="traffic clean", unit="req")   # then bar.update() / bar.close(), as tqdm

- In a Jupyter kernel: ONE line, tqdm's text, updated in place through an IPython display id (at most once a
  second). JupyterLab shows it live; a notebook executed headless (papermill, nbconvert) saves only its final
  state, because nbclient applies each update to the same output. (A kernel cannot tell whether anyone is
  watching, so it always uses this mode.)
- In a terminal (a TTY): tqdm's usual live bar.
- Anywhere else (piped output, a CI log): a plain line at 25, 50, 75 and 100 % (every 30 s when the total is
  unknown) and a last line at the end, never a carriage return.
"""
from __future__ import annotations

import io
import sys
import time

from tqdm import tqdm

LINE_WIDTH = 100  # characters of a bar that is saved or logged (no terminal to measure)
QUARTERS = (0.25, 0.5, 0.75, 1.0)
UNKNOWN_TOTAL_EVERY_S = 30.0


class DisplayBar(tqdm):
    """tqdm's text kept in one notebook output, replaced at each refresh (IPython display id)."""

    def __init__(self, *args, **kwargs):
        self._handle = None
        super().__init__(*args, file=io.StringIO(), ncols=LINE_WIDTH, mininterval=1.0, ascii=False, **kwargs)

    def display(self, msg=None, pos=None):
        from IPython.display import display

        data = {"text/plain": str(self) if msg is None else msg}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)
        return True


class MilestoneBar(tqdm):
    """tqdm's text as whole lines at fixed points of the run: nothing is overwritten, so a log stays short."""

    def __init__(self, *args, stream=None, **kwargs):
        self._stream = stream or sys.stderr
        self._next = 0  # index into QUARTERS
        self._last_line_at = time.monotonic()
        self._printed_n = None
        unicode = "utf" in (getattr(self._stream, "encoding", None) or "").lower()
        super().__init__(*args, file=io.StringIO(), ncols=LINE_WIDTH, mininterval=0.2, ascii=not unicode, **kwargs)

    def display(self, msg=None, pos=None):
        closing = self.disable  # tqdm.close() marks the bar disabled, then draws it one last time
        due = closing
        if self.total:
            while self._next < len(QUARTERS) and self.n >= QUARTERS[self._next] * self.total:
                self._next, due = self._next + 1, True
        elif time.monotonic() - self._last_line_at >= UNKNOWN_TOTAL_EVERY_S:
            due = True
        if due and self.n != self._printed_n:
            self._stream.write(str(self) + "\n")
            self._stream.flush()
            self._printed_n, self._last_line_at = self.n, time.monotonic()
        return True


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill, nbconvert), whatever front-end is attached."""
    ipython = sys.modules.get("IPython")
    return ipython is not None and getattr(ipython.get_ipython(), "kernel", None) is not None


def progress_bar(total: int | None, desc: str, unit: str, enabled: bool = True, stream=None) -> tqdm:
    """A tqdm bar for where the output goes (see the module doc); a disabled tqdm when not `enabled`."""
    stream = stream or sys.stderr
    if not enabled:
        return tqdm(total=total, desc=desc, unit=unit, disable=True)
    if in_kernel():
        return DisplayBar(total=total, desc=desc, unit=unit)
    if stream.isatty():
        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return MilestoneBar(total=total, desc=desc, unit=unit, stream=stream)
