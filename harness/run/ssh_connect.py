"""Connecting to the guest's sshd: the pinned host key, the harness's client key, retries while it starts."""

import base64
import logging
import time
from pathlib import Path
from typing import Callable

import paramiko

from harness.errors import HarnessError
from harness.run.guest_command import USER

# Called with what the shell was doing ("running `cmd`") and how long to
# wait for a dying guest to be seen dead; raises a better error if the guest
# is gone, else returns extra context for the message.
Diagnose = Callable[[str, float], str]

CONNECTION_ERRORS = (paramiko.SSHException, EOFError, OSError)
# Failed attempts while sshd starts are expected; our errors say what matters.
# (Without a handler, Python would print paramiko's tracebacks on stderr.)
logging.getLogger("paramiko").addHandler(logging.NullHandler())


def pin_host_key(keys: paramiko.HostKeys, host: str, port: int, host_key: str) -> None:
    """Add the guest's key under the name paramiko looks up for host:port."""
    words = host_key.split()
    if len(words) < 2:
        raise HarnessError(f"not an SSH public key line: {host_key!r}")
    key = paramiko.PKey.from_type_string(words[0], base64.b64decode(words[1]))
    keys.add(host if port == 22 else f"[{host}]:{port}", words[0], key)


def diagnosis(diagnose: Diagnose | None, doing: str, wait: float = 3.0) -> str:
    """What `diagnose` adds to an error message (a line of its own), or ""."""
    if diagnose is None:
        return ""
    context = diagnose(doing, wait)
    return f"\n{context}" if context else ""


def connect(port: int, *, client_key: Path, host_key: str, host: str = "127.0.0.1",
            retry_seconds: float = 30.0, diagnose: Diagnose | None = None) -> paramiko.SSHClient:
    """Connect as root, retrying while sshd is still slow to answer (TCG)."""
    pkey = paramiko.Ed25519Key.from_private_key_file(str(client_key))
    deadline = time.monotonic() + retry_seconds
    while True:
        client = paramiko.SSHClient()
        pin_host_key(client.get_host_keys(), host, port, host_key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        try:
            client.connect(host, port=port, username=USER, pkey=pkey, allow_agent=False,
                           look_for_keys=False, timeout=10, banner_timeout=15,
                           auth_timeout=15)
            client.get_transport().set_keepalive(15)
            return client
        except paramiko.BadHostKeyException:
            client.close()
            raise HarnessError(
                f"the SSH server on {host}:{port} does not have the guest's host key",
                hint="another program may own that port, or the guest image changed "
                     "under a running VM") from None
        except paramiko.AuthenticationException:
            client.close()
            raise HarnessError(
                f"the guest on {host}:{port} refused the harness key for {USER}",
                hint=f"the image's authorized_keys must match {client_key}; "
                     "delete the guest cache entry to rebuild it") from None
        except CONNECTION_ERRORS as err:
            client.close()
            context = diagnosis(diagnose, f"connecting over SSH to {host}:{port}", 0.0)
            if time.monotonic() >= deadline:
                raise HarnessError(
                    f"phase 'command': could not connect over SSH to {host}:{port} "
                    f"within {retry_seconds:g} s: {err}{context}",
                    hint="see console.log: did sshd start in the guest?") from None
            time.sleep(0.5)
