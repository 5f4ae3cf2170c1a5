"""A throw-away single-node Slurm cluster on localhost, for tests/test_slurm.py.

Uses Debian's packages (``apt-get install -y slurm-wlm munge``) and needs root. Everything lives
in one temporary folder under /tmp (short paths: the munge socket path must stay under 108
characters):

* ``munged`` with its own key and socket (``AuthInfo=socket=...`` in slurm.conf), so the system's
  munge (key, /run/munge) is neither used nor touched;
* ``slurmctld`` and ``slurmd`` (node ``localhost``) reading that folder's slurm.conf; no
  accounting storage (the Snakemake plugin must query job states with ``squeue``, which is why
  ``MinJobAge`` is long);
* a copy of slurm.conf at /run/slurm/conf/slurm.conf, the place where Slurm's client commands
  look for a configuration when neither ``SLURM_CONF`` nor /etc/slurm/slurm.conf is there (it is
  where a "configless" slurmd keeps its copy). It is needed because the plugin's job step
  executor drops ``SLURM_CONF`` from the environment of the ``srun`` it runs inside each job.
  This is the only file written outside the temporary folder; it is removed by ``stop()``.

Every daemon is stopped by the PID in its pid file (checked against the binary first), jobs are
cancelled before, and the folder is deleted afterwards.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin", "/bin"])
BINARIES = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun", "scontrol", "scancel")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CLIENT_CONF = Path("/run/slurm/conf/slurm.conf")
CONF_MARKER = "# written by tests/slurm_cluster.py"
INSTALL_HINT = "apt-get install -y slurm-wlm munge  (as .ci/run does)"


class SlurmUnavailable(RuntimeError):
    """No local Slurm cluster can be started here (the reason is the message)."""


def which(name: str) -> str | None:
    return shutil.which(name, path=SBIN_PATH)


def check_prerequisites() -> dict[str, str]:
    """{binary: path}, or SlurmUnavailable with the reason why a local cluster cannot run here."""
    found = {name: which(name) for name in BINARIES}
    missing = sorted(name for name, path in found.items() if path is None)
    if missing:
        raise SlurmUnavailable(f"Slurm/munge binaries not found: {', '.join(missing)}; install them with: {INSTALL_HINT}")
    if os.geteuid() != 0:
        raise SlurmUnavailable("starting slurmd needs root (it runs the jobs); run the Slurm test as root")
    if SYSTEM_CONF.exists():
        raise SlurmUnavailable(f"{SYSTEM_CONF} exists (a real Slurm is configured here); the job steps would use it instead of the test cluster")
    if CLIENT_CONF.exists() or CLIENT_CONF.is_symlink():
        if not _remove_stale_client_conf(found["slurmctld"]):
            raise SlurmUnavailable(f"{CLIENT_CONF} exists (a configless slurmd or another test cluster is running)")
    return found  # type: ignore[return-value]


def _remove_stale_client_conf(slurmctld: str) -> bool:
    """Remove CLIENT_CONF if a killed test run left it behind (ours, and its slurmctld is gone)."""
    try:
        text = CLIENT_CONF.read_text()
    except OSError:
        return False
    if not text.startswith(CONF_MARKER):
        return False
    pid_file = next((line.split("=", 1)[1] for line in text.splitlines() if line.startswith("SlurmctldPidFile=")), None)
    if pid_file and LocalSlurm._read_pid(Path(pid_file), slurmctld) is not None:
        return False  # that test cluster is still running
    CLIENT_CONF.unlink()
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class LocalSlurm:
    """``with LocalSlurm() as cluster: subprocess.run([...], env=cluster.env)``.

    ``cpus`` and ``mem_mb`` are what the node declares (``SlurmdParameters=config_overrides``:
    not checked against the hardware, and nothing is enforced: ``TaskPlugin=task/none``). The
    defaults (at least 2 CPUs, at least 32 GB) let two 1-CPU jobs of the project's profile run at
    the same time on a small machine.
    """

    def __init__(self, cpus: int | None = None, mem_mb: int | None = None, min_job_age: int = 600):
        self.bins = check_prerequisites()
        self.cpus = cpus or max(2, os.cpu_count() or 1)
        self.mem_mb = mem_mb or max(32768, memory_mb())
        self.min_job_age = min_job_age
        self.root: Path | None = None
        self._created: list[Path] = []  # folders made outside root (removed if empty at stop)
        self._started: list[tuple[str, Path]] = []  # (binary path, pid file) in start order
        self.env: dict[str, str] = {}

    # ------------------------------------------------------------------ paths
    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def munge_socket(self) -> Path:
        return self.root / "run" / "munge.socket"

    def _write_conf(self, ctld_port: int, slurmd_port: int) -> None:
        r = self.root
        self.conf.write_text(
            "\n".join(
                [
                    f"{CONF_MARKER}: a single-node cluster on localhost",
                    "ClusterName=blurfocus-test",
                    "SlurmctldHost=localhost",
                    f"SlurmctldPort={ctld_port}",
                    f"SlurmdPort={slurmd_port}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={self.munge_socket}",
                    "MpiDefault=none",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "SlurmdParameters=config_overrides",
                    "ReturnToService=2",
                    # finished jobs stay visible to squeue this long (the plugin's status command)
                    f"MinJobAge={self.min_job_age}",
                    "KillWait=5",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldPidFile={r}/run/slurmctld.pid",
                    f"SlurmdPidFile={r}/run/slurmd.pid",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    "SlurmctldDebug=info",
                    "SlurmdDebug=info",
                    f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb} State=UNKNOWN",
                    # without DefMemPerCPU a job without --mem takes the whole node
                    "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE DefMemPerCPU=1000 State=UP",
                    "",
                ]
            )
        )

    # ------------------------------------------------------------------ start / stop
    def start(self, timeout: float = 60.0) -> "LocalSlurm":
        atexit.register(self.stop)
        self.root = Path(tempfile.mkdtemp(prefix="bfslurm-", dir="/tmp"))
        self.root.chmod(0o755)  # munged wants its socket's folders searchable by all
        for sub, mode in (("munge", 0o700), ("run", 0o755), ("log", 0o755), ("state", 0o700), ("spool", 0o755)):
            (self.root / sub).mkdir(mode=mode)
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": SBIN_PATH}
        try:
            self._start_munge()
            self._write_conf(free_port(), free_port())
            self._install_client_conf()
            self._daemon("slurmctld", ["-f", str(self.conf), "-c"], self.root / "run" / "slurmctld.pid")
            self._daemon("slurmd", ["-f", str(self.conf), "-N", "localhost"], self.root / "run" / "slurmd.pid")
            self._wait_idle(timeout)
        except Exception as exc:
            logs = self.log_tail()
            self.stop()
            if isinstance(exc, SlurmUnavailable):
                raise SlurmUnavailable(f"{exc}\n{logs}") from exc
            raise SlurmUnavailable(f"the local Slurm cluster did not start: {type(exc).__name__}: {exc}\n{logs}") from exc
        return self

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        pid = self.root / "run" / "munged.pid"
        self._daemon(
            "munged",
            [
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={pid}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ],
            pid,
        )
        probe = subprocess.run([self.bins["munge"], "-n", "-S", str(self.munge_socket)], capture_output=True, timeout=10)
        if probe.returncode != 0:
            raise SlurmUnavailable(f"munged does not answer: {probe.stderr.decode(errors='replace').strip()}")

    def _install_client_conf(self) -> None:
        missing = []
        p = CLIENT_CONF.parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        for folder in reversed(missing):
            folder.mkdir(mode=0o755)
            self._created.append(folder)
        shutil.copyfile(self.conf, CLIENT_CONF)
        self._created.append(CLIENT_CONF)

    def _daemon(self, name: str, args: list[str], pid_file: Path, timeout: float = 15.0) -> None:
        """Run a daemon that forks into the background and writes ``pid_file``."""
        self._started.append((self.bins[name], pid_file))
        proc = subprocess.run([self.bins[name], *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise SlurmUnavailable(f"{name} exited with {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-2000:]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self._read_pid(pid_file, self.bins[name])
            if pid is not None:
                return
            time.sleep(0.1)
        raise SlurmUnavailable(f"{name} wrote no pid file {pid_file} within {timeout:.0f} s")

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            proc = self.run("sinfo", "-h", "-N", "-n", "localhost", "-o", "%T", check=False)
            state = (proc.stdout + proc.stderr).strip()
            if proc.returncode == 0 and state in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.3)
        raise SlurmUnavailable(f"the node did not become idle within {timeout:.0f} s (sinfo: {state!r})")

    def run(self, cmd: str, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a Slurm client command against this cluster."""
        return subprocess.run([which(cmd) or cmd, *args], env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    @staticmethod
    def _read_pid(pid_file: Path, binary: str) -> int | None:
        """The PID in ``pid_file`` if that process is alive and runs ``binary`` (no PID reuse)."""
        try:
            pid = int(pid_file.read_text().split()[0])
            exe = os.readlink(f"/proc/{pid}/exe")
        except (OSError, ValueError, IndexError):
            return None
        if os.path.realpath(exe.removesuffix(" (deleted)")) != os.path.realpath(binary):
            return None
        return pid

    def stop(self) -> None:
        """Cancel the jobs, stop every daemon by its PID, remove the client config and the folder."""
        if self.root is None:
            return
        if any(name.endswith("slurmctld") for name, _ in self._started):
            self.run("scancel", "--full", "--user", "root", check=False, timeout=15)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                q = self.run("squeue", "-h", "-t", "PD,R,CG,CF,S", "-o", "%i", check=False, timeout=10)
                if q.returncode != 0 or not q.stdout.strip():
                    break
                time.sleep(0.5)
        for binary, pid_file in reversed(self._started):  # slurmd, slurmctld, then munged
            pid = self._read_pid(pid_file, binary)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._read_pid(pid_file, binary) == pid:
                time.sleep(0.1)
            if self._read_pid(pid_file, binary) == pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._started.clear()
        for path in reversed(self._created):
            try:
                path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
            except OSError:
                pass
        self._created.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None
        atexit.unregister(self.stop)

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of each daemon log (for failure messages)."""
        if self.root is None:
            return ""
        out = []
        for log in sorted((self.root / "log").glob("*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def __enter__(self) -> "LocalSlurm":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


if __name__ == "__main__":  # manual check: python tests/slurm_cluster.py
    t0 = time.monotonic()
    with LocalSlurm() as cluster:
        print(f"cluster up in {time.monotonic() - t0:.1f} s at {cluster.root}")
        print(cluster.run("sinfo").stdout)
        job = cluster.run("sbatch", "--parsable", "--wrap", "srun -n1 hostname", "-o", str(cluster.root / "job.out"), "--mem", "100")
        print("job", job.stdout.strip())
        time.sleep(3)
        print(cluster.run("squeue", "--states=all").stdout)
        print((cluster.root / "job.out").read_text() if (cluster.root / "job.out").exists() else "(no output yet)")
    print("stopped")
