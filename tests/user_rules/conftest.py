# A module that fails while imported: for symopt to load (and name the failure), not for pytest's
# doctest collection.
collect_ignore = ["broken_import.py"]
