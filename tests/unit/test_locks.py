import os
import threading
import time

from harness import locks


def test_second_holder_says_whom_it_waits_for_then_gets_the_lock(tmp_path):
    path = locks.lock_file(tmp_path / "entry")
    assert path == tmp_path / "entry.lock"
    said, order = [], []

    def second():
        with locks.exclusive(path, "entry X", say=said.append):
            order.append("second")

    with locks.exclusive(path, "entry X"):
        assert path.read_text() == f"{os.getpid()}\n"
        thread = threading.Thread(target=second)
        thread.start()  # flock conflicts between two open files, also in one process
        deadline = time.monotonic() + 10
        while not said:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        order.append("first")
    thread.join(10)
    assert said == [f"waiting for entry X held by pid {os.getpid()}"]
    assert order == ["first", "second"]
    assert path.read_text() == ""  # released: no pid left to blame


def test_free_lock_is_taken_silently(tmp_path):
    said = []
    with locks.exclusive(tmp_path / "sub" / "x.lock", "x", say=said.append):
        pass
    with locks.exclusive(tmp_path / "sub" / "x.lock", "x", say=said.append):
        pass
    assert said == []
