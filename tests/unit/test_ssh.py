"""Shell against an in-process paramiko SSH server that runs commands with sh."""

import shlex
import socket
import subprocess
import threading
import time
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.errors import HarnessError
from harness.run.guest_command import quote_command
from harness.run.ssh import Shell
from harness.run.ssh_connect import pin_host_key


def make_key(path: Path) -> tuple[paramiko.Ed25519Key, str]:
    """An ed25519 key pair in OpenSSH format: (private key, public key line)."""
    private = Ed25519PrivateKey.generate()
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.OpenSSH,
                                           serialization.NoEncryption()))
    public = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode()
    return paramiko.Ed25519Key.from_private_key_file(str(path)), public


class FakeGuest(paramiko.ServerInterface):
    def __init__(self, client_public: str):
        self.client_blob = client_public.split()[1]

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        ok = username == "root" and key.get_base64() == self.client_blob
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        return paramiko.OPEN_SUCCEEDED

    def check_channel_exec_request(self, channel, command):
        threading.Thread(target=execute, args=(channel, command.decode()), daemon=True).start()
        return True


def execute(channel: paramiko.Channel, command: str) -> None:
    proc = subprocess.Popen(["sh", "-c", command], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def feed():
        while data := channel.recv(65536):
            proc.stdin.write(data)
        proc.stdin.close()

    def pump(source, send):
        while data := source.read1(65536):
            send(data)

    # Like sshd at its worst: the exit status goes out before the last stderr
    # bytes, which only the channel close is guaranteed to follow.
    late_stderr = bytearray()
    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=pump, args=(proc.stdout, channel.sendall)),
               threading.Thread(target=pump, args=(proc.stderr, late_stderr.extend))]
    for thread in threads:
        thread.start()
    threads[1].join()
    threads[2].join()
    proc.stdout.close()
    proc.stderr.close()
    channel.send_exit_status(proc.wait())
    if late_stderr:
        time.sleep(0.3)  # longer than the client's select() tick
        channel.sendall_stderr(bytes(late_stderr))
    channel.close()


@pytest.fixture(scope="module")
def guest(tmp_path_factory):
    """(port, client key path, host key line) of a running fake guest."""
    tmp = tmp_path_factory.mktemp("ssh")
    host_key, host_public = make_key(tmp / "host")
    _, client_public = make_key(tmp / "client")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    transports = []

    def handshake(conn):
        transport = paramiko.Transport(conn)
        transport.add_server_key(host_key)
        transports.append(transport)
        try:
            transport.start_server(server=FakeGuest(client_public))
        except (paramiko.SSHException, EOFError):  # a client that gave up (wrong key)
            pass

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=handshake, args=(conn,), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1], tmp / "client", host_public
    listener.close()
    for transport in transports:
        transport.close()


@pytest.fixture
def shell(guest, tmp_path):
    port, client_key, host_key = guest
    with Shell.connect(port, client_key=client_key, host_key=host_key,
                       log_path=tmp_path / "commands.log", retry_seconds=5) as sh:
        yield sh


def test_quote_command():
    assert quote_command("echo $HOME | wc") == "echo $HOME | wc"
    assert quote_command(["echo", "a b", "$x", "it's"]) == "echo 'a b' '$x' 'it'\"'\"'s'"
    argv = ["printf", "%s\n", "two words", "; rm -rf /", ""]
    assert shlex.split(quote_command(argv)) == argv
    with pytest.raises(ValueError):
        quote_command([])


def test_pin_host_key(tmp_path):
    _, public = make_key(tmp_path / "k")
    keys = paramiko.HostKeys()
    pin_host_key(keys, "127.0.0.1", 2222, public)
    assert keys.lookup("[127.0.0.1]:2222")["ssh-ed25519"].get_base64() == public.split()[1]
    assert keys.lookup("127.0.0.1") is None
    with pytest.raises(HarnessError):
        pin_host_key(keys, "127.0.0.1", 2222, "garbage")


def test_run_returns_output_and_status(shell, tmp_path):
    result = shell.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (result.stdout, result.stderr, result.status) == ("out\n", "err\n", 3)
    assert not result.ok and result.seconds >= 0
    assert result.command == "sh -c 'echo out; echo err >&2; exit 3'"
    log = (tmp_path / "commands.log").read_text()
    assert "$ sh -c 'echo out; echo err >&2; exit 3'" in log and "--- status 3" in log
    assert "err" in log


def test_run_keeps_stderr_sent_after_the_exit_status(shell):
    # A real swapon in the guest: status 255 arrived before "…: Device or resource busy".
    result = shell.run("printf 'swapon: ' >&2; printf '/dev/ghostswap: swapon failed: busy\\n' >&2; exit 255")
    assert result.status == 255
    assert result.stderr == "swapon: /dev/ghostswap: swapon failed: busy\n"


def test_run_with_input(shell):
    result = shell.run("wc -c", timeout=10, input="x" * 300000)
    assert result.stdout.strip() == "300000"


def test_check_raises_with_command_status_and_output(shell):
    assert shell.check("echo fine", timeout=10).stdout == "fine\n"
    with pytest.raises(HarnessError) as err:
        shell.check(["ls", "/no such dir"], timeout=10)
    text = str(err.value)
    assert "status 2" in text and "ls '/no such dir'" in text and "No such file" in text


