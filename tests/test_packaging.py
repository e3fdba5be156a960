"""The distribution's metadata and the sandbox's optional dependencies."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import airflow_provider_cwgl
from airflow_provider_cwgl import DISTRIBUTION_NAME, get_provider_info


def test_the_version_has_one_source() -> None:
    # pyproject reads __version__ at build time, so the installed metadata and Airflow's provider
    # info must both agree with it (a second hand-kept copy would drift).
    assert metadata.version(DISTRIBUTION_NAME) == airflow_provider_cwgl.__version__
    assert get_provider_info()["versions"] == [airflow_provider_cwgl.__version__]


def test_the_license_is_declared_as_an_spdx_expression_with_its_file() -> None:
    meta = metadata.metadata(DISTRIBUTION_NAME)
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta.get_all("License-File") == ["LICENSE"]
    assert set(meta.get_all("Provides-Extra")) == {
        "s3",
        "gcs",
        "azure",
        "sandbox",
    }  # test tools are not extras


def test_the_package_declares_its_types_and_ships_the_marker() -> None:
    """PEP 561: ``py.typed`` beside the code and in the package data, so type checkers read the
    package's annotations once it is installed from a wheel."""
    from importlib import resources

    import tomllib
    from conftest import REPO

    assert resources.files("airflow_provider_cwgl").joinpath("py.typed").is_file()
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["airflow_provider_cwgl"]


def sandbox_import_without(*blocked: str) -> subprocess.CompletedProcess[str]:
    """Import the sandbox in a fresh interpreter where `blocked` modules cannot be imported."""
    script = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None\n"
        "import airflow_provider_cwgl.sandbox\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)


def test_the_sandbox_without_its_server_dependencies_says_how_to_install_them() -> None:
    result = sandbox_import_without("starlette")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ModuleNotFoundError: The ConnectWise sandbox needs starlette, which is not installed: "
        "pip install 'airflow-provider-cwgl[sandbox]'"
    )
    both = sandbox_import_without("starlette", "uvicorn")
    assert "needs starlette and uvicorn, which is not installed" in both.stderr


def test_the_sandbox_imports_with_its_extra_installed() -> None:
    result = sandbox_import_without()
    assert (result.returncode, result.stderr) == (0, "")


# The plain layers: everything below these, found by walking the package, so a new module is checked too.
PLAIN_PACKAGES = ("connectwise", "glexport", "sandbox", "xero")
PLAIN_MODULES = ("blank", "errors", "output", "output.local")


def plain_modules() -> list[str]:
    import pkgutil

    names = [f"airflow_provider_cwgl.{name}" for name in (*PLAIN_PACKAGES, *PLAIN_MODULES)]
    for package in PLAIN_PACKAGES:
        path = [str(Path(airflow_provider_cwgl.__file__).parent / package)]
        names += [m.name for m in pkgutil.walk_packages(path, f"airflow_provider_cwgl.{package}.")]
    return names


def test_the_plain_layers_import_without_airflow() -> None:
    """Airflow stays at the edges: the client, the exporter, local output and the sandbox run in an
    interpreter where ``airflow`` cannot be imported."""
    modules = plain_modules()
    assert len(modules) >= 30 and "airflow_provider_cwgl.glexport.references.fetch" in modules
    script = (
        "import importlib, sys\n"
        "sys.modules['airflow'] = None\n"
        f"for name in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ImportError as exc:\n"
        "        print(name, exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_airflow_edge_does_need_airflow() -> None:
    """The check above can fail: an Airflow-side module refuses to import with ``airflow`` blocked."""
    script = "import sys\nsys.modules['airflow'] = None\nimport airflow_provider_cwgl.output.resolve\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stderr and "airflow" in result.stderr
