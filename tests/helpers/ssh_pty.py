"""Drives an interactive `ssh -tt` session from a terminal of its own, as a person at a terminal.

    ssh_pty.py ROWS COLS NEW_ROWS NEW_COLS -- SSH_COMMAND...

The client's terminal is a fresh pty of ROWS x COLS (the controlling terminal of ssh). In the
remote shell it reads `stty size`, $TERM, `tty`, $0 and whether bash counts itself a login
shell; then resizes the client's terminal (TIOCSWINSZ on the pty, SIGWINCH to ssh) to
NEW_ROWS x NEW_COLS and reads `stty size` until it changes (5 s at most); then prints the
shell's pid and kills the client (SIGKILL: a dropped connection). Prints one key=value per line:
size, term, tty, zero, login, resized, shell_pid. Exits 1 when an answer does not come in 20 s.
"""
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

TIMEOUT = 20.0
READ_BOUND = 1 << 20  # the session's output is kept for matching: at most 1 MiB of it


class Session:
    def __init__(self, rows, cols, argv):
        self.master, slave = os.openpty()
        set_size(slave, rows, cols)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                                     preexec_fn=controlling_terminal, close_fds=True)
        os.close(slave)
        self.seen = b""

    def send(self, line):
        os.write(self.master, line.encode() + b"\n")

    def expect(self, pattern, timeout=TIMEOUT):
        """The first match of pattern in what the session printed after the last match."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern.encode())
        while True:
            m = regex.search(self.seen)
            if m:
                self.seen = self.seen[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the client is gone
                    chunk = b""
                if not chunk:
                    return regex.search(self.seen)
                self.seen = (self.seen + chunk)[-READ_BOUND:]


def set_size(fd, rows, cols):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def controlling_terminal():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def fail(session, what):
    print(f"ssh_pty: no answer to {what} within {TIMEOUT:.0f} s; the session printed: {session.seen[-2000:]!r}",
          file=sys.stderr)
    session.proc.kill()
    session.proc.wait()
    sys.exit(1)


def main():
    if len(sys.argv) < 7 or sys.argv[5] != "--":
        sys.exit("usage: ssh_pty.py ROWS COLS NEW_ROWS NEW_COLS -- SSH_COMMAND...")
    rows, cols, new_rows, new_cols = (int(a) for a in sys.argv[1:5])
    s = Session(rows, cols, sys.argv[6:])
    # The pattern needs what only the remote shell's expansion prints, never the echoed input.
    s.send('echo "M1:$(stty size):$TERM:$(tty):$0:$(shopt -q login_shell 2>/dev/null && echo yes || echo no):E"')
    m = s.expect(r"M1:(\d+ \d+):([^:\r\n]*):([^:\r\n]*):([^:\r\n]*):(yes|no):E")
    if not m:
        fail(s, "the first command")
    for key, value in zip(("size", "term", "tty", "zero", "login"), m.groups()):
        print(f"{key}={value.decode()}")
    set_size(s.master, new_rows, new_cols)
    os.kill(s.proc.pid, signal.SIGWINCH)
    want = f"{new_rows} {new_cols}"
    resized = ""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        s.send('echo "M2:$(stty size):E"')
        m = s.expect(r"M2:(\d+ \d+):E")
        if not m:
            fail(s, "stty size after the resize")
        resized = m.group(1).decode()
        if resized == want:
            break
        time.sleep(0.1)
    print(f"resized={resized}")
    s.send('echo "M3:$(( $$ + 0 )):E"')
    m = s.expect(r"M3:(\d+):E")
    if not m:
        fail(s, "the shell's pid")
    print(f"shell_pid={m.group(1).decode()}")
    s.proc.kill()
    s.proc.wait()
    os.close(s.master)


if __name__ == "__main__":
    main()
