# Modules that exit while imported or looked into: for `symopt check` to load, not for pytest's
# doctest collection.
collect_ignore = ["exits_on_import.py", "exits_on_lookup.py"]
