# A real SMTP server for the notification tests (tests/it/notify.rs): aiosmtpd on
# 127.0.0.1 with STARTTLS required before AUTH (PLAIN/LOGIN) and AUTH required before
# MAIL. Each message received is written to OUTDIR/NNNN.eml (atomically, by rename).
# Usage: smtp_server.py PORT CERT KEY OUTDIR USER PASSWORD; prints "ready" when listening
# and stops when stdin closes.
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, cert, key, outdir, user, password = sys.argv[1:7]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)


class Handler:
    async def handle_DATA(self, server, session, envelope):
        n = len([f for f in os.listdir(outdir) if f.endswith(".eml")])
        path = os.path.join(outdir, "%04d.eml" % n)
        with open(path + ".tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok)


controller = Controller(
    Handler(),
    hostname="127.0.0.1",
    port=int(port),
    tls_context=ctx,
    require_starttls=True,
    auth_required=True,
    auth_require_tls=True,
    authenticator=authenticator,
)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
