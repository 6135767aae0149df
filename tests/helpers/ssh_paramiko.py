"""A second SSH client, independent of OpenSSH's: paramiko (Debian's python3-paramiko).

    ssh_paramiko.py --port P --user U --key KEY [--no-pty] [--http-port H] [--big FILE --remote-dir DIR]

Against 127.0.0.1:P, as user U: logins with "none" and with the empty password (both must be
accepted: password_less), and with the private key KEY; `exit 7` gives exit status 7, and
`kill -TERM $$` an exit-signal TERM (paramiko itself does not read exit-signal); a shell
with a 31x97 terminal says `stty size` 31 97, and 45 120 after resize_pty (not with --no-pty); with --http-port, a
direct-tcpip channel to 127.0.0.1:H gets HTTP 200; with --big, sftp puts FILE into DIR and gets
it back, both compared by sha256 (sftp last: it needs the sftp subsystem). Prints "ok: ..." for
each check; exits 1 at the first that fails.
"""
import argparse
import hashlib
import os
import re
import socket
import sys
import time

import paramiko

TIMEOUT = 20.0


# Paramiko reads exit-status but not exit-signal: this notes the signal's name of each channel
# (in the transport's dispatch table, which holds the handler it had when paramiko was loaded).
_handle_request = paramiko.Channel._handle_request
EXIT_SIGNALS = {}


def _note_exit_signal(channel, m):
    start = m.packet.tell()
    if m.get_text() == "exit-signal":
        m.get_boolean()  # want reply
        EXIT_SIGNALS[channel.get_id()] = m.get_text()
    m.packet.seek(start)
    return _handle_request(channel, m)


paramiko.Transport._channel_handler_table[paramiko.common.MSG_CHANNEL_REQUEST] = _note_exit_signal


def fail(what):
    print(f"FAIL (paramiko): {what}", file=sys.stderr)
    sys.exit(1)


