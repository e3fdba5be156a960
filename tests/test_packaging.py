"""The distribution's metadata and the sandbox's optional dependencies."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

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


PLAIN_MODULES = (
    "airflow_provider_cwgl.connectwise.client",
    "airflow_provider_cwgl.glexport.exporter",
    "airflow_provider_cwgl.glexport.batch",
    "airflow_provider_cwgl.glexport.references",
    "airflow_provider_cwgl.output",
    "airflow_provider_cwgl.output.local",
    "airflow_provider_cwgl.sandbox",
)


@pytest.mark.parametrize("module", PLAIN_MODULES)
def test_the_plain_layers_import_without_airflow(module: str) -> None:
    """Airflow stays at the edges: the client, the exporter, local output and the sandbox run in an
    interpreter where ``airflow`` cannot be imported."""
    script = f"import sys\nsys.modules['airflow'] = None\nimport {module}\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_the_airflow_edge_does_need_airflow() -> None:
    """The check above can fail: an Airflow-side module refuses to import with ``airflow`` blocked."""
    script = "import sys\nsys.modules['airflow'] = None\nimport airflow_provider_cwgl.output.resolve\n"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stderr and "airflow" in result.stderr
