"""Which process holds a run: its host, the kernel boot, its pid and its start time. A later
process on the same host can then tell a run whose process was killed (left `running` for
ever) from one still going, even where the pid has since been given to another process."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    boot: str = "-"  # the kernel's boot id; '-' where the system gives none
    started: str = "-"  # the process's start, in clock ticks since boot; '-' where unknown

    def text(self) -> str:
        return f"{self.host} {self.pid} {self.boot} {self.started}"

    @classmethod
    def parse(cls, text: str | None) -> Owner | None:
        parts = (text or "").split()
        if len(parts) != 4 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2], parts[3])


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _boot_id() -> str:
    return _read(BOOT_ID) or "-"


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of the process from /proc (Linux), or None if /proc has no such process."""
    stat = _read(Path(f"/proc/{pid}/stat"))
    if stat is None:
        return None
    # the command name (field 2) may hold spaces and parentheses: count fields after its last ')'
    fields = stat.rsplit(")", 1)[-1].split()
    return (fields[0], fields[19]) if len(fields) > 19 else ("?", "-")


def this_process() -> Owner:
    pid = os.getpid()
    stat = _proc_stat(pid)
    return Owner(socket.gethostname(), pid, _boot_id(), stat[1] if stat else "-")


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or a system that cannot say: assume alive
    return True


def is_gone(owner: Owner) -> bool:
    """True only when it is certain that owner's process has ended: it ran on this host, and
    the host has rebooted since, or no process has its pid, or the one that has it now
    started at another time, or it is a zombie (killed, not yet reaped). A process on another
    host is never taken for gone."""
    if owner.host != socket.gethostname():
        return False
    if owner.boot != "-" and _boot_id() not in ("-", owner.boot):
        return True
    if not _pid_exists(owner.pid):
        return True
    stat = _proc_stat(owner.pid)
    if stat is None:
        return False  # no /proc to look in: the pid exists, so take it for the owner
    state, started = stat
    return state == "Z" or (owner.started != "-" and started not in ("-", owner.started))
