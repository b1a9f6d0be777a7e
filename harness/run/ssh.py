"""Commands in the guest over SSH: timeouts, streaming, the commands.log.

Every command and its output is appended to a commands.log in the run's
results directory. When the connection breaks or a command times out, the
shell asks its `diagnose` callback (the Machine) first: a dead QEMU or a
kernel crash explains the failure better than a socket error. Connecting
(key auth, the pinned host key) is ssh_connect's job; the command and its
result are guest_command's.
"""

import select
import time
import zlib
from pathlib import Path
from typing import Iterator, Sequence

import paramiko

from harness.errors import HarnessError
from harness.run import ssh_connect
from harness.run.guest_command import CommandFailed, CommandResult, output_tail, quote_command
from harness.run.ssh_connect import CONNECTION_ERRORS, Diagnose, diagnosis
from harness.run.ssh_stream import InBandStatus, StreamCounts, gunzip, split_lines


class Shell:
    def __init__(self, client: paramiko.SSHClient, *, log_path: Path | None = None,
                 diagnose: Diagnose | None = None):
        self.client = client
        self.log_path = log_path
        self._diagnose = diagnose

    @classmethod
    def connect(cls, port: int, *, client_key: Path, host_key: str,
                log_path: Path | None = None, host: str = "127.0.0.1",
                retry_seconds: float = 30.0, diagnose: Diagnose | None = None) -> "Shell":
        """Connect as root, retrying while sshd is still slow to answer (TCG)."""
        client = ssh_connect.connect(port, client_key=client_key, host_key=host_key, host=host,
                                     retry_seconds=retry_seconds, diagnose=diagnose)
        return cls(client, log_path=log_path, diagnose=diagnose)

    def _open(self, text: str) -> paramiko.Channel:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise paramiko.SSHException("SSH connection is closed")
        channel = transport.open_session(timeout=15)
        channel.exec_command(text)
        return channel

    def _lost(self, text: str, err: Exception) -> HarnessError:
        context = diagnosis(self._diagnose, f"running `{text}`")
        return HarnessError(
            f"phase 'command': SSH connection lost while running `{text}`: "
            f"{err or type(err).__name__}{context}",
            artifacts=self._artifacts())

    @staticmethod
    def _status(channel: paramiko.Channel) -> int:
        """The exit status of a finished channel; raises EOFError if the connection died.

        paramiko reports -1 when the channel closed without an exit status: the
        command was killed by a signal, or the guest is gone (and the transport
        notices the closed socket a moment after the channel)."""
        status = channel.recv_exit_status()
        if status == -1:
            transport = channel.get_transport()
            for _ in range(20):
                if not transport.is_active():
                    raise EOFError("the SSH connection closed")
                time.sleep(0.1)
        return status

    def _artifacts(self) -> list[str]:
        return [str(self.log_path)] if self.log_path else []

    def _log(self, text: str, body: str) -> None:
        if self.log_path is None:
            return
        with self.log_path.open("a", errors="replace") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} $ {text}\n{body}")
            if body and not body.endswith("\n"):
                log.write("\n")

    def run(self, command: Sequence[str] | str, timeout: float = 60.0, *,
            input: str | bytes | None = None) -> CommandResult:
        """Run a command and wait for it; a non-zero status is returned, not raised."""
        text = quote_command(command)
        started = time.monotonic()
        out, err = bytearray(), bytearray()
        channel = None
        try:
            channel = self._open(text)
            if input is not None:
                channel.settimeout(timeout)  # a command that does not read its input
                channel.sendall(input.encode() if isinstance(input, str) else input)
            channel.shutdown_write()
            while True:
                while channel.recv_ready():
                    out += channel.recv(1 << 16)
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(1 << 16)
                # Only the channel close comes after all data: sshd may send the exit
                # status while the command's last stderr writes are still in its pipe.
                if channel.closed:
                    if not channel.recv_ready() and not channel.recv_stderr_ready():
                        break
                    continue
                remaining = started + timeout - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                select.select([channel], [], [], min(remaining, 0.2))
            status = self._status(channel)
        except TimeoutError:
            raise self._timeout(text, f"did not finish within {timeout:g} s", out, err) from None
        except CONNECTION_ERRORS as error:
            self._log(text, f"--- connection lost: {error}\n{out.decode(errors='replace')}")
            raise self._lost(text, error) from None
        finally:
            if channel is not None:
                channel.close()
        result = CommandResult(text, out.decode(errors="replace"), err.decode(errors="replace"),
                               status, round(time.monotonic() - started, 3))
        self._log(text, f"--- status {status} in {result.seconds:.2f} s\n{result.stdout}"
                  + (f"--- stderr\n{result.stderr}" if result.stderr else ""))
        return result

    def _timeout(self, text: str, what: str, out: bytes, err: bytes) -> HarnessError:
        output = (out + err).decode(errors="replace")
        self._log(text, f"--- {what}\n{output}")
        context = diagnosis(self._diagnose, f"running `{text}`")
        return HarnessError(
            f"phase 'command': `{text}` {what}; output so far:\n      {output_tail(output)}{context}",
            hint="raise this command's timeout, or look for a hung guest in console.log "
                 "(the command may still be running in the guest)",
            artifacts=self._artifacts())

    def check(self, command: Sequence[str] | str, timeout: float = 60.0, *,
              input: str | bytes | None = None) -> CommandResult:
        """run(), raising if the command's status is not 0."""
        result = self.run(command, timeout, input=input)
        if not result.ok:
            raise CommandFailed(
                f"guest command failed (status {result.status}): {result.command}\n"
                f"    stdout: {output_tail(result.stdout)}\n    stderr: {output_tail(result.stderr)}",
                result.status, artifacts=self._artifacts())
        return result

    def stream(self, command: Sequence[str] | str, timeout: float = 60.0, *,
               compressed: bool = False) -> Iterator[str]:
        """Lines of a command's stdout as they arrive (without newlines).

        Only one chunk is held at a time, so multi-hundred-MB debugfs files
        can be parsed on the fly. `timeout` bounds the wait for the next data,
        not the whole stream. A non-zero status raises after the last line.
        `compressed`: the guest pipes the output through `gzip -1` (SSH from
        a TCG guest carries ~7-10 MB/s; debugfs text compresses ~40x) and the
        command's status comes back as a last line with a fresh nonce.

        The parts: `_chunks` (the transport), `gunzip`, `split_lines`, and
        `InBandStatus` (the status line taken off the end).
        """
        text = quote_command(command)
        in_band = InBandStatus.wrap(text) if compressed else None
        started = time.monotonic()
        err = bytearray()
        counts = StreamCounts()
        channel = None
        try:
            channel = self._open(in_band.remote if in_band else text)
            channel.shutdown_write()
            chunks = self._chunks(channel, text, timeout, err, counts)
            lines = split_lines(gunzip(chunks) if in_band else chunks, counts)
            for line in in_band.strip(lines) if in_band else lines:
                yield line.decode(errors="replace")
            status = self._status(channel)
            closing = time.monotonic() + 5
            while not channel.closed and time.monotonic() < closing:  # late stderr, as in run()
                select.select([channel], [], [], 0.1)
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
        except InBandStatus.Missing:
            raise HarnessError(f"guest command `{text}` ended without its status line (gzip or the shell died?)",
                               hint=f"stderr: {output_tail(err.decode(errors='replace'))}",
                               artifacts=self._artifacts()) from None
        except zlib.error as error:
            raise HarnessError(f"guest command `{text}`: its compressed output is corrupt: {error}",
                               artifacts=self._artifacts()) from None
        except CONNECTION_ERRORS as error:
            self._log(text, f"--- connection lost after {counts.lines} lines: {error}\n")
            raise self._lost(text, error) from None
        finally:
            if channel is not None:
                channel.close()
        stderr = err.decode(errors="replace")
        if in_band is not None and status == 0:
            status = in_band.status
        self._log(text, f"--- status {status} in {time.monotonic() - started:.2f} s, "
                  f"streamed {counts.lines} lines ({counts.bytes} bytes{' gzipped' if compressed else ''})\n"
                  + (f"--- stderr\n{stderr}" if stderr else ""))
        if status != 0:
            raise CommandFailed(f"guest command failed (status {status}): {text}\n"
                                f"    stderr: {output_tail(stderr)}", status, artifacts=self._artifacts())

    def _chunks(self, channel: paramiko.Channel, text: str, timeout: float, err: bytearray,
                counts: "StreamCounts") -> Iterator[bytes]:
        """The transport: stdout chunks until EOF, stderr gathered into `err`; raises when
        nothing came for `timeout` seconds."""
        last_data = time.monotonic()
        while True:
            if channel.recv_ready():
                data = channel.recv(1 << 16)
                if not data:
                    break
                counts.bytes += len(data)
                last_data = time.monotonic()
                yield data
                continue
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
            if channel.eof_received or channel.closed:
                break
            if time.monotonic() - last_data > timeout:
                raise self._timeout(text, f"sent nothing for {timeout:g} s after {counts.lines} lines", b"", err)
            select.select([channel], [], [], 0.2)
        tail = b""
        while channel.recv_ready():  # after EOF: whatever is still buffered
            tail += channel.recv(1 << 16)
        counts.bytes += len(tail)
        yield tail

    def stream_lines(self, path: str, timeout: float = 60.0) -> Iterator[str]:
        """Lines of a (large) guest file, read as they arrive (see stream)."""
        return self.stream(["cat", "--", path], timeout=timeout)

    def start(self, command: Sequence[str] | str) -> None:
        """Start a command without waiting for it (e.g. a reboot that ends the connection)."""
        text = quote_command(command)
        self._log(text, "--- started, not waited for\n")
        try:
            self._open(text).shutdown_write()
        except CONNECTION_ERRORS as error:
            raise self._lost(text, error) from None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Shell":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
