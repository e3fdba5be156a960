"""A local ConnectWise Manage for the demo, the tests and the benchmark (as moto is for AWS).

    from airflow_provider_cwgl.sandbox import Sandbox, generated_store
    with Sandbox(generated_store(transactions=500)) as cw:
        print(cw.url, cw.connection())

Command line: ``python -m airflow_provider_cwgl.sandbox --port 8123``.
"""

from airflow_provider_cwgl.sandbox.data import generated_store, sample_store
from airflow_provider_cwgl.sandbox.faults import Faults, RequestLog
from airflow_provider_cwgl.sandbox.server import DEFAULT_CREDENTIALS, Sandbox
from airflow_provider_cwgl.sandbox.store import SandboxStore

__all__ = [
    "DEFAULT_CREDENTIALS",
    "Faults",
    "RequestLog",
    "Sandbox",
    "SandboxStore",
    "generated_store",
    "sample_store",
]
