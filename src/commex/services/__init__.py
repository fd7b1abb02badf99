"""The use cases: typed commands and queries (:mod:`commands`, :mod:`queries`), each handled by
one function in the module of its area, in a unit of work its caller owns, answering a typed
result (:mod:`results`). The message bus (:mod:`bus`) routes them, and hands the events of what
was committed to their subscribers; :mod:`handlers` says which function takes what."""
