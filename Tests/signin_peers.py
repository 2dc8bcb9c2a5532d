#!/usr/bin/env python3
"""Real HTTP peers on 127.0.0.1 for the SMS and social sign-in tests: an SMS gateway, any number of
OpenID Connect providers and a VK-ID-style OAuth server. Everything is in memory.

Run `python3 Tests/signin_peers.py --port 0 [--vk-client-id ID] [--vk-client-secret S] [--log]`;
it prints "ready <port>" once listening and exits when stdin reaches EOF or on SIGTERM.
JSON in and out unless noted; control calls without a documented answer return 204.

SMS gateway
  POST /sms  {"to", "text"} (+ optional Authorization)  -> 200 {"id": "<n>"}; 400 on a bad body
  GET  /sms/messages[?to=+7...]                         -> [{"to", "text", "authorization"}...]
  POST /sms/fail {"count": N, "status": 503}            the next N POST /sms fail with that status
  GET  /sms/attempts                                    -> {"attempts": n, "failed": n}

OpenID Connect, provider <p> = [A-Za-z0-9]+, issuer http://127.0.0.1:<port>/oidc/<p>
  GET  /oidc/<p>/.well-known/openid-configuration       discovery (counted)
  GET  /oidc/<p>/jwks                                   keys "rsa" (<p>-rsa-1), "ec" (<p>-ec-1),
                                                        and "late" (<p>-rsa-2) once published (counted)
  GET  /oidc/<p>/stats                                  -> {"discovery_fetches", "jwks_fetches"}
  POST /oidc/<p>/publish-late                           rotate: "late" joins the JWKS
  POST /oidc/<p>/id-token {"claims": {...}, "key": "rsa"|"ec"|"unpublished"|"late",
                           "alg": override, "kid": override, "tamper": bool} -> {"id_token": jwt}
       Claims default to iss, iat = now, exp = now + 600; a claim given as null is removed.
       "alg": "none" leaves the signature empty; "HS256" signs with the RSA JWK's "n" as the HMAC
       secret (key confusion); any other override only changes the header. "tamper" swaps in a
       payload with sub = "attacker" after signing. "unpublished" (<p>-rsa-x) never appears in JWKS.

VK ID
  POST /vk/users {"code", "user_id", "first_name", "last_name", "email"?, "phone"?}
  POST /vk/token (form: grant_type, code, redirect_uri, client_id, client_secret, ...)
       -> {"access_token", "user_id", "expires_in", "email"?}; 401 invalid_client, 400 invalid_grant
  POST /vk/user_info (form: access_token, client_id)    -> {"user": {"user_id": "<id>", ...}}
  GET  /vk/requests                                     -> {"token": [form...], "user_info": [form...]}
  POST /vk/delay {"seconds": S}                         /vk/token sleeps S seconds first (0 clears)
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_int(value, length=None):
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


class BadRequest(Exception):
    pass


class Provider:
    """One OpenID provider's keys and counters. Keys are made once, on the first request naming it."""

    def __init__(self, name):
        self.name = name
        self.keys = {
            "rsa": (f"{name}-rsa-1", rsa.generate_private_key(65537, 2048)),
            "ec": (f"{name}-ec-1", ec.generate_private_key(ec.SECP256R1())),
            "unpublished": (f"{name}-rsa-x", rsa.generate_private_key(65537, 2048)),
            "late": (f"{name}-rsa-2", rsa.generate_private_key(65537, 2048)),
        }
        self.late_published = False
        self.discovery_fetches = 0
        self.jwks_fetches = 0

    def jwk(self, key_name):
        kid, key = self.keys[key_name]
        numbers = key.public_key().public_numbers()
        if isinstance(key, rsa.RSAPrivateKey):
            return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                    "n": b64url_int(numbers.n), "e": b64url_int(numbers.e)}
        return {"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": b64url_int(numbers.x, 32), "y": b64url_int(numbers.y, 32)}

    def jwks(self):
        published = ["rsa", "ec"] + (["late"] if self.late_published else [])
        return {"keys": [self.jwk(name) for name in published]}

    def id_token(self, issuer, request):
        key_name = request.get("key", "rsa")
        if key_name not in self.keys:
            raise BadRequest(f"unknown key {key_name!r}")
        kid, key = self.keys[key_name]
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        alg = request.get("alg") or ("RS256" if is_rsa else "ES256")
        now = int(time.time())
        claims = {"iss": issuer, "iat": now, "exp": now + 600}
        given = request.get("claims") or {}
        if not isinstance(given, dict):
            raise BadRequest("claims must be an object")
        claims.update(given)
        claims = {name: value for name, value in claims.items() if value is not None}

        header = {"alg": alg, "kid": request.get("kid") or kid, "typ": "JWT"}
        signing_input = b64url(compact(header)) + "." + b64url(compact(claims))
        data = signing_input.encode()
        if alg == "none":
            signature = b""
        elif alg == "HS256":
            # The classic forgery: a verifier that takes "alg" from the token and feeds the RSA public
            # key it holds to HMAC would accept this. An EC key has no "n", so borrow the main RSA key.
            secret = self.jwk(key_name if is_rsa else "rsa")["n"].encode()
            signature = hmac.new(secret, data, hashlib.sha256).digest()
        elif is_rsa:
            signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        else:
            # JWS wants the raw r||s pair (RFC 7518 section 3.4), not the DER that cryptography returns.
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")

        segments = [*signing_input.split("."), b64url(signature)]
        if request.get("tamper"):
            segments[1] = b64url(compact({**claims, "sub": "attacker"}))
        return ".".join(segments)