def transport(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    t = paramiko.Transport(sock)
    t.banner_timeout = TIMEOUT
    t.auth_timeout = TIMEOUT
    t.start_client(timeout=TIMEOUT)
    return t


def load_key(path):
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key_file(path)
        except paramiko.SSHException:
            continue
    fail(f"{path}: not a key paramiko reads")


def check_password_less(args):
    t = transport(args.port)
    try:
        t.auth_none(args.user)
    except paramiko.SSHException as e:
        fail(f"auth none refused: {e}")
    if not t.is_authenticated():
        fail("auth none did not authenticate")
    t.close()
    t = transport(args.port)
    try:
        t.auth_password(args.user, "")
    except paramiko.SSHException as e:
        fail(f"the empty password refused: {e}")
    t.close()
    print("ok: paramiko logs in with auth none and with the empty password")


def check_password_refused(args):
    for method in ("none", "empty password"):
        t = transport(args.port)
        try:
            if method == "none":
                t.auth_none(args.user)
            else:
                t.auth_password(args.user, "")
        except paramiko.SSHException:
            pass
        if t.is_authenticated():
            fail(f"auth {method} got in without password_less")
        t.close()
    print("ok: paramiko: auth none and the empty password are refused without password_less")


def run(t, command):
    """The exit status, the exit signal's name (or None) and the first 64 KiB of output."""
    ch = t.open_session(timeout=TIMEOUT)
    ch.settimeout(TIMEOUT)
    ch.exec_command(command)
    out = b""
    while True:
        chunk = ch.recv(65536)
        if not chunk:
            break
        out += chunk[: max(0, 65536 - len(out))]
    return ch.recv_exit_status(), EXIT_SIGNALS.get(ch.get_id()), out


def shell_size(ch, marker):
    """Asks the shell for `stty size`; the answer, or None after TIMEOUT."""
    ch.send(f'echo "{marker}:$(stty size):E"\n'.encode())
    seen = b""
    deadline = time.monotonic() + TIMEOUT
    regex = re.compile(rf"{marker}:(\d+ \d+):E".encode())
    while time.monotonic() < deadline:
        m = regex.search(seen)
        if m:
            return m.group(1).decode()
        if ch.recv_ready():
            seen = (seen + ch.recv(65536))[-65536:]
        else:
            time.sleep(0.02)
    return None


def check_pty(t):
    ch = t.open_session(timeout=TIMEOUT)
    ch.get_pty(term="xterm", width=97, height=31)
    ch.invoke_shell()
    size = shell_size(ch, "P1")
    if size != "31 97":
        fail(f"stty size in a 31x97 pty: {size}")
    ch.resize_pty(width=120, height=45)
    size = None
    for i in range(25):  # the window-change and the next command race: ask again a few times
        size = shell_size(ch, f"P2{i}")
        if size == "45 120":
            break
        time.sleep(0.2)
    if size != "45 120":
        fail(f"stty size after resize_pty(120, 45): {size}")
    ch.close()
    print("ok: paramiko's pty shell: stty size 31 97, then 45 120 after resize_pty")


def check_forward(t, http_port):
    ch = t.open_channel("direct-tcpip", ("127.0.0.1", http_port), ("127.0.0.1", 0), timeout=TIMEOUT)
    ch.settimeout(TIMEOUT)
    ch.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
    reply = b""
    while len(reply) < 65536:
        chunk = ch.recv(65536)
        if not chunk:
            break
        reply += chunk
    ch.close()
    if not re.match(rb"HTTP/1\.[01] 200", reply):
        fail(f"direct-tcpip to 127.0.0.1:{http_port}: {reply[:200]!r}")
    print("ok: paramiko's direct-tcpip channel gets HTTP 200")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_sftp(t, big, remote_dir):
    sftp = paramiko.SFTPClient.from_transport(t)
    remote = f"{remote_dir}/paramiko-{os.getpid()}"
    back = f"{big}.paramiko-back"
    start = time.monotonic()
    sftp.put(big, remote)
    size = sftp.stat(remote).st_size
    if size != os.path.getsize(big):
        fail(f"sftp put: the remote file has {size} bytes, not {os.path.getsize(big)}")
    sftp.get(remote, back)
    took = time.monotonic() - start
    same = sha256(back) == sha256(big)
    sftp.remove(remote)
    os.remove(back)
    sftp.close()
    if not same:
        fail("sftp put then get: the file came back different")
    mib = os.path.getsize(big) / (1 << 20)
    print(f"ok: paramiko sftp put and get of {mib:.0f} MiB, sha256 identical ({took:.1f} s)")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--no-pty", action="store_true")
    p.add_argument("--http-port", type=int)
    p.add_argument("--big")
    p.add_argument("--remote-dir")
    p.add_argument("--no-password-less", action="store_true", help="sshd.password_less is off: none and '' must fail")
    args = p.parse_args()
    if args.no_password_less:
        check_password_refused(args)
    else:
        check_password_less(args)
    t = transport(args.port)
    try:
        t.auth_publickey(args.user, load_key(args.key))
    except paramiko.SSHException as e:
        fail(f"key login refused: {e}")
    print("ok: paramiko logs in with the key")
    status, _, _ = run(t, "exit 7")
    if status != 7:
        fail(f"exec 'exit 7' gave {status}")
    _, signal, _ = run(t, "kill -TERM $$")
    if signal != "TERM":
        fail(f"exec 'kill -TERM $$': exit-signal {signal!r}, not 'TERM'")
    print("ok: paramiko exec 'exit 7' gives 7; 'kill -TERM $$' an exit-signal TERM")
    if not args.no_pty:
        check_pty(t)
    if args.http_port:
        check_forward(t, args.http_port)
    if args.big:
        check_sftp(t, args.big, args.remote_dir)
    t.close()


if __name__ == "__main__":
    main()
