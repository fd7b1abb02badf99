"""The bid writer of `commex serve --workers N` on SQLite: its wire, its server and the HTTP
workers' client (see :mod:`commex.writer`)."""
