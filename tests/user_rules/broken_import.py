import symopt_has_no_such_module_xyz  # noqa: F401
