"""In-memory adapters: a unit of work over dictionaries, and reputation sources set by hand.

Tests use them in place of the database, and a library user can run the engine in memory. They
implement exactly what the repository contract suite demands, errors and messages included.
"""

from commex.adapters.memory.reputations import FixedReputations, NoRatingsYet
from commex.adapters.memory.store import MemoryStore, MemoryUnitOfWork, MemoryUnitOfWorkFactory

__all__ = [
    "FixedReputations",
    "MemoryStore",
    "MemoryUnitOfWork",
    "MemoryUnitOfWorkFactory",
    "NoRatingsYet",
]
