"""The local hub: broker and the three services as child processes.

Used by `make up` (until interrupted), `make demo` (commands/demo.py: sample incidents, a
table, exit) and the integration tests (a session fixture), so all three run the hub the
same way.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx

from referral_hub.settings import REPO_ROOT

BROKER_SCRIPT = REPO_ROOT / "deploy" / "kafka" / "broker.sh"
CLUSTER_SCRIPT = REPO_ROOT / "deploy" / "kafka" / "cluster.sh"
SERVICES = ("ingest", "router", "notify")


class ScriptedKafka:
    """Kafka run by one of the project's scripts, which knows start, stop and reset."""

    def _script(self, *command: str) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._script("start")

    def stop(self) -> None:
        self._script("stop")

    def reset(self) -> None:
        self._script("reset")


@dataclass
class LocalBroker(ScriptedKafka):
    """The project's own Kafka broker (deploy/kafka/broker.sh) on a loopback port."""
    port: int = 9092
    controller_port: int = 9093
    run_dir: Path = REPO_ROOT / ".run" / "kafka"
    log_file: Path | None = None  # None: broker.sh's messages on this terminal

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _script(self, *command: str) -> None:
        env = os.environ | {"KAFKA_PORT": str(self.port), "KAFKA_RUN_DIR": str(self.run_dir),
                            "KAFKA_CONTROLLER_PORT": str(self.controller_port)}
        output = None
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            output = open(self.log_file, "ab")
        try:
            status = subprocess.run(["bash", str(BROKER_SCRIPT), *command], env=env,
                                    stdout=output, stderr=output).returncode
        finally:
            if output:
                output.close()
        if status:
            raise RuntimeError(f"the local Kafka broker failed to {' '.join(command)} (broker.sh exit status "
                               f"{status})" + (f"; see {self.log_file}" if self.log_file else ""))


@dataclass
class LocalCluster(ScriptedKafka):
    """Three KRaft nodes of the project's broker as one cluster (deploy/kafka/cluster.sh):
    node n on port_base+n, its controller on port_base+10+n. Topics on it want
    replication 3 and min.insync.replicas 2 (`topic_settings`)."""
    port_base: int = 19100
    run_dir: Path = REPO_ROOT / ".run" / "cluster"

    @property
    def topic_settings(self) -> dict[str, str]:
        return {"RH_KAFKA_TOPIC_REPLICATION_FACTOR": "3", "RH_KAFKA_MIN_INSYNC_REPLICAS": "2"}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port_base + node}" for node in (1, 2, 3))

    def _script(self, *command: str) -> None:
        env = os.environ | {"KAFKA_CLUSTER_PORT_BASE": str(self.port_base),
                            "KAFKA_CLUSTER_RUN_DIR": str(self.run_dir)}
        subprocess.run(["bash", str(CLUSTER_SCRIPT), *command], env=env, check=True)

    def kill_node(self, node: int) -> None:
        """SIGKILL one node, as a crashed machine."""
        self._script("kill", str(node))

    def start_node(self, node: int) -> None:
        self._script("start-node", str(node))


@dataclass
class Services:
    """The ingest, router and notify processes on loopback, configured through RH_* variables.
    Two of these on one broker, with different ports, run two instances of each service."""
    broker: LocalBroker | LocalCluster
    ports: tuple[int, int, int] = (8080, 8081, 8082)
    ingest_metrics_port: int = 8083  # ingest's /metrics; router and notify serve it on their ports
    log_dir: Path | None = None  # None: the services log to this terminal
    # None: memory, rebuilt from the broker's changelogs at every start, so never out of
    # step with a reset broker. A directory: RocksDB there, as in production.
    state_dir: Path | None = None
    settings: dict[str, str] = field(default_factory=dict)  # more RH_* variables
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        ingest, router, notify = self.ports
        state = {"RH_STATE_STORE": "rocksdb://", "RH_STATE_DIR": str(self.state_dir)} \
            if self.state_dir else {"RH_STATE_STORE": "memory://"}
        return {"RH_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap, "RH_INGEST_PORT": str(ingest),
                "RH_INGEST_METRICS_PORT": str(self.ingest_metrics_port),
                "RH_ROUTER_PORT": str(router), "RH_NOTIFY_PORT": str(notify)} | state | self.settings

    def urls(self) -> dict[str, str]:
        return {name: f"http://127.0.0.1:{port}" for name, port in zip(SERVICES, self.ports, strict=True)}

    def metrics_urls(self) -> dict[str, str]:
        """Where each service's /metrics is."""
        return self.urls() | {"ingest": f"http://127.0.0.1:{self.ingest_metrics_port}"}

    def start(self, timeout: float = 60.0) -> None:
        taken = [port for port in (*self.ports, self.ingest_metrics_port) if port_in_use(port)]
        if taken:  # else a hub left running elsewhere would answer our health checks
            raise RuntimeError(f"port(s) {taken} already in use on 127.0.0.1: is another hub running?")
        for name in SERVICES:
            self.start_one(name)
        try:
            self.wait_ready(timeout)
        except Exception:  # one did not start: the others are not left holding their ports
            self.stop()
            raise

    def start_one(self, name: str) -> None:
        output = None
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "referral_hub.commands.cli", name], env=os.environ | self.env,
            stdout=output, stderr=output, cwd=REPO_ROOT)

    def wait_ready(self, timeout: float) -> None:
        """Until each service says it is ready: ingest can write, router and notify have
        their partitions and run their agents."""
        deadline = time.monotonic() + timeout
        for name, url in self.urls().items():
            while not _ready(url):
                process = self.processes.get(name)
                if process and process.poll() is not None:
                    raise RuntimeError(f"{name} exited with status {process.returncode}"
                                       + (f"; see {self.log_dir / (name + '.log')}" if self.log_dir else ""))
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} was not ready ({url}/ready) within {timeout:.0f}s")
                time.sleep(0.3)

    def state(self, name: str) -> str:
        process = self.processes.get(name)
        if process is None:
            return "stopped"
        return "running" if process.poll() is None else f"exited with status {process.returncode}"

    def kill_one(self, name: str) -> None:
        """SIGKILL, as a crashed machine would: no clean shutdown, no final commit."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_one(self, name: str, timeout: float = 30.0) -> None:
        process = self.processes.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in reversed(SERVICES):
            self.stop_one(name)


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_hub(broker: LocalBroker, log_dir: Path | None,
                settings: dict[str, str] | None = None) -> Iterator[Services]:
    broker.start()
    services = Services(broker, log_dir=log_dir, settings=settings or {})
    try:
        services.start()
        yield services
    finally:
        services.stop()
        broker.stop()


def up() -> int:
    broker = LocalBroker()
    with running_hub(broker, log_dir=None) as services:
        print(f"hub running: ingest {services.urls()['ingest']}, Kafka {broker.bootstrap}. "
              "Ctrl-C stops it.", flush=True)
        try:
            while all(p.poll() is None for p in services.processes.values()):
                time.sleep(1)
        except KeyboardInterrupt:
            pass
    return 0
