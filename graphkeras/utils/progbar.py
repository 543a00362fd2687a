"""A progress bar in tf.keras' format, written to stdout.

The text is tf.keras 2.x's, byte for byte: with verbose 1 a live bar
(``" 3/10 [========>.....] - ETA: 1s - loss: 0.1234"``), redrawn in place with
backspaces and a carriage return wherever tf.keras does so (a terminal, a
notebook, or any POSIX system) and printed one update per line elsewhere; with
verbose 2 one line when the target is reached
(``"10/10 - 1s - loss: 0.1234 - 936ms/epoch - 94ms/step"``).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np


def _format_time(seconds, unit_name):
    """``" 12ms/step"``: a duration per unit, as tf.keras writes it."""
    if seconds >= 1 or seconds == 0:
        return f" {seconds:.0f}s/{unit_name}"
    if seconds >= 1e-3:
        return f" {seconds * 1e3:.0f}ms/{unit_name}"
    return f" {seconds * 1e6:.0f}us/{unit_name}"


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta


class Progbar:
    """``target`` steps (None if unknown); ``verbose`` 1 draws a live bar, 2 prints
    one line at the end. Names in ``stateful_metrics`` are shown as given; other
    values are averaged over the steps seen."""

    def __init__(self, target, width=30, verbose=1, interval=0.05, stateful_metrics=None,
                 unit_name="step"):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name = interval, unit_name
        self.stateful_metrics = set(stateful_metrics or ())
        # The same test as tf.keras: a terminal, a notebook, or any POSIX system.
        self._dynamic = ((hasattr(sys.stdout, "isatty") and sys.stdout.isatty())
                         or "ipykernel" in sys.modules or "posix" in sys.modules
                         or "PYCHARM_HOSTED" in os.environ)
        self._values: dict[str, list] = {}
        self._order: list[str] = []
        self._start = time.time()
        self._last_update = 0.0
        self._epoch_start = self._start
        self._epoch_end = None
        self._after_first_step = None
        self._seen = 0
        self._total_width = 0
        self._finished = False

    def _update_stateful_metrics(self, stateful_metrics):
        self.stateful_metrics = self.stateful_metrics.union(stateful_metrics)

    def update(self, current, values=None, finalize=None):
        """Move to step ``current``; ``values`` is a list of ``(name, value)``."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        for name, value in values or []:
            if name not in self._order:
                self._order.append(name)
            if name in self.stateful_metrics:
                self._values[name] = [value, 1]
            else:
                weight = max(current - self._seen, 1)
                if name in self._values:
                    self._values[name][0] += value * weight
                    self._values[name][1] += weight
                else:
                    self._values[name] = [value * weight, weight]
        self._seen = current
        now = time.time()
        elapsed = f" - {now - self._start:.0f}s"
        if current == self.target:
            self._epoch_end = now
        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            previous_width = self._total_width
            message = ("\b" * previous_width + "\r") if self._dynamic else "\n"
            bar = self._bar(current)
            self._total_width = len(bar)
            per_unit = self._step_duration(current, now)
            if self.target is None or finalize:
                info = elapsed + _format_time(per_unit, self.unit_name)
            else:
                info = " - ETA: " + _format_eta(per_unit * (self.target - current))
            info += self._metrics(lambda avg: abs(avg) > 1e-3)
            self._total_width += len(info)
            if previous_width > self._total_width:
                info += " " * (previous_width - self._total_width)
            if finalize:
                info += "\n"
            sys.stdout.write(message + bar + info)
            sys.stdout.flush()
        elif self.verbose == 2 and finalize:
            if self.target is None:
                line = f"{current:7d}/Unknown"
            else:
                line = f"{current:{self._digits()}d}/{self.target}"
            # tf.keras tests `avg > 1e-3` here (no abs): negative values print as 1.2e-01.
            line += elapsed + self._metrics(lambda avg: avg > 1e-3)
            if self._epoch_end is not None:
                epoch_time = self._epoch_end - self._epoch_start
                self._epoch_start, self._epoch_end = now, None
                line += " -" + _format_time(epoch_time, "epoch")
                line += " -" + _format_time(epoch_time / self.target, self.unit_name)
                line += "\n"
            elif self.target is None:
                line += "\n"
            sys.stdout.write(line)
            sys.stdout.flush()
        self._last_update = now
        if finalize:
            self._finished = True

    def add(self, n, values=None):
        self.update(self._seen + n, values)

    def finish(self):
        """End a bar whose target was unknown: the steps seen become the target."""
        if not self._finished and self.target is None:
            if self._seen:
                self.target = self._seen
            self.update(self._seen, finalize=True)

    def _digits(self):
        return int(np.log10(self.target)) + 1 if self.target and self.target > 0 else 1

    def _bar(self, current):
        if self.target is None:
            return f"{current:7d}/Unknown"
        bar = f"{current:{self._digits()}d}/{self.target} ["
        filled = int(self.width * current / self.target) if self.target else self.width
        if filled > 0:
            bar += "=" * (filled - 1) + (">" if current < self.target else "=")
        return bar + "." * (self.width - filled) + "]"

    def _step_duration(self, current, now):
        """Seconds per step; the first step (tracing, warm-up) is left out once
        there are more."""
        if not current:
            return 0
        if self._after_first_step is not None and current > 1:
            per_unit = (now - self._after_first_step) / (current - 1)
        else:
            per_unit = (now - self._start) / current
        if current == 1:
            self._after_first_step = now
        return per_unit

    def _metrics(self, fixed_point):
        out = ""
        for name in self._order:
            total, count = self._values[name]
            avg = np.mean(total / max(1, count))
            out += f" - {name}: {avg:.4f}" if fixed_point(avg) else f" - {name}: {avg:.4e}"
        return out
