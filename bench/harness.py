#!/usr/bin/env python3
"""Tessera's benchmark harness (issue 4): Tessera and the Django peer, side by side, in one run.

`bench/run` calls this. One invocation:
  1. builds Tessera (`swift build -c release`) and a private copy of ../shared/peers/hb_ceiling;
  2. times one Argon2id hash (bench/hash_time.c, the libargon2 Tessera links) and one
     PBKDF2-SHA256 at Django's iteration count;
  3. times start -> GET /ready 200 on an empty database and on one with 100,000 users, SQLite and
     PostgreSQL;
  4. runs ROUNDS rounds; each round, in rotating order:
       - Django: ../shared/peers/bench/run_peer.sh (starts gunicorn, seeds, runs bench.py) with RUNS=1;
       - Tessera on SQLite and on a throwaway PostgreSQL 15 cluster: seeds 1,000 users + benchuser,
         starts `tessera serve` (TESSERA_RATE_LIMITS=off), runs ../shared/peers/bench/bench.py
         `run --target tessera` (same workloads, same wrk settings, same RSS sampling), then the
         equal-hash-cost sign-in (accounts holding Django pbkdf2_sha256 hashes, one sign-in each);
       - the bare Hummingbird ceiling (GET /hello, GET /me-es256);
  5. prints and writes a table of medians over the rounds with Tessera/Django ratios and the
     targets of issue 4, met or missed.

Every server listens on 127.0.0.1, every load is bounded by wrk -d, and every process started here
is stopped by PID at the end (also on Ctrl-C). Nothing under ../shared is written to.
"""
import argparse
import datetime as dt
import http.client
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN = os.path.dirname(HERE)
PEERS = os.path.abspath(os.environ.get("PEERS_DIR", os.path.join(MAIN, "..", "shared", "peers")))
PEER_BENCH = os.path.join(PEERS, "bench")
DJANGO_DIR = os.path.join(PEERS, "django_seed")
STATE = os.path.abspath(os.environ.get("BENCH_STATE_DIR", "/tmp/tessera-bench"))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
os.environ["BENCH_STATE"] = os.path.join(STATE, "pools")  # bench.py's refresh-token pools

BENCH_USER, BENCH_PASS = "benchuser", "BenchPass!2024"
STD_WORKLOADS = ["login", "refresh", "verify", "me", "catalog", "register", "mixed"]
# Tessera's own: Django's sign-in at its hash cost, a day's free slots, and balance credits spread
# over every user or all to one (the peer has neither schedules nor balances).
ALL_WORKLOADS = STD_WORKLOADS + ["login_pbkdf2", "availability", "balance", "balance_hot"]
CATALOG_SERVICES = 10_000
CORES = os.cpu_count() or 1

_children = []  # Popen objects started here, stopped by PID in cleanup()


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd, **kw):
    """Runs a command (list), raising with its output on failure."""
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def as_postgres(cmd):
    return (["runuser", "-u", "postgres", "--"] + cmd) if os.geteuid() == 0 else cmd


def stop_proc(p, timeout=None):
    """SIGTERM to one process we started, then SIGKILL if it outlives its grace (run_peer.sh gets
    long enough to stop its gunicorn and PostgreSQL itself)."""
    timeout = timeout or getattr(p, "grace", 20)
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def bench_py():
    """../shared/peers/bench/bench.py as a module (read-only; no bytecode is written)."""
    sys.dont_write_bytecode = True
    if PEER_BENCH not in sys.path:
        sys.path.insert(0, PEER_BENCH)
    import bench  # noqa: E402
    return bench


