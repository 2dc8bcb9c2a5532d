#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the SMTPClient tests.

Each accepted message is stored in --maildir as N.eml (the raw bytes received after DATA, already
dot-unstuffed by aiosmtpd) and N.json: the envelope plus the message as Python's email package
parses it, so the tests check our encoding against an independent decoder.

Prints "ready <port>" on stdout once listening (--port 0 picks a free port).
"""

import argparse
import asyncio
import email
import email.policy
import email.utils
import json
import os
import signal
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult


class Sink:
    def __init__(self, maildir, reject):
        self.maildir = maildir
        self.reject = {address.lower() for address in reject}
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.maildir, str(self.count))
        raw = envelope.original_content
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        record = {
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "parsed": parse(raw),
        }
        # Write the sidecar last and atomically: the test treats its presence as "message stored".
        with open(base + ".json.tmp", "w") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 OK: queued as %d" % self.count


def header(message, name):
    value = message[name]
    return None if value is None else str(value)


def parse(raw):
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(("plain",))
    date = message["Date"]
    return {
        "headers": [[name, str(value)] for name, value in message.items()],
        "subject": header(message, "Subject"),
        "from": header(message, "From"),
        "to": header(message, "To"),
        "message_id": header(message, "Message-ID"),
        "date": email.utils.parsedate_to_datetime(str(date)).isoformat() if date else None,
        "content_type": message.get_content_type(),
        "charset": message.get_content_charset(),
        "transfer_encoding": message.get("Content-Transfer-Encoding"),
        "text": body.get_content() if body is not None else None,
        "defects": [repr(defect) for defect in message.defects]
        + [repr(defect) for value in message.values() for defect in getattr(value, "defects", ())],
    }


def main():
    # A parent that spawned us from a thread with signals blocked passes that mask on; unblock so
    # that terminating the sink works.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--maildir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--implicit-tls", action="store_true")
    parser.add_argument("--auth", help="USER:PASS; AUTH becomes mandatory")
    parser.add_argument("--auth-mechanisms", default="PLAIN,LOGIN", help="offered mechanisms, e.g. LOGIN")
    parser.add_argument("--auth-without-tls", action="store_true", help="offer AUTH on plain connections")
    parser.add_argument("--reject", action="append", default=[], help="answer RCPT TO with 550 for this address")
    args = parser.parse_args()

    tls_context = None
    if args.tls_cert:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(args.tls_cert, args.tls_key)

    authenticator = None
    if args.auth:
        user, password = args.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok, handled=False)

    excluded = [m for m in ("PLAIN", "LOGIN") if m not in args.auth_mechanisms.upper().split(",")]
    handler = Sink(args.maildir, args.reject)

    def factory():
        return SMTP(
            handler,
            hostname="sink.test",
            decode_data=False,
            enable_SMTPUTF8=True,
            # With implicit TLS the transport is TLS already; aiosmtpd only knows about STARTTLS.
            tls_context=None if args.implicit_tls else tls_context,
            require_starttls=args.require_starttls,
            authenticator=authenticator,
            auth_required=authenticator is not None,
            auth_require_tls=not (args.auth_without_tls or args.implicit_tls),
            auth_exclude_mechanism=excluded,
            loop=loop,
        )

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            factory, host="127.0.0.1", port=args.port, ssl=tls_context if args.implicit_tls else None
        )
    )
    port = server.sockets[0].getsockname()[1]

    # The tests keep our stdin open; EOF means they are done (or died), so never outlive them.
    def on_stdin():
        if not os.read(sys.stdin.fileno(), 4096):
            loop.stop()

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    print("ready %d" % port, flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
