import textwrap
from pathlib import Path

import pytest

from harness.build import kconfig, kconfig_symbols
from harness.errors import HarnessError


def make_kconfigs(root: Path, fragment: str, variables: dict | None = None, extra: str = "") -> Path:
    (root / "profiles").mkdir(parents=True)
    (root / "fragments").mkdir()
    (root / "fragments" / "test.config.j2").write_text(textwrap.dedent(fragment))
    (root / "profiles" / "test.yaml").write_text(
        f"base: tinyconfig\nfragments: [test]\nvars: {variables or {}}\n{extra}")
    return root


def test_render_keeps_template_line_numbers(tmp_path):
    root = make_kconfigs(tmp_path / "kconfigs", """\
        # comment
        CONFIG_SWAP=y
        {{ option("PAGE_OWNER", page_owner) }}
        {{ option("SWAP_PAGE_OWNER", swap) if page_owner else "" }}
        CONFIG_LOG_BUF_SHIFT={{ shift }}
        """, {"page_owner": False, "swap": True, "shift": 17})
    profile = kconfig.load_profile("test", root=root)
    text, requests = kconfig.render(profile)
    by_symbol = {r.symbol: r for r in requests}
    assert by_symbol["SWAP"].origin == "kconfigs/fragments/test.config.j2:2"
    assert by_symbol["PAGE_OWNER"] == kconfig.Request("PAGE_OWNER", "n", "kconfigs/fragments/test.config.j2:3")
    assert "SWAP_PAGE_OWNER" not in by_symbol
    assert by_symbol["LOG_BUF_SHIFT"].value == "17"
    assert "# CONFIG_PAGE_OWNER is not set" in text


def test_templates_see_the_tree_version(tmp_path):
    root = make_kconfigs(tmp_path / "kconfigs", """\
        {% if version >= (6, 15) %}CONFIG_NEW_ONLY=y{% else %}CONFIG_OLD_ONLY=y{% endif %}
        """)
    profile = kconfig.load_profile("test", root=root)
    assert kconfig.render(profile, (7, 3))[0] == "CONFIG_NEW_ONLY=y\n"
    assert kconfig.render(profile, (6, 12))[0] == "CONFIG_OLD_ONLY=y\n"
    with pytest.raises(HarnessError, match="'version' is undefined"):
        kconfig.render(profile)  # a template that needs the tree, rendered without one


def test_tree_version_from_the_makefile(tmp_path):
    (tmp_path / "Makefile").write_text("# SPDX\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\n")
    assert kconfig.tree_version(tmp_path) == (6, 12)
    (tmp_path / "Makefile").write_text("all:\n")
    with pytest.raises(HarnessError, match="no VERSION/PATCHLEVEL"):
        kconfig.tree_version(tmp_path)


def test_profile_variable_override_and_errors(tmp_path):
    root = make_kconfigs(tmp_path / "kconfigs", "{{ option('X', flag) }}\n", {"flag": False})
    assert kconfig.load_profile("test", {"flag": True}, root=root).variables == {"flag": True}
    with pytest.raises(HarnessError, match="unknown variable"):
        kconfig.load_profile("test", {"flga": True}, root=root)
    with pytest.raises(HarnessError, match="unknown Kconfig profile 'nope'.*"):
        kconfig.load_profile("nope", root=root)


def test_undefined_variable_names_the_line(tmp_path):
    root = make_kconfigs(tmp_path / "kconfigs", "CONFIG_A=y\n{{ option('B', missing) }}\n")
    with pytest.raises(HarnessError, match=r"test.config.j2:2: 'missing' is undefined"):
        kconfig.render(kconfig.load_profile("test", root=root))


@pytest.mark.parametrize("expression, expected", [
    ("MMU && BLOCK && !ARCH_NO_SWAP", False),
    ("MMU && !ARCH_NO_SWAP", True),
    ("(BLOCK || MOD) && STR=\"a\"", True),
    ("BLOCK != y", True),
    ("MOD = m", True),
])
def test_evaluate_depends_expressions(expression, expected):
    final = {"MMU": "y", "BLOCK": "n", "MOD": "m", "STR": '"a"'}
    assert kconfig_symbols.evaluate(expression, final) is expected