# ------------------------------------------------------------------------------------ tools
def preflight():
    if shutil.which("wrk") is None:
        log("installing wrk")
        subprocess.run("apt-get update -qq && apt-get install -y -qq wrk", shell=True, check=True)
    try:
        import argon2  # noqa: F401
        import django  # noqa: F401
        import gunicorn  # noqa: F401
        import psycopg2  # noqa: F401
    except ImportError:
        log("installing the Django peer's requirements and argon2-cffi")
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r",
                        os.path.join(DJANGO_DIR, "requirements.txt"), "argon2-cffi"], check=True)
    for tool in ("cc", "swift", "curl"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is required")
    if not os.path.exists(os.path.join(PGBIN, "postgres")):
        sys.exit(f"bench: PostgreSQL 15 binaries not found in {PGBIN}")


def build_tessera(skip):
    if not skip:
        log("building Tessera (swift build -c release; may wait for SwiftPM's lock)")
        t0 = time.time()
        p = subprocess.run(["swift", "build", "-c", "release"], cwd=MAIN, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"bench: release build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
        log(f"Tessera built in {time.time() - t0:.0f} s")
    binpath = sh(["swift", "build", "-c", "release", "--show-bin-path"], cwd=MAIN).strip()
    binary = os.path.join(binpath, "tessera")
    if not os.access(binary, os.X_OK):
        sys.exit(f"bench: {binary} missing; run without --skip-build")
    return binary


def build_ceiling(skip):
    """hb_ceiling lives in read-only ../shared: build a copy of it under STATE."""
    src = os.path.join(PEERS, "hb_ceiling")
    dst = os.path.join(STATE, "hb_ceiling")
    os.makedirs(dst, exist_ok=True)
    subprocess.run(["chmod", "-R", "u+w", dst], check=True)
    shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".build", ".build-*", "Package.resolved"))
    subprocess.run(["chmod", "-R", "u+w", dst], check=True)
    binary = os.path.join(dst, ".build", "release", "HBCeiling")
    for product in ("HBCeiling", "HashCost"):
        if not skip or not os.access(os.path.join(dst, ".build", "release", product), os.X_OK):
            log(f"building {product} (copy of ../shared/peers/hb_ceiling)")
            t0 = time.time()
            p = subprocess.run(["swift", "build", "-c", "release", "--product", product], cwd=dst,
                               capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"bench: hb_ceiling build failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
            log(f"{product} built in {time.time() - t0:.0f} s")
    return binary


def swift_hash_costs():
    """../shared/peers/hb_ceiling's HashCost: one hash with the Swift libraries (BoringSSL's PBKDF2
    is what Tessera verifies Django's pbkdf2_sha256 with). Returns {name: median seconds}."""
    binary = os.path.join(STATE, "hb_ceiling", ".build", "release", "HashCost")
    if not os.access(binary, os.X_OK):
        return {}
    out = subprocess.run([binary], capture_output=True, text=True, env={**os.environ, "HASH_RUNS": "5"}).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\| (.+?) \| ([\d.]+) \(", line)
        if m:
            costs[m.group(1)] = float(m.group(2)) / 1e3
    return costs


def build_hash_timer():
    out = os.path.join(STATE, "hash_time")
    sh(["cc", "-O2", "-o", out, os.path.join(HERE, "hash_time.c"), "-largon2"])
    return out


# ------------------------------------------------------------------------------------ machine
def machine_info(binary):
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    info = {"date": dt.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": CORES,
            "cpu_model": cpu, "mem_gib": round(mem_kb / 2**20, 1), "kernel": platform.release(),
            "loadavg_start": open("/proc/loadavg").read().split()[:3]}

    def ver(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except Exception:
            return "?"
    info["swift"] = ver(["swift", "--version"])
    info["wrk"] = ver(["sh", "-c", "wrk -v 2>&1"])
    info["postgres"] = ver([os.path.join(PGBIN, "postgres"), "--version"])
    info["python"] = sys.version.split()[0]
    info["libargon2"] = ver(["sh", "-c", "dpkg-query -W -f '${Version}' libargon2-1 2>/dev/null || echo ?"])
    info["tessera_binary"] = binary
    try:
        info["tessera_git"] = sh(["git", "-C", MAIN, "rev-parse", "--short", "HEAD"]).strip()
        info["tessera_dirty"] = bool(sh(["git", "-C", MAIN, "status", "--porcelain", "--", "Sources", "Package.swift"]).strip())
    except Exception:
        pass
    return info


def time_hashes(timer, django_iters):
    """One Argon2id hash/verify with libargon2 (what Tessera links), single-threaded, and one
    PBKDF2-SHA256 at Django's count (hashlib/OpenSSL, what Django uses)."""
    res = json.loads(sh([timer, "9", str(CORES)]))
    import hashlib
    ts = []
    for _ in range(3):
        t0 = time.perf_counter()
        hashlib.pbkdf2_hmac("sha256", BENCH_PASS.encode(), b"0123456789abcdef", django_iters)
        ts.append(time.perf_counter() - t0)
    res["pbkdf2_iterations"] = django_iters
    res["pbkdf2_median_s"] = statistics.median(ts)
    try:
        import argon2
        ph = argon2.PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1)
        h = ph.hash(BENCH_PASS)
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            ph.verify(h, BENCH_PASS)
            ts.append(time.perf_counter() - t0)
        res["argon2_cffi_verify_median_s"] = statistics.median(ts)
    except ImportError:
        pass
    return res


def django_hash():
    """A Django pbkdf2_sha256 hash of BENCH_PASS made by the peer's own Django, and its iterations."""
    code = ("import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup(); "
            "from django.contrib.auth.hashers import make_password, PBKDF2PasswordHasher as H; "
            f"print(H.iterations); print(make_password({BENCH_PASS!r}))")
    out = sh([sys.executable, "-c", code], cwd=DJANGO_DIR, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    iters, encoded = out.strip().splitlines()[-2:]
    assert encoded.startswith("pbkdf2_sha256$"), encoded
    return int(iters), encoded


# ------------------------------------------------------------------------------------ PostgreSQL
class PgCluster:
    """A throwaway PostgreSQL 15 cluster on a free loopback port, configured as run_peer.sh
    configures the peer's (defaults, listen on 127.0.0.1 only)."""

    def __init__(self, root):
        self.root, self.port, self.started = root, free_port(), False
        self.data, self.sock = os.path.join(root, "data"), os.path.join(root, "sock")

    def start(self):
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.data)
        os.makedirs(self.sock)
        if os.geteuid() == 0:
            sh(["chown", "-R", "postgres:postgres", self.root])
        sh(as_postgres([os.path.join(PGBIN, "initdb"), "-D", self.data, "-U", "postgres", "-A", "trust", "-E", "UTF8"]))
        sh(as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.root, "postgres.log"), "-w",
                        "-o", f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1", "start"]))
        self.started = True
        log(f"PostgreSQL for Tessera on 127.0.0.1:{self.port}")

    def pid(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            return int(f.readline())

    def recreate(self, name):
        import psycopg2
        c = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        c.autocommit = True
        with c.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{name}"')
        c.close()
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        if self.started:
            subprocess.run(as_postgres([os.path.join(PGBIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"]),
                           capture_output=True)
            self.started = False


# ------------------------------------------------------------------------------------ Tessera
class TesseraDB:
    """Direct SQL on Tessera's schema, for seeding (Sources/Tessera/Storage/Migrations.swift):
    ids TEXT on SQLite / UUID on PostgreSQL, times REAL epoch seconds / TIMESTAMPTZ."""

    def __init__(self, url):
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        if self.sqlite:
            self.conn = sqlite3.connect(url[len("sqlite:"):], timeout=60)
        else:
            import psycopg2
            self.conn = psycopg2.connect(url.replace("postgres://", "postgresql://"))
        self.upper_ids = False

    def q(self, sql, params=()):
        cur = self.conn.cursor()
        cur.execute(sql.replace("%s", "?") if self.sqlite else sql, params)
        return cur

    def many(self, sql, rows):
        cur = self.conn.cursor()
        if self.sqlite:
            cur.executemany(sql.replace("%s", "?"), rows)
        else:
            from psycopg2.extras import execute_values
            head, _, _ = sql.partition("VALUES")
            execute_values(cur, head + "VALUES %s", rows, page_size=5000)

    def now(self):
        return time.time() if self.sqlite else dt.datetime.now(dt.timezone.utc)

    def b(self, v):
        return int(v) if self.sqlite else bool(v)

    def new_id(self):
        s = str(uuid.uuid4())
        return s.upper() if self.upper_ids else s

    def close(self):
        self.conn.commit()
        self.conn.close()


HS256_ENV = {"TESSERA_JWT_ALG": "HS256", "TESSERA_JWT_SECRET": "bench-only-hs256-secret-0123456789abcdef"}


def tessera_env(url, port, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env.update({"TESSERA_DATABASE_URL": url, "TESSERA_HOST": "127.0.0.1", "TESSERA_PORT": str(port),
                "TESSERA_RATE_LIMITS": "off"})
    env.update(extra or {})
    return env


def create_benchuser(binary, url, extra=None):
    """The known user, made by Tessera itself (`tessera create-user`: migrates, creates the signing
    key, hashes with its Argon2id); returns its row's password_hash to share with the seeded users,
    as the peer's seed shares one hash."""
    env = tessera_env(url, 1, extra)
    env["TESSERA_CREATE_USER_PASSWORD"] = BENCH_PASS
    sh([binary, "create-user", "--username", BENCH_USER, "--email", "bench.account@example.com", "--kind", "specialist"], env=env)
    db = TesseraDB(url)
    uid, h = db.q("SELECT id, password_hash FROM users WHERE username_key = %s", (BENCH_USER,)).fetchone()
    db.close()
    return str(uid), h


def seed_users(url, n, password_hash, prefix="user", kinds=("specialist", "client"), with_contact=True, width=4):
    """n active users {prefix}0000.., kinds alternating (half specialists), sharing one hash,
    each with the user_roles row of its built-in role."""
    db = TesseraDB(url)
    if db.sqlite:  # write ids the way Tessera writes them
        some = db.q("SELECT id FROM users LIMIT 1").fetchone()
        db.upper_ids = bool(some) and some[0] == some[0].upper() and some[0] != some[0].lower()
    role_ids = {}
    for kind in set(kinds):
        row = db.q("SELECT id FROM roles WHERE code_name = %s", (kind,)).fetchone()
        role_ids[kind] = str(row[0])
    now = db.now()
    users, roles = [], []
    for i in range(n):
        uid = db.new_id()
        kind = kinds[i % len(kinds)]
        name = f"{prefix}{i:0{width}d}"
        email = f"{name}@example.com" if with_contact else None
        phone = f"+7700{i:07d}" if with_contact else None
        users.append((uid, email, email, phone, name, name, password_hash, "", "", "", kind, "active",
                      db.b(False), db.b(False), now, None))
        roles.append((uid, role_ids[kind]))
    for start in range(0, n, 20000):
        db.many("INSERT INTO users (id, email, email_key, phone, username, username_key, password_hash, first_name, "
                "last_name, middle_name, kind, status, email_verified, phone_verified, date_joined, last_login) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", users[start:start + 20000])
        db.many("INSERT INTO user_roles (user_id, role_id) VALUES (%s, %s)", roles[start:start + 20000])
    db.close()


def peer_seed_words():
    """The peer's seed vocabulary (ADJECTIVES, NOUNS), read from its source without running it, so
    both catalogues hold the same kind of names and `name=a` matches alike."""
    import ast
    src = open(os.path.join(DJANGO_DIR, "accounts", "management", "commands", "seed.py")).read()
    words = {}
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.targets[0].id in ("ADJECTIVES", "NOUNS"):
            words[node.targets[0].id] = ast.literal_eval(node.value)
    return words["ADJECTIVES"], words["NOUNS"]


def seed_services(url, n, seed=42):
    """n services spread over the specialists, drawn as the peer's seed draws them: price 100.00 to
    10,000.00, 15 to 120 minutes, an adjective and a noun."""
    import random
    rng = random.Random(seed)
    adjectives, nouns = peer_seed_words()
    db = TesseraDB(url)
    owners = [r[0] for r in db.q("SELECT id FROM users WHERE kind = %s", ("specialist",)).fetchall()]
    start = time.time()
    rows = []
    for i in range(n):
        at = start - (n - i) if db.sqlite else dt.datetime.fromtimestamp(start - (n - i), dt.timezone.utc)
        rows.append((db.new_id(), rng.choice(owners), f"{rng.choice(adjectives)} {rng.choice(nouns)}",
                     "Seeded service for benchmarking", rng.randint(10000, 1000000), rng.choice([15, 30, 45, 60, 90, 120]), at))
    db.many("INSERT INTO services (id, specialist_id, name, description, price_minor, duration_minutes, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s)", rows)
    db.close()


def availability_path(port, specialist_id):
    """Gives the bench account a week of hours, a one-hour service and three bookings on next
    Monday (through the API, as an app would), and returns that day's availability path."""
    def call(method, path, body, token=None):
        headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
        status, raw = http_status(port, path, timeout=30, method=method, body=None if body is None else json.dumps(body), headers=headers)
        if status >= 300:
            raise RuntimeError(f"{method} {path}: {status} {raw[:200]!r}")
        return json.loads(raw)
    owner = call("POST", "/api/v1/auth/token", {"login": BENCH_USER, "password": BENCH_PASS})["access"]
    call("PUT", "/api/v1/me/schedule", {"timezone": "Europe/Berlin", "days_off": [],
                                         "weekly": [{"weekday": d, "start": "09:00", "end": "13:00"} for d in range(1, 6)] +
                                                   [{"weekday": d, "start": "14:00", "end": "19:00"} for d in range(1, 6)]}, owner)
    service = call("POST", "/api/v1/services", {"name": "Bench massage", "price": "1500.00", "duration_minutes": 60}, owner)["id"]
    day = dt.date.today() + dt.timedelta(days=7 - dt.date.today().weekday())
    path = f"/api/v1/specialists/{specialist_id}/availability?service={service}&date={day.isoformat()}"
    client = call("POST", "/api/v1/auth/token", {"login": "user0001", "password": BENCH_PASS})["access"]
    for slot in call("GET", path, None)["slots"][1:6:2]:
        call("POST", "/api/v1/bookings", {"service": service, "start": slot["start"]}, client)
    return path


def balance_run(cfg, binary, url, port, server_pid, db_pid, hot, label, extra=None):
    """Credits of 1.00 by an administrator (`PATCH /api/v1/balance`, each a ledger entry and an
    audit event in one transaction) to every user in turn, or all to one user (`hot`: every change
    waits for the one row's lock); then `tessera balances verify` recomputes every balance from the
    ledger, and the run records whether they all agree."""
    pb = bench_py()
    db = TesseraDB(url)
    ids = [str(r[0]) for r in db.q("SELECT id FROM users WHERE username_key LIKE %s ORDER BY username_key", ("user%",)).fetchall()]
    db.close()
    path = os.path.join(STATE, "balance-users.txt")
    with open(path, "w") as f:
        f.write("\n".join(ids[:1] if hot else ids) + "\n")
    env = tessera_env(url, 1, extra)
    env["TESSERA_CREATE_USER_PASSWORD"] = BENCH_PASS
    if subprocess.run([binary, "create-user", "--username", "benchadmin", "--roles", "admin"], env=env, capture_output=True).returncode not in (0, 1):
        raise RuntimeError("could not create benchadmin")
    status, raw = http_status(port, "/api/v1/auth/token", timeout=30, method="POST",
                              body=json.dumps({"login": "benchadmin", "password": BENCH_PASS}), headers={"Content-Type": "application/json"})
    if status != 200:
        raise RuntimeError(f"benchadmin sign-in: {status} {raw[:200]!r}")
    wrk_env = {"WRK_PATH": "/api/v1/balance", "WRK_BEARER": json.loads(raw)["access"], "BALANCE_USERS": path}
    roots = {"server": server_pid, "db": db_pid}
    pb.wait_idle(roots)
    r = pb.run_wrk(f"http://127.0.0.1:{port}/", os.path.join(HERE, "lua", "balance.lua"), wrk_env, cfg.duration,
                   cfg.connections, 2, "30s", (), roots)
    verify = subprocess.run([binary, "balances", "verify"], env=tessera_env(url, 1, extra), capture_output=True, text=True)
    r["ledger_check"] = (verify.stdout.strip().splitlines() or ["(no output)"])[-1]
    r["ledger_ok"] = verify.returncode == 0
    r["balance_users"] = 1 if hot else len(ids)
    print(f"   [{label}] {'balance_hot' if hot else 'balance'}: {r['rps']} req/s p50={r['p50_ms']}ms p99={r['p99_ms']}ms "
          f"non2xx={r['non2xx']} users={r['balance_users']}; {r['ledger_check']}"
          + (f" ERROR {r['error'][:200]}" if "error" in r else ""), flush=True)
    return r


def reset_hashes(url, prefix, password_hash):
    db = TesseraDB(url)
    db.q("UPDATE users SET password_hash = %s WHERE username_key LIKE %s", (password_hash, prefix + "%"))
    db.close()


def count_rehashed(url, prefix):
    db = TesseraDB(url)
    n = db.q("SELECT COUNT(*) FROM users WHERE username_key LIKE %s AND password_hash LIKE %s",
             (prefix + "%", "$argon2id$%")).fetchone()[0]
    db.close()
    return n


def http_status(port, path, timeout=2.0, method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_ready(port, proc, path="/ready", timeout=180.0, interval=0.005):
    """Seconds from now until GET path answers 200 (polling every 5 ms)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before ready")
        try:
            if http_status(port, path, timeout=1.0)[0] == 200:
                return time.perf_counter() - t0
        except OSError:
            pass
        time.sleep(interval)
    raise RuntimeError(f"not ready after {timeout} s")


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def start_tessera(binary, url, port, logpath, extra=None):
    logf = open(logpath, "ab")
    env = tessera_env(url, port, extra)
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "serve"], env=env, stdout=logf, stderr=subprocess.STDOUT, cwd=STATE)
    _children.append(p)
    wait_ready(port, p)
    return p, time.perf_counter() - t0  # from spawn to the first 200 of /ready


# ------------------------------------------------------------------------------------ runs
def run_bench_py(args, label):
    """bench.py (read-only, in ../shared) as a subprocess; its progress lines are echoed."""
    cmd = [sys.executable, os.path.join(PEER_BENCH, "bench.py")] + args
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    p.grace = 120
    _children.append(p)
    tail = []
    for line in p.stdout:
        tail = (tail + [line])[-40:]
        if line.startswith("["):
            print("   " + line.rstrip(), flush=True)
    p.wait()
    if p.returncode != 0:
        raise RuntimeError(f"bench.py failed for {label}:\n{''.join(tail)}")


def tessera_round(cfg, binary, pg, rnd, outdir, dj_hash):
    recs = []
    runs = [(dbk, "tessera", None, cfg.workloads) for dbk in cfg.dbs]
    if cfg.hs256 and "sqlite" in cfg.dbs:
        # Like-for-like signatures: SimpleJWT signs HS256 by default, Tessera ES256.
        runs.append(("sqlite", "tessera-hs256", HS256_ENV, [w for w in cfg.workloads if w in ("refresh", "verify", "me")]))
    for dbk, server, extra, workloads in runs:
        if not workloads:
            continue
        label = f"{server} {dbk}"
        log(f"round {rnd}: {label}: seeding")
        if dbk == "sqlite":
            d = os.path.join(STATE, "tessera-sqlite")
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d)
            url = f"sqlite:{d}/tessera.sqlite"
            db_pid = None
        else:
            url = pg.recreate("tessera_bench")
            db_pid = pg.pid()
        bench_id, shared_hash = create_benchuser(binary, url, extra)
        seed_users(url, cfg.users, shared_hash)
        if "catalog" in workloads:
            seed_services(url, CATALOG_SERVICES)
        port = free_port()
        proc, ready = start_tessera(binary, url, port, os.path.join(outdir, f"{server}-{dbk}.log"), extra)
        try:
            log(f"round {rnd}: {label}: ready in {ready:.2f} s (pid {proc.pid}, RSS {rss_mib(proc.pid):.0f} MiB)")
            std = [w for w in workloads if w in STD_WORKLOADS]
            # One hash, timed just before the sign-in runs: on a shared machine the hash-bound
            # limit moves with the others' load, so each round's sign-in rate is set against it.
            hs = time_hashes(cfg.timer, cfg.dj_iters)
            cfg.hash_samples.append(hs)
            times = {"t_argon2_s": hs["verify_median_s"], "t_pbkdf2_s": hs["pbkdf2_median_s"],
                     "t_argon2_hash_s": hs["hash_median_s"], "argon2_parallel_rate": hs.get("parallel_rate")}
            out = os.path.join(outdir, f"{server}-{dbk}.json")
            if std:
                run_bench_py(["run", "--target", "tessera", "--base-url", f"http://127.0.0.1:{port}",
                              "--server-pid", str(proc.pid)] + (["--db-pid", str(db_pid)] if db_pid else []) +
                             ["--label", label, "--workloads", ",".join(std), "--runs", "1",
                              "--duration", str(cfg.duration), "--connections", str(cfg.connections),
                              "--warmup", str(cfg.warmup), "--out", out], label)
                with open(out) as f:
                    res = json.load(f)
                for w, v in res["workloads"].items():
                    recs.append({"server": server, "db": dbk, "workload": w, "round": rnd, **v["runs"][0], **times})
            if "availability" in workloads:
                path = availability_path(port, bench_id)
                out = os.path.join(outdir, f"{server}-{dbk}-availability.json")
                run_bench_py(["wrk", "--url", f"http://127.0.0.1:{port}/", "--path", path, "--server-pid", str(proc.pid),
                              "--label", f"{label} availability", "--runs", "1", "--duration", str(cfg.duration),
                              "--connections", str(cfg.connections), "--warmup", str(cfg.warmup), "--out", out], label)
                with open(out) as f:
                    r = json.load(f)["workloads"][path]["runs"][0]
                recs.append({"server": server, "db": dbk, "workload": "availability", "round": rnd, **r, **times})
            for w in ("balance", "balance_hot"):
                if w in workloads:
                    r = balance_run(cfg, binary, url, port, proc.pid, db_pid, w == "balance_hot", label, extra)
                    recs.append({"server": server, "db": dbk, "workload": w, "round": rnd, **r, **times})
            if "login_pbkdf2" in workloads:
                r = login_pbkdf2(cfg, url, port, proc.pid, db_pid, dj_hash, label)
                recs.append({"server": server, "db": dbk, "workload": "login_pbkdf2", "round": rnd, **r, **times})
        finally:
            stop_proc(proc)
    return recs


def login_pbkdf2(cfg, url, port, server_pid, db_pid, dj_hash, label):
    """Sign-in at Django's hash cost: accounts pbkdf2u00000.. hold a Django pbkdf2_sha256 hash of
    the password (Django's iteration count). Tessera verifies it, signs in, and rehashes it to
    Argon2id, so each account signs in once: the wrk script gives every request its own account,
    and the hashes are re-set before each run. Each request thus costs one PBKDF2 (as Django's
    sign-in does) plus Tessera's one Argon2id rehash.

    Steady state: Tessera's hashing pool is FIFO and each sign-in queues twice (verify, then the
    rehash behind every verify already waiting), so from a cold start the first responses come
    only after ~32 PBKDF2 times / cores — seconds, a large part of a 10 s window. So one wrk run
    lasts warm-up + duration seconds, and the rate is the number of accounts rehashed (one per
    successful sign-in, written in its transaction) during the last `duration` seconds, read
    from the database. wrk's own figures (whole run, transient included) are kept as wrk_*."""
    pb = bench_py()
    prefix = "pbkdf2u"
    warm = max(5, cfg.duration)
    n = 100 * (warm + cfg.duration)  # far more than a run can use
    db = TesseraDB(url)
    have = db.q("SELECT COUNT(*) FROM users WHERE username_key LIKE %s", (prefix + "%",)).fetchone()[0]
    db.close()
    if have == 0:  # a fresh database each round
        seed_users(url, n, dj_hash, prefix=prefix, kinds=("client",), with_contact=False, width=5)
    elif have < n:
        raise RuntimeError(f"{have} {prefix} accounts exist, {n} needed")
    reset_hashes(url, prefix, dj_hash)
    roots = {"server": server_pid, "db": db_pid}
    pb.wait_idle(roots)
    time.sleep(1.0)
    box = {"samples": []}

    def window():
        # The count of rehashed accounts, every 0.1 s: sign-ins complete in bursts (the FIFO pool
        # moves all connections in step), so the rate is taken between the first and the last
        # burst after the warm-up, not over a fixed window that may catch 3 or 4 bursts.
        t_start = time.time()
        while time.time() - t_start < warm + cfg.duration:
            box["samples"].append((time.time() - t_start, count_rehashed(url, prefix)))
            time.sleep(0.1)

    import threading
    th = threading.Thread(target=window, daemon=True)
    body = json.dumps({"login": prefix + "{n}", "password": BENCH_PASS})
    env = {"WRK_PATH": "/api/v1/auth/token", "LOGIN_BODY": body, "LOGIN_USERS": str(n), "LOGIN_PAD": "5"}
    th.start()
    r = pb.run_wrk(f"http://127.0.0.1:{port}/", os.path.join(HERE, "lua", "login_many.lua"), env, warm + cfg.duration,
                   cfg.connections, 2, "30s", (), roots)
    th.join()
    for k in ("login_accounts_used", "login_exhausted"):
        m = re.search(rf"{k}: (\d+)", r.get("raw", ""))
        r[k] = int(m.group(1)) if m else None
    r["drain_s"] = round(pb.wait_idle(roots), 1)
    r["warmup_s"] = warm
    r["wrk_rps"], r["wrk_requests"] = r["rps"], r["requests"]
    smp = [(t, c) for t, c in box["samples"] if t >= warm]
    bursts = [smp[i] for i in range(1, len(smp)) if smp[i][1] > smp[i - 1][1]]  # first sample after each rise
    if len(bursts) >= 2:
        (t0, c0), (t1, c1) = bursts[0], bursts[-1]
        base = max(c for t, c in smp if t < t0)  # the count just before the first burst
        # sign-ins completed from just after the first burst to the last one, over that time
        r["rps"] = round((c1 - bursts[0][1]) / (t1 - t0), 2) if t1 > t0 else None
        r["requests"] = c1 - base
        r["bursts"] = len(bursts)
    else:
        r["rps"], r["requests"], r["bursts"] = None, 0, len(bursts)
    r["rehash_samples"] = box["samples"]
    r["rehashed_total"] = count_rehashed(url, prefix)
    print(f"   [{label}] login_pbkdf2: {r['rps']} sign-ins/s between {r['bursts']} completion bursts in the last "
          f"{cfg.duration} s of {warm + cfg.duration} s "
          f"(wrk over the whole run {r['wrk_rps']} req/s) p50={r['p50_ms']}ms p99={r['p99_ms']}ms non2xx={r['non2xx']} "
          f"rehashed={r['rehashed_total']} exhausted={r['login_exhausted']} rss={r.get('server_rss_mib')}MiB"
          + (f" ERROR {r['error'][:200]}" if "error" in r else ""), flush=True)
    return r


def django_round(cfg, rnd, outdir):
    """run_peer.sh, unchanged: re-creates and seeds the peer's DBs, starts gunicorn, runs bench.py."""
    wl = [w for w in cfg.workloads if w in STD_WORKLOADS]
    if not wl:
        return []
    env = {**os.environ, "DBS": " ".join(cfg.dbs), "WORKER_CLASSES": cfg.django_workers, "RUNS": "1",
           "DURATION": str(cfg.duration), "CONNS": str(cfg.connections), "WORKLOADS": ",".join(wl),
           "PORT": "8000", "PGPORT": str(free_port()), "STATE_DIR": os.path.join(STATE, "django"),
           "OUT": os.path.join(outdir, "django"), "PYTHONDONTWRITEBYTECODE": "1"}
    # run_peer.sh starts gunicorn on $PORT but bench.py reads targets.toml's base_url (port 8000).
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", 8000)) == 0:
            raise RuntimeError("127.0.0.1:8000 is in use; run_peer.sh needs it for gunicorn")
    log(f"round {rnd}: django ({cfg.django_workers}) via run_peer.sh")
    p = subprocess.Popen(["bash", os.path.join(PEER_BENCH, "run_peer.sh")], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    p.grace = 180
    _children.append(p)
    tail = []
    with open(os.path.join(outdir, "django.log"), "w") as logf:
        for line in p.stdout:
            logf.write(line)
            tail = (tail + [line])[-40:]
            if line.startswith("["):
                print("   " + line.rstrip(), flush=True)
    p.wait()
    if p.returncode != 0:
        raise RuntimeError("run_peer.sh failed:\n" + "".join(tail))
    recs = []
    for dbk in cfg.dbs:
        for wc in cfg.django_workers.split():
            path = os.path.join(outdir, "django", f"django-{dbk}-{wc}.json")
            with open(path) as f:
                res = json.load(f)
            for w, v in res["workloads"].items():
                recs.append({"server": f"django-{wc}", "db": dbk, "workload": w, "round": rnd, **v["runs"][0]})
    return recs


def ceiling_round(cfg, binary, rnd, outdir):
    log(f"round {rnd}: bare Hummingbird ceiling")
    port = free_port()
    logf = open(os.path.join(outdir, "hb_ceiling.log"), "ab")
    p = subprocess.Popen([binary], env={**os.environ, "PORT": str(port)}, stdout=logf, stderr=subprocess.STDOUT)
    _children.append(p)
    recs = []
    try:
        wait_ready(port, p, path="/hello", timeout=60)
        for ep in ("hello", "me-es256") + (("me-hs256",) if cfg.hs256 else ()):
            bearer = []
            if ep.startswith("me-"):
                bearer = ["--bearer", http_status(port, "/token/" + ep[3:])[1].decode()]
            out = os.path.join(outdir, f"ceiling-{ep}.json")
            run_bench_py(["wrk", "--url", f"http://127.0.0.1:{port}/", "--path", f"/{ep}", *bearer,
                          "--server-pid", str(p.pid), "--runs", "1", "--duration", str(cfg.duration),
                          "--connections", str(cfg.connections), "--warmup", str(cfg.warmup),
                          "--label", f"hb {ep}", "--out", out], f"hb {ep}")
            with open(out) as f:
                res = json.load(f)
            recs.append({"server": "hb", "db": "-", "workload": ep, "round": rnd,
                         **res["workloads"][f"/{ep}"]["runs"][0]})
    finally:
        stop_proc(p)
    return recs


def startup_times(cfg, binary, pg, outdir):
    """Spawn -> first GET /ready 200: empty database (migrations + first signing key included)
    and one holding N users (already migrated)."""
    rows = []
    for dbk in cfg.dbs:
        for users in (0, cfg.startup_users):
            times, rss = [], []
            url = None
            for i in range(cfg.startup_repeats):
                if users == 0 or url is None:
                    if dbk == "sqlite":
                        d = os.path.join(STATE, f"startup-sqlite-{users}")
                        shutil.rmtree(d, ignore_errors=True)
                        os.makedirs(d)
                        url = f"sqlite:{d}/tessera.sqlite"
                    else:
                        url = pg.recreate(f"tessera_startup_{users}")
                    if users:
                        log(f"startup: seeding {users:,} users on {dbk}")
                        t0 = time.time()
                        _, h = create_benchuser(binary, url)
                        seed_users(url, users - 1, h, width=6)
                        log(f"startup: seeded in {time.time() - t0:.1f} s")
                port = free_port()
                p, ready = start_tessera(binary, url, port, os.path.join(outdir, f"startup-{dbk}-{users}.log"))
                rss.append(rss_mib(p.pid))
                stop_proc(p)
                times.append(ready)
            row = {"db": dbk, "users": users, "ready_s": times, "median_s": statistics.median(times),
                   "idle_rss_mib": statistics.median([x for x in rss if x is not None] or [0])}
            rows.append(row)
            log(f"startup {dbk} {users:,} users: ready in " + ", ".join(f"{t:.3f}" for t in times) +
                f" s (median {row['median_s']:.3f} s), idle RSS {row['idle_rss_mib']:.0f} MiB")
    return rows


# ------------------------------------------------------------------------------------ report
def errors_of(r):
    return sum(r.get(k) or 0 for k in ("non2xx", "sock_connect", "sock_read", "sock_write", "sock_timeout",
                                       "refresh_exhausted", "login_exhausted")) + (1 if r.get("error") else 0)


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def aggregate(recs):
    groups = {}
    for r in recs:
        groups.setdefault((r["server"], r["db"], r["workload"]), []).append(r)
    agg = {}
    for key, rs in groups.items():
        for r in rs:
            if not r.get("requests"):
                r["p50_ms"] = r["p99_ms"] = None
        m = {k: med([r.get(k) for r in rs]) for k in (
            "rps", "p50_ms", "p99_ms", "server_rss_mib", "server_pss_mib", "db_rss_mib", "me_solo_rps",
            "me_solo_p50_ms", "me_solo_p99_ms", "login_rps_during", "rehashed")}
        m["errors"] = sum(errors_of(r) for r in rs)  # total over rounds
        # share of the hash-bound limit, per round against the hash time sampled next to it
        m["hash_share"] = med([r["rps"] * r["t_argon2_s"] / CORES for r in rs if r.get("t_argon2_s") and r.get("rps") is not None])
        m["t_argon2_s"] = med([r.get("t_argon2_s") for r in rs])
        m["parallel_share"] = med([r["rps"] / r["argon2_parallel_rate"] for r in rs
                                   if r.get("argon2_parallel_rate") and r.get("rps") is not None])
        m["argon2_parallel_rate"] = med([r.get("argon2_parallel_rate") for r in rs])
        m["rps_all"] = [r.get("rps") for r in sorted(rs, key=lambda r: r["round"])]
        m["rps_by_round"] = {r["round"]: r.get("rps") for r in rs}
        m["runs"] = len(rs)
        if any("ledger_ok" in r for r in rs):
            m["ledger_ok"] = all(r.get("ledger_ok") for r in rs)
        agg[key] = m
    return agg


def fnum(v, nd=0):
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{max(nd, 1) if abs(v) < 10 else nd}f}"


def fms(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 10:
        return f"{v:.0f} ms"
    return f"{v:.2f} ms"


def ratio(a, b):
    return (a / b) if (a is not None and b) else None


def fratio(x):
    return "-" if x is None else (f"{x:,.0f}×" if x >= 100 else f"{x:.1f}×" if x >= 10 else f"{x:.2f}×")


def report(cfg, agg, info, hashes, startup, dj_iters):
    L = []
    dj = f"django-{cfg.django_workers.split()[0]}"
    names = {"login": "login (Argon2id default vs Django PBKDF2)", "login_pbkdf2": "login at Django's hash cost",
             "refresh": "refresh (fresh token each)", "verify": "verify", "me": "GET /api/v1/me",
             "register": "register", "mixed": "mixed: /me during login storm",
             "catalog": f"services: filtered, ordered page of 20 of {CATALOG_SERVICES:,}", "availability": "a day's free slots",
             "balance": "balance credits, 1,000 users in turn", "balance_hot": "balance credits, all to one user"}
    L.append(f"Medians of {cfg.rounds} round(s) × {cfg.duration} s, wrk -t2 -c{cfg.connections}, "
             f"Django = gunicorn {cfg.django_workers} ({'5 workers' if 'sync' in cfg.django_workers else ''}).")
    L.append("")
    L.append("| DB | workload | Tessera req/s | p50 | p99 | errors | RSS MiB | Django req/s | p50 | p99 | errors | RSS MiB | Tessera/Django |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for dbk in cfg.dbs:
        for w in ALL_WORKLOADS:
            t = agg.get(("tessera", dbk, w))
            d = agg.get((dj, dbk, "login" if w == "login_pbkdf2" else w))
            if not t and not d:
                continue
            t = t or {}
            d = d or {}
            L.append(f"| {dbk} | {names[w]} | {fnum(t.get('rps'), 1)} | {fms(t.get('p50_ms'))} | {fms(t.get('p99_ms'))} | "
                     f"{t.get('errors', '-')} | {fnum(t.get('server_rss_mib'))} | {fnum(d.get('rps'), 1)} | "
                     f"{fms(d.get('p50_ms'))} | {fms(d.get('p99_ms'))} | {d.get('errors', '-')} | "
                     f"{fnum(d.get('server_rss_mib'))} | {fratio(ratio(t.get('rps'), d.get('rps')))} |")
    L.append("")
    L.append("Per round (the machine's load moves between rounds; a round's own ratio compares like with like):")
    L.append("")
    L.append("| DB | workload | Tessera req/s by round | Django req/s by round | Tessera/Django by round | median of round ratios |")
    L.append("|---|---|---|---|---|---:|")
    for dbk in cfg.dbs:
        for w in ALL_WORKLOADS:
            t = agg.get(("tessera", dbk, w), {})
            d = agg.get((dj, dbk, "login" if w == "login_pbkdf2" else w), {})
            if t or d:
                tr, dr = t.get("rps_by_round", {}), d.get("rps_by_round", {})
                rr = [ratio(tr.get(k), dr.get(k)) for k in sorted(set(tr) & set(dr))]
                L.append(f"| {dbk} | {w} | " + " / ".join(fnum(x, 1) for x in t.get("rps_all", [])) + " | " +
                         " / ".join(fnum(x, 1) for x in d.get("rps_all", [])) + " | " +
                         " / ".join(fratio(x) for x in rr) + f" | {fratio(med(rr))} |")
    # mixed details
    L.append("")
    L.append("Mixed: GET /me paced at 4 connections × 20 ms, alone and during a 32-connection login storm:")
    L.append("")
    L.append("| server | DB | /me solo req/s | solo p99 | /me in storm req/s | storm p99 | share of solo | logins/s in storm |")
    L.append("|---|---|---:|---:|---:|---:|---:|---:|")
    for srv in ("tessera", dj):
        for dbk in cfg.dbs:
            m = agg.get((srv, dbk, "mixed"))
            if m:
                L.append(f"| {srv} | {dbk} | {fnum(m['me_solo_rps'], 1)} | {fms(m['me_solo_p99_ms'])} | {fnum(m['rps'], 1)} | "
                         f"{fms(m['p99_ms'])} | {fnum(100 * (ratio(m['rps'], m['me_solo_rps']) or 0))}% | "
                         f"{fnum(m['login_rps_during'], 1)} |")
    # ceiling
    hb_me = agg.get(("hb", "-", "me-es256"), {})
    hb_hello = agg.get(("hb", "-", "hello"), {})
    if hb_me:
        L.append("")
        L.append("Bare Hummingbird 2 (../shared/peers/hb_ceiling), same run:")
        L.append("")
        L.append("| endpoint | req/s | p50 | p99 | RSS MiB | Tessera verify / me as share of it |")
        L.append("|---|---:|---:|---:|---:|---|")
        if hb_hello:
            L.append(f"| GET /hello | {fnum(hb_hello['rps'])} | {fms(hb_hello['p50_ms'])} | {fms(hb_hello['p99_ms'])} | "
                     f"{fnum(hb_hello['server_rss_mib'])} | |")
        shares = []
        for dbk in cfg.dbs:
            for w in ("verify", "me"):
                t = agg.get(("tessera", dbk, w))
                if t:
                    per = [ratio(t["rps_by_round"].get(k), hb_me["rps_by_round"].get(k)) for k in sorted(t["rps_by_round"])]
                    shares.append(f"{dbk} {w} {fnum(100 * ratio(t['rps'], hb_me['rps']))}% (by round "
                                  + "/".join(fnum(100 * x) if x else "-" for x in per) + ")")
        L.append(f"| GET /me-es256 | {fnum(hb_me['rps'])} | {fms(hb_me['p50_ms'])} | {fms(hb_me['p99_ms'])} | "
                 f"{fnum(hb_me['server_rss_mib'])} | {', '.join(shares)} |")
    # like-for-like signatures
    hb_hs = agg.get(("hb", "-", "me-hs256"))
    if any(k[0] == "tessera-hs256" for k in agg):
        L.append("")
        L.append("Like-for-like signatures (SimpleJWT signs HS256; Tessera's default is ES256), SQLite:")
        L.append("")
        L.append("| workload | Tessera ES256 | Tessera HS256 | Django (HS256) | HS256 Tessera/Django | bare Hummingbird /me-hs256 | HS256 Tessera share of it |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        for w in ("refresh", "verify", "me"):
            te, th, d = agg.get(("tessera", "sqlite", w), {}), agg.get(("tessera-hs256", "sqlite", w), {}), agg.get((dj, "sqlite", w), {})
            if th:
                share = ratio(th.get("rps"), (hb_hs or {}).get("rps")) if w != "refresh" else None
                L.append(f"| {w} | {fnum(te.get('rps'))} | {fnum(th.get('rps'))} (p99 {fms(th.get('p99_ms'))}, errors {th.get('errors')}) | "
                         f"{fnum(d.get('rps'))} | {fratio(ratio(th.get('rps'), d.get('rps')))} | "
                         f"{fnum((hb_hs or {}).get('rps')) if w != 'refresh' else ''} | {fnum(100 * share) + '%' if share else ''} |")
    # hashing
    t_hash = hashes.get("verify_median_s")
    t_min = min(s["verify_median_s"] for s in hashes["samples"])
    limit = CORES / t_hash if t_hash else None
    L.append("")
    L.append(f"Password hashing (single thread, medians over the run's {len(hashes.get('samples', []))} samples): "
             f"Argon2id m=7168 KiB t=5 p=1 verify {1e3 * t_hash:.1f} ms (libargon2 {info.get('libargon2')}), "
             f"hash {1e3 * hashes['hash_median_s']:.1f} ms; argon2-cffi verify "
             f"{1e3 * (hashes.get('argon2_cffi_verify_median_s') or 0):.1f} ms; PBKDF2-SHA256 {dj_iters:,} it "
             f"(Django's) {1e3 * hashes['pbkdf2_median_s']:.0f} ms (OpenSSL). Hash-bound sign-in limit "
             f"= {CORES} cores / {1e3 * t_hash:.1f} ms = {limit:.0f}/s; at Django's cost "
             f"{CORES / hashes['pbkdf2_median_s']:.1f}/s (+ Tessera's Argon2id rehash: "
             f"{CORES / (hashes['pbkdf2_median_s'] + hashes['hash_median_s']):.1f}/s). {CORES} processes verifying "
             f"Argon2id at once, best sample: {fnum(max(s.get('parallel_rate') or 0 for s in hashes['samples']))}/s in all "
             f"({1e3 * min(s.get('parallel_per_hash_s') or 1 for s in hashes['samples']):.1f} ms per hash against "
             f"{1e3 * t_min:.1f} ms alone: concurrent memory-hard hashes slow each other)." +
             (f" Swift libraries (hb_ceiling's HashCost): " + "; ".join(f"{k} {1e3 * v:.1f} ms" for k, v in hashes["swift"].items())
              if hashes.get("swift") else ""))
    L.append("")
    L.append(f"| sign-in | DB | req/s | one hash (single thread) | hash-bound limit | share | share of the quietest sample's limit ({CORES / t_min:.0f}/s) |")
    L.append("|---|---|---:|---|---:|---:|---:|")
    tp, th = hashes["pbkdf2_median_s"], hashes["hash_median_s"]
    for dbk in cfg.dbs:
        t = agg.get(("tessera", dbk, "login"))
        if t and t.get("t_argon2_s"):
            L.append(f"| Tessera, Argon2id (default) | {dbk} | {fnum(t['rps'], 1)} | verify {1e3 * t['t_argon2_s']:.1f} ms "
                     f"(sampled next to the runs) | {CORES / t['t_argon2_s']:.0f}/s | {fnum(100 * t['hash_share'])}% | "
                     f"{fnum(100 * t['rps'] * t_min / CORES)}% |")
        t = agg.get(("tessera", dbk, "login_pbkdf2"))
        if t and t.get("rps") is not None:
            tps = hashes.get("pbkdf2_swift_s") or tp
            lib = "BoringSSL, what Tessera uses" if hashes.get("pbkdf2_swift_s") else "hashlib"
            lim = CORES / (tps + th)
            L.append(f"| Tessera, Django's pbkdf2_sha256 + Argon2id rehash | {dbk} | {fnum(t['rps'], 1)} | "
                     f"PBKDF2 {1e3 * tps:.0f} ms ({lib}) + Argon2id hash {1e3 * th:.1f} ms | {lim:.1f}/s | {fnum(100 * t['rps'] / lim)}% | |")
        d = agg.get((dj, dbk, "login"))
        if d and d.get("rps") is not None:
            lim = CORES / tp
            L.append(f"| Django, pbkdf2_sha256 | {dbk} | {fnum(d['rps'], 1)} | PBKDF2 {1e3 * tp:.0f} ms (hashlib) | {lim:.1f}/s | "
                     f"{fnum(100 * d['rps'] / lim)}% | |")
    if startup:
        L.append("")
        L.append("| start → GET /ready 200 | DB | runs (s) | median | idle RSS MiB |")
        L.append("|---|---|---|---:|---:|")
        for s in startup:
            what = "empty database" if s["users"] == 0 else f"{s['users']:,} users"
            L.append(f"| {what} | {s['db']} | {', '.join(f'{x:.3f}' for x in s['ready_s'])} | {s['median_s']:.3f} s | {s['idle_rss_mib']:.0f} |")
    # targets
    L.append("")
    L.append("Targets (issues 4, 10 and 11):")
    L.append("")
    verdicts = []

    def target(ok, text):
        verdicts.append(ok)
        L.append(f"- {'MET   ' if ok else 'MISSED'} {text}")

    for w in ("verify", "me"):
        for dbk in cfg.dbs:
            t, d = agg.get(("tessera", dbk, w)), agg.get((dj, dbk, w))
            if t and d:
                x = ratio(t["rps"], d["rps"])
                target(x is not None and x >= 10, f"{w} {dbk}: {fnum(t['rps'])}/s = {fratio(x)} Django (≥ 10×)")
            if t and hb_me:
                x = ratio(t["rps"], hb_me["rps"])
                target(x is not None and x >= 0.6, f"{w} {dbk}: {fnum(100 * x)}% of bare Hummingbird ES256 "
                                                   f"{fnum(hb_me['rps'])}/s (≥ 60%)")
    for dbk in cfg.dbs:
        t, d = agg.get(("tessera", dbk, "refresh")), agg.get((dj, dbk, "refresh"))
        if t and d:
            x = ratio(t["rps"], d["rps"])
            target(x is not None and x >= 10 and t["errors"] == 0,
                   f"refresh {dbk}: {fnum(t['rps'])}/s = {fratio(x)} Django (≥ 10×), errors {t['errors']} (0)")
    for dbk in cfg.dbs:
        t = agg.get(("tessera", dbk, "login"))
        if t and t.get("hash_share") is not None:
            x = t["hash_share"]
            target(x >= 0.9, f"login {dbk}: {fnum(t['rps'], 1)}/s = {fnum(100 * x)}% of the hash-bound limit "
                             f"(median over rounds of req/s × t_hash / {CORES}; t_hash next to the runs "
                             f"{1e3 * t['t_argon2_s']:.1f} ms → {CORES / t['t_argon2_s']:.0f}/s) (≥ 90%)")
    for dbk in cfg.dbs:
        t, d = agg.get(("tessera", dbk, "catalog")), agg.get((dj, dbk, "catalog"))
        if t and d:
            x = ratio(t["rps"], d["rps"])
            target(x is not None and x >= 20 and t["p99_ms"] is not None and t["p99_ms"] < 20,
                   f"catalog {dbk}: {fnum(t['rps'])}/s = {fratio(x)} Django (≥ 20×, issue 10), p99 {fms(t['p99_ms'])} (< 20 ms)")
        t = agg.get(("tessera", dbk, "availability"))
        if t and t.get("p99_ms") is not None:
            target(t["p99_ms"] < 20 and t["errors"] == 0,
                   f"availability {dbk}: {fnum(t['rps'])}/s, p99 {fms(t['p99_ms'])} (< 20 ms, issue 10), errors {t['errors']} (0)")
    for dbk in cfg.dbs:
        for w in ("balance", "balance_hot"):
            t = agg.get(("tessera", dbk, w))
            if t:
                target(t["ledger_ok"] and t["errors"] == 0,
                       f"{w} {dbk}: {fnum(t['rps'])}/s, p99 {fms(t['p99_ms'])}, errors {t['errors']} (0); ledger check "
                       f"after every round: {'every balance equals its ledger' if t['ledger_ok'] else 'MISMATCH'} (issue 11)")
    for dbk in cfg.dbs:
        m = agg.get(("tessera", dbk, "mixed"))
        if m and m["p99_ms"] is not None:
            share = ratio(m["rps"], m["me_solo_rps"]) or 0
            target(m["p99_ms"] < 20 and share >= 0.5,
                   f"mixed {dbk}: /me p99 {fms(m['p99_ms'])} (< 20 ms), {fnum(m['rps'])}/s = {fnum(100 * share)}% "
                   f"of solo {fnum(m['me_solo_rps'])}/s (≥ 50%)")
    for dbk in cfg.dbs:
        pairs = []
        for w in ALL_WORKLOADS:
            t, d = agg.get(("tessera", dbk, w)), agg.get((dj, dbk, "login" if w == "login_pbkdf2" else w))
            if t and d and t.get("server_rss_mib") and d.get("server_rss_mib"):
                pairs.append((t["server_rss_mib"] / d["server_rss_mib"], w, t["server_rss_mib"], d["server_rss_mib"]))
        if pairs:
            x, w, tr, dr = max(pairs)
            target(x <= 0.2, f"RSS {dbk}: worst workload {w}: Tessera peak {tr:.0f} MiB vs gunicorn total {dr:.0f} MiB "
                             f"= {100 * x:.0f}% (≤ 20%); Tessera peak over all workloads "
                             f"{max(p[2] for p in pairs):.0f} MiB, gunicorn {min(p[3] for p in pairs):.0f}–{max(p[3] for p in pairs):.0f} MiB")
    L.append("")
    L.append(f"{sum(verdicts)} of {len(verdicts)} targets met.")
    return "\n".join(L)


# ------------------------------------------------------------------------------------ check
def check():
    """Cheap, side-effect-free check for CI (`bench/run --check`): the harness's files parse, and,
    when ../shared/peers is present, bench.py, run_peer.sh and targets.toml's [tessera] are where
    and what the harness expects. Starts nothing, builds nothing, writes nothing."""
    import ast
    import tomllib
    for f in ("harness.py", "perf_profile.py", "scale-out"):
        ast.parse(open(os.path.join(HERE, f)).read(), f)
    subprocess.run(["bash", "-n", os.path.join(HERE, "run")], check=True)
    lua = open(os.path.join(HERE, "lua", "login_many.lua")).read()
    if "function request()" not in lua or "function done(" not in lua:
        sys.exit("bench: lua/login_many.lua lacks request() or done()")
    if shutil.which("cc") and os.path.exists("/usr/include/argon2.h"):
        subprocess.run(["cc", "-fsyntax-only", "-Wall", "-Werror", os.path.join(HERE, "hash_time.c")], check=True)
    if os.path.isdir(PEER_BENCH):
        for f in ("bench.py", "run_peer.sh", "lua/static.lua", "lua/paced.lua", "lua/refresh.lua", "lua/register.lua"):
            if not os.path.exists(os.path.join(PEER_BENCH, f)):
                sys.exit(f"bench: missing {PEER_BENCH}/{f}")
        ast.parse(open(os.path.join(PEER_BENCH, "bench.py")).read(), "bench.py")
        subprocess.run(["bash", "-n", os.path.join(PEER_BENCH, "run_peer.sh")], check=True)
        with open(os.path.join(PEER_BENCH, "targets.toml"), "rb") as f:
            t = tomllib.load(f).get("tessera", {})
        need = ("login", "refresh", "verify", "me", "register", "register_body", "username", "password",
                "f_login_user", "f_login_pass", "f_access", "f_refresh")
        missing = [k for k in need if k not in t]
        if missing:
            sys.exit(f"bench: targets.toml [tessera] lacks {missing}")
        if t["username"] != BENCH_USER or t["password"] != BENCH_PASS:
            sys.exit("bench: targets.toml [tessera] credentials differ from the seeded user")
        print("bench: check ok")
    else:
        print(f"bench: check ok (harness only; {PEER_BENCH} not present)")


# ------------------------------------------------------------------------------------ main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="1 round, 2 s per workload, 2,000-user start-up test")
    ap.add_argument("--check", action="store_true", help="syntax/layout check only (for CI); starts nothing")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dbs", default="sqlite,postgres")
    ap.add_argument("--workloads", default=",".join(ALL_WORKLOADS))
    ap.add_argument("--only", default="tessera,django,ceiling,startup", help="parts to run")
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--startup-users", type=int, default=100_000)
    ap.add_argument("--startup-repeats", type=int, default=3)
    ap.add_argument("--django-workers", default="sync", help="gunicorn worker classes for run_peer.sh")
    ap.add_argument("--no-hs256", dest="hs256", action="store_false",
                    help="skip the like-for-like HS256 runs (Tessera on SQLite with TESSERA_JWT_ALG=HS256; hb /me-hs256)")
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--out", default=None, help="results folder (default bench/results/<time>)")
    cfg = ap.parse_args()
    if cfg.check:
        return check()
    if cfg.smoke:
        cfg.rounds, cfg.duration, cfg.warmup = 1, 2, 1
        cfg.startup_users, cfg.startup_repeats = 2000, 1
    cfg.dbs = [d for d in cfg.dbs.split(",") if d]
    cfg.workloads = [w for w in cfg.workloads.split(",") if w]
    parts = set(cfg.only.split(","))
    bad = [w for w in cfg.workloads if w not in ALL_WORKLOADS]
    if bad:
        sys.exit(f"unknown workloads {bad}; known: {ALL_WORKLOADS}")
    os.makedirs(STATE, exist_ok=True)
    os.makedirs(os.environ["BENCH_STATE"], exist_ok=True)
    outdir = cfg.out or os.path.join(HERE, "results", time.strftime("%Y%m%d-%H%M%S") + ("-smoke" if cfg.smoke else ""))
    os.makedirs(outdir, exist_ok=True)
    log(f"results in {outdir}")

    preflight()
    binary = build_tessera(cfg.skip_build) if parts & {"tessera", "startup"} else None
    hb = build_ceiling(cfg.skip_build) if "ceiling" in parts else None
    timer = build_hash_timer()
    info = machine_info(binary)
    log(f"machine: {info['nproc']} cores, {info['cpu_model']}, {info['mem_gib']} GiB, kernel {info['kernel']}, "
        f"load {' '.join(info['loadavg_start'])}")
    dj_iters, dj_hash = django_hash()
    swift_costs = swift_hash_costs() if "ceiling" in parts else {}
    samples = [time_hashes(timer, dj_iters)]
    cfg.timer, cfg.dj_iters, cfg.hash_samples = timer, dj_iters, samples
    log(f"one Argon2id verify {1e3 * samples[0]['verify_median_s']:.1f} ms, PBKDF2 {dj_iters:,} "
        f"{1e3 * samples[0]['pbkdf2_median_s']:.0f} ms")

    pg = PgCluster(os.path.join(STATE, "pg"))
    recs, startup = [], []
    try:
        if "postgres" in cfg.dbs and ("tessera" in parts or "startup" in parts):
            pg.start()
        if "startup" in parts:
            startup = startup_times(cfg, binary, pg, outdir)
        order = [p for p in ("django", "tessera", "ceiling") if p in parts]
        for rnd in range(1, cfg.rounds + 1):
            rdir = os.path.join(outdir, f"round-{rnd}")
            os.makedirs(rdir, exist_ok=True)
            k = (rnd - 1) % max(1, len(order))
            for part in order[k:] + order[:k]:
                if part == "django":
                    recs += django_round(cfg, rnd, rdir)
                elif part == "tessera":
                    recs += tessera_round(cfg, binary, pg, rnd, rdir, dj_hash)
                elif part == "ceiling":
                    recs += ceiling_round(cfg, hb, rnd, rdir)
            with open(os.path.join(outdir, "records.json"), "w") as f:
                json.dump(recs, f, indent=1)
    finally:
        cleanup()
        pg.stop()

    hashes = {k: med([s.get(k) for s in samples]) for k in samples[0] if isinstance(samples[0][k], (int, float))}
    hashes["samples"] = samples
    hashes["swift"] = swift_costs
    hashes["pbkdf2_swift_s"] = next((v for k, v in swift_costs.items() if k.startswith(f"PBKDF2-SHA256 {dj_iters:,}")), None)
    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    agg = aggregate(recs)
    text = report(cfg, agg, info, hashes, startup, dj_iters)
    header = (f"Run {info['date']} on {info['nproc']} × {info['cpu_model']}, {info['mem_gib']} GiB, kernel "
              f"{info['kernel']}; load average {' '.join(info['loadavg_start'])} at start, "
              f"{' '.join(info['loadavg_end'])} at end. Command: {' '.join(shlex.quote(a) for a in sys.argv)}")
    with open(os.path.join(outdir, "summary.json"), "w") as f:
        json.dump({"config": {k: v for k, v in vars(cfg).items()}, "machine": info, "hashes": hashes,
                   "startup": startup, "aggregate": {"|".join(k): v for k, v in agg.items()}, "records": recs},
                  f, indent=1, default=str)
    with open(os.path.join(outdir, "summary.md"), "w") as f:
        f.write(header + "\n\n" + text + "\n")
    print()
    print(header)
    print()
    print(text)
    print(f"\nresults: {outdir}/summary.md (records: summary.json)")


def cleanup():
    for p in _children:
        stop_proc(p)


def _on_signal(signum, _frame):
    cleanup()
    sys.exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    main()
