"""A progress bar in tf.keras' format, written to stdout."""
from __future__ import annotations

import sys
import time

import numpy as np


class Progbar:
    """``target`` steps; ``verbose`` 1 draws a live bar, 2 prints one line at the end."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        self._dynamic = (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or \
            "ipykernel" in sys.modules
        self._values: dict[str, list] = {}
        self._order: list[str] = []
        self._start = time.time()
        self._last_update = 0.0
        self._seen = 0
        self._total_width = 0
        self._finished = False

    def update(self, current, values=None, finalize=None):
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._order:
                self._order.append(name)
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            else:
                step = max(current - self._seen, 1)
                acc = self._values.setdefault(name, [0.0, 0])
                acc[0] += value * step
                acc[1] += step
        self._seen = current
        now = time.time()
        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            line = self._bar(current, now, finalize)
            if self._dynamic:
                sys.stdout.write("\b" * self._total_width + "\r")
            else:
                line += "\n" if finalize else ""
                if not finalize:
                    return
            pad = max(self._total_width - len(line), 0) if self._dynamic else 0
            sys.stdout.write(line + " " * pad)
            self._total_width = len(line)
            if finalize and self._dynamic:
                sys.stdout.write("\n")
            sys.stdout.flush()
        elif self.verbose == 2 and finalize:
            sys.stdout.write(self._timing(current, now) + self._metrics() + "\n")
            sys.stdout.flush()
        self._last_update = now
        if finalize:
            self._finished = True

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def finish(self):
        if not self._finished and self.target is None:
            self.update(self._seen, finalize=True)

    def _bar(self, current, now, finalize):
        if self.target is not None:
            digits = int(np.log10(self.target)) + 1 if self.target > 0 else 1
            bar = f"{current:{digits}d}/{self.target} ["
            filled = int(self.width * current / self.target) if self.target else self.width
            if filled > 0:
                bar += "=" * (filled - 1) + (">" if current < self.target else "=")
            bar += "." * (self.width - filled) + "]"
        else:
            bar = f"{current:7d}/Unknown"
        if finalize:
            return bar + " - " + self._timing(current, now) + self._metrics()
        per = (now - self._start) / max(current, 1)
        eta = per * (self.target - current) if self.target is not None else 0
        eta_text = (f"{int(eta // 3600)}:{int(eta % 3600 // 60):02d}:{int(eta % 60):02d}"
                    if eta > 3600 else f"{int(eta // 60)}:{int(eta % 60):02d}" if eta > 60
                    else f"{int(eta)}s")
        return bar + f" - ETA: {eta_text}" + self._metrics()

    def _timing(self, current, now):
        elapsed = now - self._start
        per = elapsed / max(current, 1)
        if per >= 1:
            unit = f"{per:.0f}s/{self.unit_name}"
        elif per >= 1e-3:
            unit = f"{per * 1e3:.0f}ms/{self.unit_name}"
        else:
            unit = f"{per * 1e6:.0f}us/{self.unit_name}"
        return f"{elapsed:.0f}s {unit}"

    def _metrics(self):
        out = ""
        for name in self._order:
            total, count = self._values[name]
            value = total / max(count, 1)
            out += f" - {name}: {value:.4f}" if abs(value) > 1e-3 else f" - {name}: {value:.4e}"
        return out