def test_timeout_names_phase_and_command(shell):
    with pytest.raises(HarnessError, match=r"phase 'command': `echo started; sleep 3` did not "
                                           r"finish within 0.5 s(?s:.*)started"):
        shell.run("echo started; sleep 3", timeout=0.5)


def test_diagnose_is_consulted(guest, tmp_path):
    port, client_key, host_key = guest
    asked = []

    def diagnose(doing, wait):
        asked.append(doing)
        return "kernel crash report(s) so far: BUG: test"

    with Shell.connect(port, client_key=client_key, host_key=host_key, diagnose=diagnose) as sh:
        with pytest.raises(HarnessError, match="BUG: test"):
            sh.run("sleep 3", timeout=0.3)
    assert asked == ["running `sleep 3`"]


def test_stream_lines(shell, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("".join(f"line {i}\n" for i in range(100000)) + "no newline at end")
    lines = shell.stream_lines(str(big))
    assert next(lines) == "line 0"
    rest = list(lines)
    assert len(rest) == 100000 and rest[-2] == "line 99999" and rest[-1] == "no newline at end"
    assert "streamed 100001 lines" in (tmp_path / "commands.log").read_text()


def test_stream_failure_raises_after_output(shell, tmp_path):
    with pytest.raises(HarnessError, match="status 1"):
        list(shell.stream_lines(str(tmp_path / "missing")))


def test_wrong_host_key_is_rejected(guest, tmp_path):
    port, client_key, _ = guest
    _, other = make_key(tmp_path / "other")
    with pytest.raises(HarnessError, match="does not have the guest's host key"):
        Shell.connect(port, client_key=client_key, host_key=other, retry_seconds=2)


def test_wrong_client_key_is_refused(guest, tmp_path):
    port, _, host_key = guest
    make_key(tmp_path / "stranger")
    with pytest.raises(HarnessError, match="refused the harness key"):
        Shell.connect(port, client_key=tmp_path / "stranger", host_key=host_key,
                      retry_seconds=2)


def test_nothing_listening(tmp_path, guest):
    _, client_key, host_key = guest
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(HarnessError, match="phase 'command': could not connect"):
        Shell.connect(port, client_key=client_key, host_key=host_key, retry_seconds=0.2)  # one retry


def test_stream_timeout_is_per_chunk(shell):
    # 0.8 s in all, longer than the timeout, but never 0.5 s without a line.
    lines = list(shell.stream("for i in 1 2 3 4; do echo $i; sleep 0.2; done", timeout=0.5))
    assert lines == ["1", "2", "3", "4"]
    with pytest.raises(HarnessError, match="sent nothing for 0.3 s after 1 lines"):
        list(shell.stream("echo 1; sleep 3", timeout=0.3))


@pytest.mark.parametrize("script, lines", [
    ("printf 'a\\n\\nb\\n'", ["a", "", "b"]),
    ("printf 'a\\nno newline'", ["a", "no newline"]),
    ("printf ''", []),
    ("seq 1 200000", [str(n) for n in range(1, 200001)]),
])
def test_compressed_stream_gives_the_same_lines(shell, script, lines):
    assert list(shell.stream(["sh", "-c", script], timeout=10, compressed=True)) == lines
    assert list(shell.stream(["sh", "-c", script], timeout=10)) == lines


def test_compressed_stream_keeps_the_commands_status(shell, tmp_path):
    with pytest.raises(HarnessError, match=r"(?s)status 4.*stderr: gone"):
        list(shell.stream(["sh", "-c", "echo partial; echo gone >&2; exit 4"], timeout=10, compressed=True))
    log = (tmp_path / "commands.log").read_text()
    assert "status 4" in log and "gzipped" in log


def test_a_spoofed_status_line_is_just_data(shell):
    fake = "mmharness-status-0000000000000000 0"
    assert list(shell.stream(["sh", "-c", f"echo '{fake}'; exit 0"], timeout=10, compressed=True)) == [fake]


def test_stream_failure_names_stderr_sent_after_the_exit_status(shell):
    with pytest.raises(HarnessError, match="late complaint"):
        list(shell.stream("echo one; echo 'late complaint' >&2; exit 4"))


def test_stream_parts_one_at_a_time():
    import gzip

    from harness.run.ssh_stream import InBandStatus, StreamCounts, gunzip, split_lines

    counts = StreamCounts()
    assert list(split_lines([b"a\nb", b"c\n", b"", b"d"], counts)) == [b"a", b"bc", b"d"] and counts.lines == 3
    packed = gzip.compress(b"one\ntwo\n")
    assert b"".join(gunzip([packed[:5], packed[5:]])) == b"one\ntwo\n"
    status = InBandStatus.wrap("cat x")
    assert status.remote == f"{{ cat x; echo {status.marker} $?; }} | gzip -1"
    marker = status.marker.encode()
    assert list(status.strip([b"one", b"two" + marker + b" 3"])) == [b"one", b"two"] and status.status == 3
    with pytest.raises(InBandStatus.Missing):
        list(status.strip([b"one"]))
