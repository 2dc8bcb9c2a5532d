#!/usr/bin/env python3
"""Where Tessera's CPU goes under one workload: seeds and starts the release binary as bench/run
does, drives the workload with wrk, and records the server with `perf record -g` meanwhile.

  python3 bench/perf_profile.py --db sqlite --workload verify [--duration 10] [--connections 32]
  python3 bench/perf_profile.py --db postgres --workload me

Workloads: login, refresh (chain of fresh tokens), verify, me. Prints the top symbols (self time,
demangled) and writes perf.data + the full report under bench/results/profile-<time>/.
Also reports how the server's CPU time splits across its threads (NIO event loops, the hashing
pool, SQLite's thread pool) from /proc/<pid>/task.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness as h  # noqa: E402


def thread_cpu(pid):
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                s = f.read()
            name = s[s.index("(") + 1:s.rindex(")")]
            fields = s[s.rindex(")") + 2:].split()
            out[tid] = (name, int(fields[11]) + int(fields[12]))
        except (OSError, ValueError):
            pass
    return out


# Frames worth knowing the inclusive cost of: (label, substring of the demangled symbol).
FRAMES = [
    ("HTTP server + router + middleware (everything in a request)", "HTTPServerHandler"),
    ("JWT verify (jwt-kit JWTSigner.verify: ECDSA + payload decode)", "JWTSigner.verify"),
    ("JWT sign (jwt-kit JWTSigner.sign)", "JWTSigner.sign"),
    ("ECDSA P-256 arithmetic (BoringSSL nistz256)", "nistz256"),
    ("TokenService.header(of:) (JSONDecoder for the JWT header)", "TokenService.header"),
    ("any JSONDecoder.decode", "JSONDecoder.decode"),
    ("any JSONEncoder.encode", "JSONEncoder.encode"),
    ("SQLKit: building SQL text (SQLDatabase.serialize)", "SQLDatabase.serialize"),
    ("SQLite: SQLiteConnection.query", "SQLiteConnection.query"),
    ("SQLite engine (sqlite3_*)", "sqlite3"),
    ("PostgresNIO (any frame)", "Postgres"),
    ("SessionStore.find", "SessionStore.find"),
    ("UserStore.find", "UserStore.find"),
    ("UserStore.roles", "UserStore.roles"),
    ("SessionService.refresh", "SessionService.refresh"),
    ("AuditLog.record", "AuditLog.record"),
    ("Argon2 (libargon2)", "argon2"),
    ("Argon2 fill_segment", "fill_segment"),
    ("PBKDF2 / SHA-256 compression", "sha256_block"),
    ("swift_retain/release", "swift_re"),
    ("malloc/free", "malloc"),
    ("kernel (any syscall)", "entry_SYSCALL_64"),
    ("futex (thread hand-offs)", "futex"),
    ("socket write", "Socket.write"),
    ("socket read", "Socket.read"),
    ("Swift concurrency: job scheduling (swift_task_enqueue*)", "swift_task_enqueue"),
    ("NIOThreadPool work items", "NIOThreadPool"),
    ("Logging (swift-log)", "Logger."),
    ("Metrics", "Metrics"),
]


def inclusive_frames(data):
    raw = subprocess.run(f"perf script -i {data} -F ip,sym 2>/dev/null | swift demangle --simplified",
                         shell=True, capture_output=True, text=True).stdout
    stacks, cur = [], []
    for line in raw.splitlines():
        if not line.strip():
            if cur:
                stacks.append(cur)
            cur = []
        else:
            cur.append(line.strip().split(" ", 1)[-1])
    if cur:
        stacks.append(cur)
    n = max(1, len(stacks))
    rows = []
    for label, pat in FRAMES:
        k = sum(1 for st in stacks if any(pat in fr for fr in st))
        if k:
            rows.append(f"  {100 * k / n:5.1f}%  {label}")
    return f"  ({len(stacks)} samples)\n" + "\n".join(rows)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    ap.add_argument("--workload", default="verify", choices=["login", "refresh", "verify", "me", "hb-es256", "hb-hello"],
                    help="hb-*: the bare Hummingbird ceiling (built by bench/run) instead of Tessera")
    ap.add_argument("--no-perf", action="store_true", help="only CPU time per request, no perf record")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--top", type=int, default=45)
    a = ap.parse_args()
    h.preflight()
    if not a.no_perf and shutil.which("perf") is None:
        h.log("installing perf")
        subprocess.run("apt-get update -qq && apt-get install -y -qq linux-perf", shell=True, check=True)
    pb = h.bench_py()
    os.makedirs(h.STATE, exist_ok=True)
    os.makedirs(os.environ["BENCH_STATE"], exist_ok=True)
    out = os.path.join(HERE, "results", f"profile-{time.strftime('%Y%m%d-%H%M%S')}-{a.db}-{a.workload}")
    os.makedirs(out)
    hb = a.workload.startswith("hb-")
    binary = os.path.join(h.STATE, "hb_ceiling", ".build", "release", "HBCeiling") if hb else h.build_tessera(a.skip_build)
    pg = h.PgCluster(os.path.join(h.STATE, "pg-profile"))
    proc = db_pid = None
    try:
        if hb:
            pass
        elif a.db == "sqlite":
            d = os.path.join(h.STATE, "profile-sqlite")
            subprocess.run(["rm", "-rf", d], check=True)
            os.makedirs(d)
            url = f"sqlite:{d}/tessera.sqlite"
        else:
            pg.start()
            url = pg.recreate("tessera_profile")
            db_pid = pg.pid()
        port = h.free_port()
        if hb:
            proc = subprocess.Popen([binary], env={**os.environ, "PORT": str(port)}, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            h.wait_ready(port, proc, path="/hello", timeout=60)
            t = {"base_url": f"http://127.0.0.1:{port}"}
            script, timeout, pool = "static.lua", "30s", None
            env = {"WRK_METHOD": "GET", "WRK_PATH": "/" + a.workload[3:].replace("es256", "me-es256")}
            if a.workload == "hb-es256":
                env["WRK_BEARER"] = h.http_status(port, "/token/es256")[1].decode()
        else:
            _, hsh = h.create_benchuser(binary, url)
            h.seed_users(url, 1000, hsh)
            proc, _ = h.start_tessera(binary, url, port, os.path.join(out, "tessera.log"))
            import tomllib
            with open(os.path.join(h.PEER_BENCH, "targets.toml"), "rb") as f:
                t = tomllib.load(f)["tessera"]
            t["base_url"] = f"http://127.0.0.1:{port}"
            script, env, timeout, pool = pb.prepare(t, a.workload, "profile")
        # warm-up, as bench.py does
        pb.run_wrk(t["base_url"] + "/", os.path.join(pb.LUA, script), env, 2, a.connections, 2, timeout)
        if a.workload == "refresh":
            script, env, timeout, pool = pb.prepare(t, a.workload, "profile")
        pb.wait_idle({"server": proc.pid, "db": db_pid})
        before = thread_cpu(proc.pid)
        db_before = pb.cpu_ticks(db_pid) if db_pid else 0
        perf = None if a.no_perf else subprocess.Popen(
            ["perf", "record", "-F", "499", "-g", "-p", str(proc.pid), "-o", os.path.join(out, "perf.data"), "--",
             "sleep", str(a.duration)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        r = pb.run_wrk(t["base_url"] + "/", os.path.join(pb.LUA, script), env, a.duration, a.connections, 2,
                       timeout, (), {"server": proc.pid})
        if perf:
            perf.wait()
        after = thread_cpu(proc.pid)
        db_cpu = (pb.cpu_ticks(db_pid) - db_before) / os.sysconf("SC_CLK_TCK") if db_pid else 0.0
        hz = os.sysconf("SC_CLK_TCK")
        groups = {}
        for tid, (name, ticks) in after.items():
            d = ticks - before.get(tid, (name, 0))[1]
            groups[name] = groups.get(name, 0) + d / hz
        print(f"{a.workload} on {a.db}: {r['rps']} req/s p50={r['p50_ms']} ms p99={r['p99_ms']} ms "
              f"non2xx={r['non2xx']} RSS={r.get('server_rss_mib')} MiB")
        total = sum(groups.values())
        n = max(1, r.get("requests") or 0)
        r["server_cpu_ms_per_req"] = 1e3 * total / n
        r["db_cpu_ms_per_req"] = 1e3 * db_cpu / n
        print(f"server CPU {total:.1f} s over {a.duration} s ({100 * total / a.duration:.0f}% of one core) = "
              f"{1e3 * total / n:.3f} ms per request" + (f"; PostgreSQL {1e3 * db_cpu / n:.3f} ms per request" if db_pid else ""))
        print("by thread name:")
        for name, s in sorted(groups.items(), key=lambda x: -x[1]):
            if s > 0.05:
                print(f"  {name:24s} {s:6.2f} s  {100 * s / max(total, 1e-9):4.0f}%")
        if a.no_perf:
            with open(os.path.join(out, "result.json"), "w") as f:
                json.dump({"wrk": r, "threads": groups}, f, indent=1)
            return
        rep = subprocess.run(f"perf report -i {out}/perf.data --no-children --sort dso,symbol --stdio -g none "
                             f"--percent-limit 0.4 2>/dev/null | swift demangle --simplified",
                             shell=True, capture_output=True, text=True).stdout
        with open(os.path.join(out, "report.txt"), "w") as f:
            f.write(rep)
        lines = [ln for ln in rep.splitlines() if ln.strip() and not ln.startswith("#")]
        frames = inclusive_frames(os.path.join(out, "perf.data"))
        with open(os.path.join(out, "frames.txt"), "w") as f:
            f.write(frames)
        print("inclusive share of samples (a sample counts for every listed frame on its stack):")
        print(frames)
        print("\n".join(ln[:200] for ln in lines[:a.top]))
        dso = subprocess.run(f"perf report -i {out}/perf.data --no-children --sort dso --stdio -g none 2>/dev/null",
                             shell=True, capture_output=True, text=True).stdout
        with open(os.path.join(out, "by-dso.txt"), "w") as f:
            f.write(dso)
        print("\nby DSO:")
        print("\n".join(ln for ln in dso.splitlines() if ln.strip() and not ln.startswith("#"))[:3000])
        with open(os.path.join(out, "result.json"), "w") as f:
            json.dump({"wrk": r, "threads": groups}, f, indent=1)
        print(f"\nfull report: {out}/report.txt")
    finally:
        h.stop_proc(proc)
        pg.stop()


if __name__ == "__main__":
    main()
