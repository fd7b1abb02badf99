"""The ports: what the services need from the outside world, as Protocols, by area.

Adapters implement them (SQL, in-memory fakes, the system clock, payment gateways); services
never import an adapter. Repositories serve aggregates (an auction with its bids, a contract
with its members and usage, an account with its credentials), not tables. One contract suite
(``tests/integration/test_repository_contract.py``) runs every method on memory, SQLite and
PostgreSQL.
"""

from commex.services.ports.accounts import (
    AccountRepository,
    Login,
    OfferRepository,
    ResetRecord,
    SessionRecord,
)
from commex.services.ports.auctions import AuctionRepository
from commex.services.ports.audit import AuditTrail
from commex.services.ports.base import (
    Clock,
    EventSubscriber,
    IdGenerator,
    Observer,
    PasswordHasher,
    ReputationSource,
)
from commex.services.ports.billing import (
    ChargeRepository,
    PaymentGateway,
    PaymentMethodRepository,
)
from commex.services.ports.contracts import ContractRepository
from commex.services.ports.groups import GroupRepository
from commex.services.ports.ratings import RatingRepository
from commex.services.ports.subcontracts import NodeKeyRepository, SubcontractRepository
from commex.services.ports.throttles import ThrottleRepository
from commex.services.ports.uow import EventLog, HeldUnitsOfWork, UnitOfWork, UnitOfWorkFactory

__all__ = [
    "AccountRepository",
    "AuctionRepository",
    "AuditTrail",
    "ChargeRepository",
    "Clock",
    "ContractRepository",
    "EventLog",
    "EventSubscriber",
    "GroupRepository",
    "HeldUnitsOfWork",
    "IdGenerator",
    "Login",
    "NodeKeyRepository",
    "Observer",
    "OfferRepository",
    "PasswordHasher",
    "PaymentGateway",
    "PaymentMethodRepository",
    "RatingRepository",
    "ReputationSource",
    "ResetRecord",
    "SessionRecord",
    "SubcontractRepository",
    "ThrottleRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
]
