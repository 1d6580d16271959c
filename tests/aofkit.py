"""Plant the loss a Redis crash causes: kill -9 the server, cut its append-only file before a write.

With `appendfsync everysec` a crash may drop about the last 2 s of acknowledged writes, but a kill
-9 of the process alone rarely does (the page cache keeps what was written). Cutting the AOF's tail
makes the loss certain: the server comes back as if it had crashed before that write reached disk.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from workers.redis_server import start_redis


def aof_commands(path: Path) -> list[tuple[int, list[bytes]]]:
    """(offset, arguments) of every command in a RESP append-only file, in order."""
    raw = path.read_bytes()
    out, pos = [], 0
    while pos < len(raw):
        start = pos
        assert raw[pos:pos + 1] == b"*", f"no command at offset {pos} of {path}"
        end = raw.index(b"\r\n", pos)
        argc, pos = int(raw[pos + 1:end]), end + 2
        args = []
        for _ in range(argc):
            end = raw.index(b"\r\n", pos)
            size = int(raw[pos + 1:end])
            args.append(raw[end + 2:end + 2 + size])
            pos = end + 2 + size + 2
        out.append((start, args))
    return out


def cut_aof_before(path: Path, wanted: Callable[[list[bytes]], bool]) -> int:
    """Truncate the AOF before the first command `wanted` picks (and before the MULTI of its
    transaction, so the script that made it goes whole). Returns how many commands were cut: 0 when
    the write never reached the file (the kill itself lost it)."""
    commands = aof_commands(path)
    hit = next((i for i, (_, args) in enumerate(commands) if wanted(args)), None)
    if hit is None:
        return 0
    cut = hit
    while cut > 0 and commands[cut - 1][1][0].upper() not in (b"EXEC", b"MULTI"):
        cut -= 1
    if cut > 0 and commands[cut - 1][1][0].upper() == b"MULTI":
        cut -= 1
    else:
        cut = hit
    with open(path, "r+b") as fh:
        fh.truncate(commands[cut][0])
    return len(commands) - cut


def epoch_entry(run_id: str, epoch: int) -> Callable[[list[bytes]], bool]:
    """Picks the XADD of run `run_id`'s epoch-`epoch` entry."""
    key = f"spikeboard:run:{run_id}:metrics".encode()

    def wanted(args: list[bytes]) -> bool:
        return (args[0].upper() == b"XADD" and args[1] == key and b"epoch" in args
                and f'"epoch": {epoch},'.encode() in args[-1])
    return wanted


def crash_losing(server, wanted: Callable[[list[bytes]], bool], down_s: float = 0.5) -> int:
    """kill -9 `server`, cut its AOF before the first write `wanted` picks, start it again on its port
    and AOF dir; the number of commands lost."""
    server.proc.kill()
    server.proc.wait(timeout=10)
    lost = cut_aof_before(Path(server.dir) / "appendonly.aof", wanted)
    time.sleep(down_s)
    server.proc, server.url = start_redis(server.dir, port=server.port)
    return lost
