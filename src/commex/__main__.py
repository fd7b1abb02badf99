"""``python -m commex`` runs the command line."""

from commex.cli.main import main

main()
