print("The export operator is not built yet.")