def test_verify_unknown_until_series():
    profile = kconfig.Profile("p", "", "tinyconfig", (), {}, True, {"SWAP_PAGE_OWNER": "page-owner-swap"})
    request = kconfig.Request("SWAP_PAGE_OWNER", "y", "f.j2:3")
    without = kconfig.verify([request], {}, {}, profile, applied_series=set())
    assert without.errors == [] and "as expected while series page-owner-swap" in without.expected_unknown[0]
    applied = kconfig.verify([request], {}, {}, profile, applied_series={"page-owner-swap"})
    assert applied.errors and "f.j2:3: CONFIG_SWAP_PAGE_OWNER is not a Kconfig symbol" in applied.errors[0]


def test_index_follows_source_and_if_blocks(kernel_tree):
    symbols = kconfig_symbols.index_kconfig(kernel_tree)
    assert symbols["SWAP"].depends == ["MMU && BLOCK && !ARCH_NO_SWAP"]
    assert "BLOCK" in symbols["EXT4_FS"].depends  # from `if BLOCK` around `source "fs/ext4/Kconfig"`
    assert symbols["MEMCG"].depends == ["CGROUPS"]
    assert not symbols["STACKDEPOT"].has_prompt
    assert "BLK_DEV_BRD" not in symbols


def test_dropped_values_name_fragment_line_and_dependency(kernel_tree, tmp_path):
    """Real tinyconfig + olddefconfig on the real 7.3 tree: the three classic silent drops."""
    root = make_kconfigs(tmp_path / "kconfigs", """\
        CONFIG_64BIT=y
        # CONFIG_BLOCK is not set
        CONFIG_SWAP=y
        CONFIG_BLK_DEV_BRD=y
        # CONFIG_CGROUPS is not set
        CONFIG_MEMCG=y
        """)
    profile = kconfig.load_profile("test", root=root)
    with pytest.raises(HarnessError) as caught:
        kconfig.configure(kernel_tree, tmp_path / "build", profile, set(), tmp_path / "config.log")
    message = str(caught.value)
    assert ("kconfigs/fragments/test.config.j2:3: CONFIG_SWAP=y requested, final .config has is not set: "
            "SWAP depends on MMU && BLOCK && !ARCH_NO_SWAP (MMU=y, BLOCK=n, ARCH_NO_SWAP=n)") in message
    assert "test.config.j2:4: CONFIG_BLK_DEV_BRD is not a Kconfig symbol of this tree" in message
    assert "test.config.j2:6: CONFIG_MEMCG=y requested" in message and "MEMCG depends on CGROUPS (CGROUPS=n)" in message
    assert "test.config.j2:1" not in message and "test.config.j2:2" not in message
    assert str(tmp_path / "build" / ".config") in message  # the .config is kept and named


def test_shipped_profile_verifies_on_real_tree(kernel_tree, tmp_path):
    profile = kconfig.load_profile("page-owner", {"page_owner": True, "swap_page_owner": True})
    result = kconfig.configure(kernel_tree, tmp_path / "build", profile, set(), tmp_path / "log")
    assert result.text == result.config.read_text()  # what a build of this run keys on
    final = kconfig.read_config(result.config)
    assert final["PAGE_OWNER"] == "y" and final["SWAP"] == "y" and final["ZSWAP"] == "y"
    assert final.get("UNWINDER_GUESS", "n") == "n"
    if "SWAP_PAGE_OWNER" in kconfig_symbols.index_kconfig(kernel_tree):  # the series is applied to the cached tree
        assert final["SWAP_PAGE_OWNER"] == "y"
    else:
        assert any("SWAP_PAGE_OWNER" in note for note in result.expected_unknown)
