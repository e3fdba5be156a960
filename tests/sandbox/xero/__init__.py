"""The sandbox Xero's tests: a package, so its conftest does not take the module name ``conftest``
that other test files import the root conftest by."""
