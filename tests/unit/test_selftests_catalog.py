"""harness/selftests/programs.yaml: the programs, their order and the expected results."""

import pytest

from harness.errors import HarnessError
from harness.selftests import build, catalog, guest


def test_the_catalog_loads_and_names_the_programs_the_issue_asks_for():
    loaded = catalog.load()
    assert {"cow", "khugepaged", "test_memcontrol", "test_zswap"} <= {p.id for p in loaded.programs}
    assert {"cgroup/test_memcontrol", "cgroup/test_zswap", "mm/cow", "mm/khugepaged"} <= set(loaded.targets)
    assert all(program.timeout > 0 and program.why for program in loaded.programs)
    assert [p.id for p in guest.ordered(loaded.programs)][-1] == "test_zswap", "zswap programs run last"
    for expected in loaded.expected:
        assert expected.reason and expected.status in ("skip", "fail", "flaky")


def test_expected_results_match_whole_labels_of_their_program_only(tmp_path):
    path = tmp_path / "programs.yaml"
    path.write_text("programs:\n  - {id: cow, suite: mm, binary: cow, timeout: 10}\n"
                    "  - {id: other, suite: mm, binary: cow, timeout: 10}\n"
                    "expected:\n  cow:\n    - {label: 'with hugetlb .*', status: skip, reason: no hugetlbfs here}\n")
    loaded = catalog.load(path)
    assert loaded.expectation("cow", "with hugetlb (2048 kB)").reason == "no hugetlbfs here"
    assert loaded.expectation("cow", "Basic COW with hugetlb (2048 kB)") is None  # fullmatch
    assert loaded.expectation("other", "with hugetlb (2048 kB)") is None


@pytest.mark.parametrize("text, message", [
    ("programs: []\n", "non-empty list"),
    ("programs:\n  - {id: a, suite: net, binary: a, timeout: 1}\n", "unknown suite 'net'"),
    ("programs:\n  - {id: a, suite: mm, binary: a}\n", "needs id, suite, binary and timeout"),
    ("programs:\n  - {id: a, suite: mm, binary: a, timeout: 1}\nexpected:\n  b: []\n", "no program 'b'"),
    ("programs:\n  - {id: a, suite: mm, binary: a, timeout: 1}\n"
     "expected:\n  a:\n    - {label: x, status: skip, reason: ''}\n", "say why"),
    ("programs:\n  - {id: a, suite: mm, binary: a, timeout: 1}\n"
     "expected:\n  a:\n    - {label: x, status: xpass, reason: r}\n", "status 'xpass'"),
    ("programs:\n  - {id: a, suite: mm, binary: a, timeout: 1}\n"
     "expected:\n  a:\n    - {label: '(', status: skip, reason: r}\n", "not a regular expression"),
    ("programs: [\n", "malformed YAML"),
])
def test_a_bad_catalog_is_an_error_naming_the_file_and_entry(tmp_path, text, message):
    path = tmp_path / "programs.yaml"
    path.write_text(text)
    with pytest.raises(HarnessError, match=message) as error:
        catalog.load(path)
    assert str(path) in str(error.value)


def test_subtests_round_trip_in_order_numbered_from_one(tmp_path):
    path = tmp_path / "subtests.yaml"
    assert catalog.load_subtests(path) == ()
    catalog.dump_subtests({"cow": ["a", "b: c"], "test_zswap": ["test_zswap_usage"]}, "recorded\n\nby hand", path)
    assert path.read_text().startswith("# recorded\n#\n# by hand\n")
    assert [one.id for one in catalog.load_subtests(path)] == ["cow-001-a", "cow-002-b: c", "test_zswap-001-test_zswap_usage"]


def test_the_build_cache_key_changes_with_tree_targets_and_compiler_only():
    key = build.cache_key("tree-a", ["mm/cow", "cgroup/test_zswap"], "gcc 12")
    assert key == build.cache_key("tree-a", ["cgroup/test_zswap", "mm/cow"], "gcc 12")
    assert len({key, build.cache_key("tree-b", ["mm/cow", "cgroup/test_zswap"], "gcc 12"),
                build.cache_key("tree-a", ["mm/cow"], "gcc 12"),
                build.cache_key("tree-a", ["mm/cow", "cgroup/test_zswap"], "gcc 13")}) == 4
