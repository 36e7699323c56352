"""Run the ``symopt`` command from a checkout: ``python cli.py derive adam``.

The command itself lives in :mod:`symopt.cli`, which the installed ``symopt`` script runs too.
"""

from symopt.cli import main

if __name__ == "__main__":
    main()
