#!/usr/bin/env python3
"""A small SMTP receiver for secretwatch's e-mail tests (aiosmtpd; see setup-python.sh).

Listens on HOST:PORT (port 0: any free port) and prints `listening HOST:PORT` as its first
line on stdout once it accepts connections. Every accepted message is written to DIR as
`<n>.eml` (the bytes received after DATA) with `<n>.json` beside it, written first:
{"mail_from", "rcpt_tos", "auth_user", "tls", "peer"}.

Options:
  --tls-cert/--tls-key PEM files: offer STARTTLS (--tls-mode starttls, the default) or speak
      TLS from the first byte (--tls-mode implicit, "SMTPS", port 465 style).
  --require-starttls: refuse commands other than EHLO/STARTTLS/QUIT before STARTTLS.
  --auth-user/--auth-password: offer AUTH PLAIN and LOGIN, accept only this pair (others get
      535 5.7.8), and require AUTH before MAIL (530). Over STARTTLS, AUTH is only offered
      after the upgrade.
  --rcpt-reply "550 5.1.1 <...>: no such user": answer every RCPT TO with this line.
  --watch-stdin: exit when stdin reaches end of file (the parent test process is gone).

Exits on SIGTERM/SIGINT. Test tool only: it keeps every message and trusts every client.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import ssl
import sys
import time

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Recorder:
    def __init__(self, directory, rcpt_reply):
        self.directory = directory
        self.rcpt_reply = rcpt_reply
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        name = "%020d-%06d" % (time.time_ns(), self.count)
        auth = session.auth_data
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "auth_user": auth.login.decode("utf-8", "replace")
            if isinstance(auth, LoginPassword)
            else None,
            "tls": session.ssl is not None or server.transport.get_extra_info("sslcontext") is not None,
            "peer": "%s:%s" % tuple(session.peer[:2]) if session.peer else None,
        }
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        write_atomically(os.path.join(self.directory, name + ".json"), json.dumps(meta).encode())
        write_atomically(os.path.join(self.directory, name + ".eml"), content)
        return "250 2.0.0 Ok: queued as %s" % name


def write_atomically(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def make_authenticator(user, password):
    want = (user.encode("utf-8"), password.encode("utf-8"))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and (auth_data.login, auth_data.password) == want
        )
        # handled=False: aiosmtpd answers 535 5.7.8 on failure itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticator


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", required=True, help="where received messages are written")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-mode", choices=["starttls", "implicit"], default="starttls")
    p.add_argument("--require-starttls", action="store_true")
    p.add_argument("--auth-user")
    p.add_argument("--auth-password")
    p.add_argument("--rcpt-reply", help='e.g. "550 5.1.1 <x@example.com>: no such user"')
    p.add_argument("--watch-stdin", action="store_true")
    a = p.parse_args(argv)
    if (a.tls_cert is None) != (a.tls_key is None):
        p.error("--tls-cert and --tls-key go together")
    if (a.auth_user is None) != (a.auth_password is None):
        p.error("--auth-user and --auth-password go together")
    if a.require_starttls and (a.tls_cert is None or a.tls_mode != "starttls"):
        p.error("--require-starttls needs --tls-cert/--tls-key in starttls mode")
    if a.rcpt_reply is not None:
        code = a.rcpt_reply[:3]
        if not (code.isdigit() and code[0] in "245" and a.rcpt_reply[3:4] in ("", " ")):
            p.error("--rcpt-reply must start with a 2xx, 4xx or 5xx code")
    return a


async def serve(a):
    os.makedirs(a.dir, exist_ok=True)
    loop = asyncio.get_running_loop()

    context = None
    if a.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.tls_cert, a.tls_key)
    starttls = context if a.tls_mode == "starttls" else None
    implicit = context if a.tls_mode == "implicit" else None

    recorder = Recorder(a.dir, a.rcpt_reply)
    authenticator = None
    if a.auth_user is not None:
        authenticator = make_authenticator(a.auth_user, a.auth_password)

    def factory():
        return SMTP(
            recorder,
            hostname="smtp-receiver.test",
            tls_context=starttls,
            require_starttls=a.require_starttls,
            auth_required=authenticator is not None,
            # AUTH after STARTTLS only; on implicit TLS or plain tests, at once.
            auth_require_tls=starttls is not None,
            authenticator=authenticator,
            loop=loop,
        )

    sock = socket.socket(socket.AF_INET6 if ":" in a.host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((a.host, a.port))
    sock.listen(64)
    server = await loop.create_server(factory, sock=sock, ssl=implicit)
    host, port = sock.getsockname()[:2]
    print("listening %s:%d" % (host, port), flush=True)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if a.watch_stdin:
        loop.add_reader(sys.stdin.fileno(), lambda: stdin_readable(stop))
    async with server:
        await stop.wait()


def stdin_readable(stop):
    if not os.read(sys.stdin.fileno(), 4096):
        stop.set()


def main(argv):
    asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    main(sys.argv[1:])
