"""Repetitions, medians and the machine a run was made on."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from dataclasses import dataclass, field


@dataclass
class Series:
    """Repeated measurements of one figure (higher is better unless `lower_is_better`)."""

    name: str
    unit: str
    values: list[float] = field(default_factory=list)
    lower_is_better: bool = False

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def ratios(numerator: Series, denominator: Series) -> Series:
    """Per-repetition ratios of two series measured side by side."""
    out = Series(f"{numerator.name} / {denominator.name}", "ratio")
    for a, b in zip(numerator.values, denominator.values, strict=True):
        out.add(a / b)
    return out


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
                break
    except OSError:
        pass
    from cryptography.hazmat.backends.openssl.backend import backend

    openssl = backend.openssl_version_text()
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split("\n")[0].split(" Copyright")[0]
    except OSError:
        wrk = "wrk not installed"
    return (f"{cpu}, {os.cpu_count()} cores, {memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}; {openssl}; {wrk}")