class State:
    """All peers' state behind one lock, never held while sleeping or writing to a socket."""

    def __init__(self, vk_client_id, vk_client_secret):
        self.lock = threading.Lock()
        self.sms_messages = []
        self.sms_attempts = 0
        self.sms_failed = 0
        self.sms_fail_count = 0
        self.sms_fail_status = 503
        self.providers = {}
        self.vk_client = (vk_client_id, vk_client_secret)
        self.vk_users = {}  # authorization code -> user
        self.vk_used_codes = set()
        self.vk_tokens = {}  # access token -> user
        self.vk_requests = {"token": [], "user_info": []}
        self.vk_delay = 0.0

    def provider(self, name):
        # Callers hold the lock, so two first requests for one provider cannot make two key sets.
        if name not in self.providers:
            self.providers[name] = Provider(name)
        return self.providers[name]


class Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 so that clients keep their connections alive, as they would with a real peer.
    protocol_version = "HTTP/1.1"
    server_version = "SigninPeers/1"

    # --- plumbing -------------------------------------------------------------------------------

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                data += self.rfile.read(size)
                self.rfile.readline()
                if size == 0:
                    return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def json_body(self):
        try:
            value = json.loads(self._body or b"null")
        except ValueError:
            raise BadRequest("body is not JSON")
        if not isinstance(value, dict):
            raise BadRequest("body is not a JSON object")
        return value

    def form_body(self):
        # Fields in the query string count too, so a client that puts client_id there still works.
        fields = dict(urllib.parse.parse_qsl(self.query, keep_blank_values=True))
        fields.update(urllib.parse.parse_qsl(self._body.decode("utf-8", "replace"), keep_blank_values=True))
        return fields

    def send(self, status, payload=None):
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):
        if self.server.log_requests:
            super().log_message(format, *args)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def dispatch(self, method):
        path, _, self.query = self.path.partition("?")
        # Read the whole body first, whatever the route, so the kept-alive connection stays in sync.
        self._body = self.body()
        state = self.server.state
        # Routes return (status, payload) and the answer is written here, outside the lock, so a
        # slow reader cannot stall the other peers.
        try:
            match = re.fullmatch(r"/oidc/([A-Za-z0-9]+)(/.*)", path)
            if match:
                answer = self.oidc(method, match.group(1), match.group(2), state)
            elif path == "/sms" or path.startswith("/sms/"):
                answer = self.sms(method, path, state)
            elif path.startswith("/vk/"):
                answer = self.vk(method, path, state)
            else:
                answer = 404, {"error": "not_found"}
        except BadRequest as error:
            answer = 400, {"error": "bad_request", "error_description": str(error)}
        self.send(*answer)

    # --- SMS gateway ----------------------------------------------------------------------------

    def sms(self, method, path, state):
        if (method, path) == ("POST", "/sms"):
            with state.lock:
                state.sms_attempts += 1
                # A gateway that is down answers before looking at the request.
                if state.sms_fail_count > 0:
                    state.sms_fail_count -= 1
                    state.sms_failed += 1
                    return state.sms_fail_status, {"error": "unavailable"}
            message = self.json_body()
            if not isinstance(message.get("to"), str) or not isinstance(message.get("text"), str):
                raise BadRequest("to and text must be strings")
            with state.lock:
                state.sms_messages.append({"to": message["to"], "text": message["text"],
                                           "authorization": self.headers.get("Authorization")})
                return 200, {"id": str(len(state.sms_messages))}
        elif (method, path) == ("GET", "/sms/messages"):
            to = urllib.parse.parse_qs(self.query).get("to")
            with state.lock:
                messages = [m for m in state.sms_messages if to is None or m["to"] in to]
            return 200, messages
        elif (method, path) == ("POST", "/sms/fail"):
            request = self.json_body()
            count, status = request.get("count", 0), request.get("status", 503)
            if not isinstance(count, int) or count < 0 or not isinstance(status, int) or not 100 <= status <= 599:
                raise BadRequest("count must be an integer >= 0 and status an HTTP status")
            with state.lock:
                state.sms_fail_count, state.sms_fail_status = count, status
            return 204, None
        elif (method, path) == ("GET", "/sms/attempts"):
            with state.lock:
                return 200, {"attempts": state.sms_attempts, "failed": state.sms_failed}
        else:
            return 404, {"error": "not_found"}

    # --- OpenID Connect providers ---------------------------------------------------------------

    def oidc(self, method, name, rest, state):
        issuer = f"http://127.0.0.1:{self.server.server_address[1]}/oidc/{name}"
        with state.lock:
            provider = state.provider(name)
            if (method, rest) == ("GET", "/.well-known/openid-configuration"):
                provider.discovery_fetches += 1
                return 200, {
                    "issuer": issuer,
                    "jwks_uri": issuer + "/jwks",
                    "authorization_endpoint": issuer + "/authorize",
                    "token_endpoint": issuer + "/token",
                    "id_token_signing_alg_values_supported": ["RS256", "ES256"],
                    "subject_types_supported": ["public"],
                    "response_types_supported": ["code"],
                }
            elif (method, rest) == ("GET", "/jwks"):
                provider.jwks_fetches += 1
                return 200, provider.jwks()
            elif (method, rest) == ("GET", "/stats"):
                return 200, {"discovery_fetches": provider.discovery_fetches, "jwks_fetches": provider.jwks_fetches}
            elif (method, rest) == ("POST", "/publish-late"):
                provider.late_published = True
                return 204, None
            elif (method, rest) == ("POST", "/id-token"):
                return 200, {"id_token": provider.id_token(issuer, self.json_body())}
            else:
                return 404, {"error": "not_found"}

    # --- VK ID ----------------------------------------------------------------------------------

    def vk(self, method, path, state):
        if (method, path) == ("POST", "/vk/users"):
            user = self.json_body()
            if not isinstance(user.get("code"), str) or not isinstance(user.get("user_id"), int):
                raise BadRequest("code must be a string and user_id an integer")
            with state.lock:
                state.vk_users[user["code"]] = user
            return 204, None
        elif (method, path) == ("POST", "/vk/token"):
            form = self.form_body()
            with state.lock:
                state.vk_requests["token"].append(form)
                delay = state.vk_delay
            # Sleep outside the lock so the other peers, and a retry after a client timeout, still answer.
            if delay:
                time.sleep(delay)
            with state.lock:
                # Authenticate the client before looking at the grant (RFC 6749 section 5.2 order), so
                # that a wrong secret does not burn the code.
                if (form.get("client_id"), form.get("client_secret")) != state.vk_client:
                    return 401, {"error": "invalid_client"}
                code = form.get("code")
                if form.get("grant_type") != "authorization_code":
                    return 400, {"error": "invalid_grant", "error_description": "unsupported grant_type"}
                if code not in state.vk_users:
                    return 400, {"error": "invalid_grant", "error_description": "unknown code"}
                if code in state.vk_used_codes:
                    return 400, {"error": "invalid_grant", "error_description": "code already used"}
                state.vk_used_codes.add(code)
                user = state.vk_users[code]
                token = "vk-at-" + secrets.token_urlsafe(16)
                state.vk_tokens[token] = user
            answer = {"access_token": token, "user_id": user["user_id"], "expires_in": 3600}
            if user.get("email"):
                answer["email"] = user["email"]
            return 200, answer
        elif (method, path) == ("POST", "/vk/user_info"):
            form = self.form_body()
            with state.lock:
                state.vk_requests["user_info"].append(form)
                user = state.vk_tokens.get(form.get("access_token"))
            if user is None:
                return 401, {"error": "invalid_token"}
            info = {"user_id": str(user["user_id"]), "first_name": user.get("first_name", ""),
                    "last_name": user.get("last_name", "")}
            info.update({field: user[field] for field in ("phone", "email") if user.get(field)})
            return 200, {"user": info}
        elif (method, path) == ("GET", "/vk/requests"):
            with state.lock:
                # Copies: the lists keep growing after the lock is released.
                return 200, {kind: list(forms) for kind, forms in state.vk_requests.items()}
        elif (method, path) == ("POST", "/vk/delay"):
            seconds = self.json_body().get("seconds", 0)
            if not isinstance(seconds, (int, float)) or seconds < 0:
                raise BadRequest("seconds must be a number >= 0")
            with state.lock:
                state.vk_delay = float(seconds)
            return 204, None
        else:
            return 404, {"error": "not_found"}


def main():
    # A parent that spawned us from a thread with signals blocked passes that mask on; unblock so
    # that terminating the peers works.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--vk-client-id", default="51234567")
    parser.add_argument("--vk-client-secret", default="vk-secret")
    parser.add_argument("--log", action="store_true", help="log each request on stderr")
    args = parser.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.state = State(args.vk_client_id, args.vk_client_secret)
    server.log_requests = args.log
    stop = threading.Event()

    # The tests keep our stdin open; EOF means they are done (or died), so never outlive them.
    # Read the raw descriptor: a daemon thread blocked inside sys.stdin's buffered reader holds its
    # lock, and the interpreter aborts on that lock when exiting after SIGTERM.
    def watch_stdin():
        while os.read(sys.stdin.fileno(), 4096):
            pass
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Serve from a thread: shutdown() blocks until serve_forever returns, so it cannot run on the
    # serving thread, and the main thread must stay free to run the signal handlers.
    # A short poll interval: shutdown() waits for it, and the tests stop a server per test case.
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    print("ready %d" % server.server_address[1], flush=True)
    stop.wait()
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    sys.exit(main())
