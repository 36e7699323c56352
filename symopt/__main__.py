"""``python -m symopt``: the same command as the installed ``symopt`` script."""

from symopt.cli import main

main()
