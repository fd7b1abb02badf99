"""The packet-stream plane: ingest, segment, disperse, subcontract and aggregate RTP streams."""
