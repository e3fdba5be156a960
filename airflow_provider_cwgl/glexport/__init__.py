"""GLExport: ConnectWise's general-ledger export model, its schema and its XML form."""
