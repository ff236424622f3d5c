"""The audit log's floor on this disk: wall time and CPU of one record written and synced
(`fdatasync`), appended to a growing file, against overwriting blocks a preallocated,
zero-filled file already has (no metadata to journal), through the page cache and with direct
I/O (the end's block written again from an aligned buffer, as the audit writer does), and
preallocated with the file's status read before each write ("stat"), as the audit writer did
until 2026-11-28: on Linux 6.13 and later a read of a file's times makes its next write set a
fine-grained modification time, so every write dirties the inode and, on ext4 without a
journal, every fdatasync writes the inode's block too.

Usage: python3 benches/fsync.py [DIR] [--records N]   (DIR: where the audit directory would be)
"""

import mmap
import os
import resource
import sys
import time

RECORD = b"x" * 1500 + b"\n"


BLOCK = 4096


def direct_writes(path, records):
    """Each record: the end's block(s) written again from an aligned buffer, then synced."""
    fd = os.open(path, os.O_RDWR | os.O_DIRECT)
    buffer = mmap.mmap(-1, records * len(RECORD) + 2 * BLOCK)  # page-aligned
    end = 0
    for _ in range(records):
        buffer[end:end + len(RECORD)] = RECORD
        first, end = end // BLOCK * BLOCK, end + len(RECORD)
        os.pwritev(fd, [memoryview(buffer)[first:(end + BLOCK - 1) // BLOCK * BLOCK]], first)
        os.fdatasync(fd)
    os.close(fd)


def measure(path, mode, records):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    if mode != "append":
        os.write(fd, b"\0" * (records * len(RECORD) + 2 * BLOCK))
        os.fsync(fd)
        os.lseek(fd, 0, os.SEEK_SET)
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    if mode == "direct":
        direct_writes(path, records)
    else:
        for _ in range(records):
            if mode == "stat":
                os.stat(path)
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
        for name in ("append", "preallocated", "stat", "direct"):
            wall, cpu = measure(os.path.join(directory, f".fsync-probe-{name}"), name, records)
            print(f"run {run + 1} {name:>12}: {wall:6.0f} µs per synced record, {cpu:5.0f} µs CPU")


if __name__ == "__main__":
    main()
