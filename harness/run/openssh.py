"""The system OpenSSH client into a guest: a pinned known_hosts file and the ssh argv.

The harness itself talks to guests through paramiko (harness.run.ssh); this is for
people: `mmharness boot` opens an interactive `ssh` with the same key and the
same pinned host key, never asking to trust an unknown host.
"""

from pathlib import Path

from harness.run.guest_command import USER

HOST = "127.0.0.1"


def known_hosts_line(port: int, host_key: str, host: str = HOST) -> str:
    """`[127.0.0.1]:PORT ssh-ed25519 AAAA...`: the name OpenSSH looks up for host:port."""
    name = host if port == 22 else f"[{host}]:{port}"
    return f"{name} {' '.join(host_key.split()[:2])}\n"


def write_known_hosts(path: Path, port: int, host_key: str, host: str = HOST) -> Path:
    path = Path(path)
    path.write_text(known_hosts_line(port, host_key, host))
    return path


def ssh_argv(*, port: int, client_key: Path, known_hosts: Path, host: str = HOST,
             command: list[str] | None = None) -> list[str]:
    """The `ssh` argv (no shell string): key auth only, the host key pinned by known_hosts."""
    argv = ["ssh",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-i", str(client_key),
            "-p", str(port),
            f"{USER}@{host}"]
    if command:
        argv += ["--", *command]
    return argv
