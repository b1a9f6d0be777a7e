"""pyproject.toml: the metadata setuptools reads without warnings, and package data that exists."""

import tomllib

from harness.paths import REPO_ROOT

PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def test_license_is_an_spdx_expression():
    # The table form ({text = ...}) is deprecated since setuptools 77, which reads the string.
    assert PROJECT["project"]["license"] == "GPL-2.0-only"
    assert PROJECT["build-system"]["requires"] == ["setuptools>=77"]


def test_every_package_data_glob_matches_files():
    for package, globs in PROJECT["tool"]["setuptools"]["package-data"].items():
        directory = REPO_ROOT.joinpath(*package.split("."))
        for pattern in globs:
            assert [path for path in directory.glob(pattern) if path.is_file()], f"{package}: {pattern}"
