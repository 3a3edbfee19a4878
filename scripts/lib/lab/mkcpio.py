#!/usr/bin/env python3
"""Writes a gzip'd newc cpio archive of a directory tree plus /dev/console (a character device, so no
mknod is needed on the build host). Usage: mkcpio.py SRC_DIR OUT.cpio.gz"""
import gzip
import os
import stat
import sys


def header(name, mode, size, ino, nlink=1, rdevmajor=0, rdevminor=0, mtime=0):
    fields = [ino, mode, 0, 0, nlink, mtime, size, 0, 0, rdevmajor, rdevminor, len(name) + 1, 0]
    return b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"


def pad(n):
    return b"\0" * ((4 - n % 4) % 4)


def main():
    src, out = sys.argv[1], sys.argv[2]
    entries = []
    for root, dirs, files in os.walk(src):
        dirs.sort()
        rel = os.path.relpath(root, src)
        if rel != ".":
            entries.append(rel)
        for f in sorted(files):
            entries.append(os.path.normpath(os.path.join(rel, f)))
    data = bytearray()
    ino = 1
    for rel in entries:
        path = os.path.join(src, rel)
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            body = os.readlink(path).encode()
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as fh:
                body = fh.read()
        else:
            body = b""
        h = header(rel, st.st_mode, len(body), ino, nlink=2 if stat.S_ISDIR(st.st_mode) else 1)
        data += h + pad(len(h)) + body + pad(len(body))
        ino += 1
    if not os.path.exists(os.path.join(src, "dev", "console")):
        h = header("dev/console", stat.S_IFCHR | 0o600, 0, ino, rdevmajor=5, rdevminor=1)
        data += h + pad(len(h))
    h = header("TRAILER!!!", 0, 0, 0)
    data += h + pad(len(h))
    with open(out + ".tmp", "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz:
            gz.write(bytes(data))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main()
