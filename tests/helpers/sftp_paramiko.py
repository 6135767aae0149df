#!/usr/bin/env python3
"""Drives `wsinit sftp-server` with paramiko's SFTPClient over the subprocess's pipes, in a work
directory, and checks what a user of paramiko would: contents, listings, attributes, errors.
Usage: sftp_paramiko.py WSINIT WORKDIR. Prints "ok: ..." per check; exits 1 at the first failure."""
import errno
import os
import select
import stat
import subprocess
import sys

import paramiko


class Pipe:
    """What paramiko's SFTPClient needs of a socket, over a child's stdin and stdout."""

    def __init__(self, proc):
        self.proc = proc

    def send(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        return len(data)

    def recv(self, n):
        return self.proc.stdout.read1(n)

    def recv_ready(self):  # paramiko's pipelined writes collect their acks when there are some
        return bool(self.proc.stdout.peek(1)) if select.select([self.proc.stdout], [], [], 0)[0] else False

    def close(self):
        self.proc.stdin.close()

    def settimeout(self, _):
        pass

    def get_name(self):
        return "wsinit sftp-server"


def check(cond, what):
    if not cond:
        print("FAIL: " + what, file=sys.stderr)
        sys.exit(1)
    print("ok: " + what)


def expect_ioerror(fn, code, message, what):
    """paramiko raises IOError with an errno for the statuses that have one, and with the
    server's message alone for SSH_FX_FAILURE."""
    try:
        fn()
    except IOError as e:
        check(e.errno == code and message in str(e), "%s: errno %s, %r" % (what, e.errno, str(e)))
        return
    check(False, what + ": no error")


def transfers(c, work):
    data = os.urandom(5 * 1024 * 1024 + 123)
    with open(os.path.join(work, "local.bin"), "wb") as f:
        f.write(data)
    c.put(os.path.join(work, "local.bin"), "remote.bin")
    check(open(os.path.join(work, "remote.bin"), "rb").read() == data, "put: the file arrived byte for byte")
    c.get("remote.bin", os.path.join(work, "back.bin"))
    check(open(os.path.join(work, "back.bin"), "rb").read() == data, "get: the file came back byte for byte")
    with c.open("remote.bin", "r") as f:
        f.seek(1000)
        check(f.read(10) == data[1000:1010], "a seek and a short read")
    with c.open("appended.txt", "w") as f:
        f.write(b"one\n")
    with c.open("appended.txt", "a") as f:
        f.write(b"two\n")
    check(open(os.path.join(work, "appended.txt"), "rb").read() == b"one\ntwo\n", "append mode")


def names_and_attributes(c, work):
    check(c.normalize(".") == os.path.realpath(work), "normalize('.') is the cwd")
    check(c.normalize("not-yet") == os.path.realpath(work) + "/not-yet", "normalize of a name not there yet")
    c.mkdir("dir", 0o750)
    check(stat.S_IMODE(os.stat(os.path.join(work, "dir")).st_mode) == 0o750 & ~current_umask(), "mkdir with a mode")
    listing = {a.filename: a for a in c.listdir_attr(".")}
    check({"dir", "remote.bin", "appended.txt"} <= set(listing), "listdir_attr names the entries")
    check(listing["dir"].longname.startswith("d") and listing["dir"].longname.endswith(" dir"), "an ls -l longname")
    check(listing["remote.bin"].st_size == 5 * 1024 * 1024 + 123, "sizes in the listing")
    c.chmod("appended.txt", 0o600)
    check(stat.S_IMODE(c.stat("appended.txt").st_mode) == 0o600, "chmod, then stat")
    c.utime("appended.txt", (1000000, 2000000))
    check(c.stat("appended.txt").st_mtime == 2000000, "utime sets the mtime")
    c.truncate("appended.txt", 3)
    check(c.stat("appended.txt").st_size == 3, "truncate")
    c.symlink("appended.txt", "link")
    check(c.readlink("link") == "appended.txt", "symlink, then readlink")
    check(stat.S_ISLNK(c.lstat("link").st_mode) and stat.S_ISREG(c.stat("link").st_mode), "lstat and stat of a link")


def renames_and_errors(c, work):
    expect_ioerror(lambda: c.rename("appended.txt", "remote.bin"), None, "File exists", "rename onto an existing file fails")
    check(os.path.getsize(os.path.join(work, "remote.bin")) == 5 * 1024 * 1024 + 123, "and leaves the target alone")
    c.rename("appended.txt", "dir/moved.txt")
    check(os.path.exists(os.path.join(work, "dir/moved.txt")), "rename into a directory")
    c.posix_rename("back.bin", "remote.bin")
    check(not os.path.exists(os.path.join(work, "back.bin")), "posix_rename replaces")
    expect_ioerror(lambda: c.open("missing.txt", "r"), errno.ENOENT, "No such file", "opening a missing file")
    expect_ioerror(lambda: c.stat("missing/deeper"), errno.ENOENT, "No such file", "stat of a missing path")
    expect_ioerror(lambda: c.rmdir("dir"), None, "Directory not empty", "rmdir of a directory that is not empty")
    c.remove("dir/moved.txt")
    c.rmdir("dir")
    c.remove("link")
    check(sorted(c.listdir(".")) == ["local.bin", "remote.bin"], "remove and rmdir left what they should")


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main():
    wsinit, work = sys.argv[1], sys.argv[2]
    proc = subprocess.Popen([wsinit, "sftp-server"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=work)
    c = paramiko.SFTPClient(Pipe(proc))
    transfers(c, work)
    names_and_attributes(c, work)
    renames_and_errors(c, work)
    c.close()
    check(proc.wait(timeout=10) == 0, "the server ends with status 0 at the end of its input")


if __name__ == "__main__":
    main()
