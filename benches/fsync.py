"""The audit log's floor on this disk: wall time and CPU of one record written and synced
(`fdatasync`), appended to a growing file (what the audit writer does) against overwriting
blocks a preallocated, zero-filled file already has (no metadata to journal).

Usage: python3 benches/fsync.py [DIR] [--records N]   (DIR: where the audit directory would be)
"""

import os
import resource
import sys
import time

RECORD = b"x" * 1500 + b"\n"


def measure(path, preallocated, records):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    if preallocated:
        os.write(fd, b"\0" * (records * len(RECORD) + 4096))
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for _ in range(records):
        os.write(fd, RECORD)
        os.fdatasync(fd)
    wall = (time.perf_counter() - start) / records
    after = resource.getrusage(resource.RUSAGE_SELF)
    os.close(fd)
    os.unlink(path)
    cpu = (after.ru_stime - before.ru_stime + after.ru_utime - before.ru_utime) / records
    return wall * 1e6, cpu * 1e6


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    records = int(sys.argv[sys.argv.index("--records") + 1]) if "--records" in sys.argv else 3000
    directory = args[0] if args else "."
    for run in range(3):
        for name, preallocated in (("append", False), ("preallocated", True)):
            wall, cpu = measure(os.path.join(directory, f".fsync-probe-{name}"), preallocated, records)
            print(f"run {run + 1} {name:>12}: {wall:6.0f} µs per synced record, {cpu:5.0f} µs CPU")


if __name__ == "__main__":
    main()
