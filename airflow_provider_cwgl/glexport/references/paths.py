"""The reference paths the spec's "References To Fetch" setting accepts, in the spec's order."""

from __future__ import annotations

# root -> the paths under it, as the spec lists them
_BY_ROOT = {
    "vendor": "member vendor company billingTerms site taxCode",
    "customer": "company companyType contact site billingTerms taxCode currency",
    "transaction": (
        "company billToCompany companyType invoice invoice/location invoice/territory invoice/agreement"
        " invoice/agreement/agreementAdditions"
        " invoice/agreement/agreementAdditions/agreementAddition/product"
        " site billToSite billingTerms purchaseOrder project currency taxCode shipToCompany shipCompanyType"
        " shipSite shipContact detail/detailItem/currency detail/detailItem/taxCode detail/detailItem/item"
        " detail/detailItem/product detail/detailItem/warehouseSite detail/detailItem/warehouseBin"
        " detail/detailItem/shipmentMethod"
    ),
    "expense": "member company project currency",
    "expenseBill": (
        "member currency detailItem/company detailItem/expenseClass detailItem/currency detailItem/project"
        " detailItem/taxCode detailItem/expenseEntry"
    ),
    "purchaseTransaction": (
        "company companyType contact site currency billingTerms shipToCompany shipToCompanyType"
        " shipToContact shipToSite taxCode purchaseOrder purchaseOrder/taxCode purchaseOrder/purchaseOrderItems"
        " purchaseOrder/purchaseOrderItem/product purchaseOrder/purchaseOrderItem/shipmentMethod"
        " purchaseOrder/purchaseOrderItem/warehouse purchaseOrder/purchaseOrderItem/warehouseBin"
        " purchaseDetailItem/item purchaseDetailItem/currency purchaseDetailItem/shipmentMethod"
        " purchaseDetailItem/warehouseBin purchaseDetailItem/warehouseBin/warehouse"
        " purchaseDetailItem/warehouseSite purchaseDetailItem/taxCode purchaseDetailTaxItem/warehouseBin"
    ),
    "adjustmentTransaction": "adjustmentDetailItem/item",
    "inventoryTransfer": "item currency shipmentMethod bin warehouse transferFromBin transferToBin taxCode",
}

REFERENCE_PATHS: tuple[str, ...] = tuple(
    f"{root}/{path}" for root, paths in _BY_ROOT.items() for path in paths.split()
)
