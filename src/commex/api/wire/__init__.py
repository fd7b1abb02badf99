"""Wire shapes: one serializer per resource, from the services' typed results to the JSON the
API answers (SPEC section 8). The command line's ``--json`` prints the same shapes, so a script
reads one format whichever way it asks."""
