"""Books for the ConnectWise sandbox's documents: a sandbox Xero organisation with the tax rates
and the clearing account those documents need, and the mapping settings that send them there.

What the demo, the guide's try-it step and the tests load the ConnectWise sandbox into. The chart
is the default one (Xero's demo company codes) plus ``2100``; the ConnectWise sandbox's tax codes
get TaxTypes of the same rates.
"""

from __future__ import annotations

from decimal import Decimal

from airflow_provider_cwgl.sandbox.xero.store import XeroStore

# The ConnectWise sandbox's GL accounts -> the chart's codes: revenue, inventory, expenses, and the
# expenses' payable offset to a clearing account (manual journals cannot post to payables).
ACCOUNT_CODES = {"4000": "200", "1300": "630", "6100": "429", "6200": "429", "2000": "2100"}
# The ConnectWise sandbox's tax codes -> (TaxType, rate in percent).
TAX_RATES = {"T0": ("TAX0", "0"), "T1": ("TAX20", "20"), "T5": ("TAX5", "5")}
TAX_RATES |= {"T8": ("TAX825", "8.25"), "T13": ("TAX13", "13")}
TAX_TYPES = {code: tax_type for code, (tax_type, _) in TAX_RATES.items()}


def connectwise_books(name: str = "Sandbox Company") -> XeroStore:
    """An organisation whose chart and tax rates take every ConnectWise sandbox document."""
    store = XeroStore(name=name)
    for tax_type, rate in TAX_RATES.values():
        store.add_tax_rate(tax_type, f"Sales tax {rate}%", Decimal(rate))
    store.add_account("2100", "Employee Reimbursements", "CURRLIAB")
    return store
