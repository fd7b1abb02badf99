"""commex: an open exchange for communications services, as a library (SPEC I5).

Build the engine with :func:`in_memory_exchange` (tests, experiments) or :func:`build_exchange`
(SQLite by default, PostgreSQL with ``COMMEX_DATABASE_URL``), then hand it commands and queries::

    import commex

    ex = commex.in_memory_exchange()
    seller = ex.handle(commex.Register("Northwind", ("provider",))).account
    opened = ex.handle(commex.OpenAuction(seller.id, "forward", "english", "Data block", ...))

Each command or query answers a typed result (:class:`AuctionView`, :class:`PlacedBid`, ...),
or raises one of the errors below, all rooted at :class:`CommexError`. Names load on first use,
so ``import commex`` stays cheap for the packet plane and the command line.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "commex.bootstrap": ("build_exchange", "in_memory_exchange"),
    "commex.services.bus": ("MessageBus",),
    "commex.adapters.clock": ("ManualClock", "SequentialIds"),
    "commex.domain.money": ("Money",),
    "commex.domain.audit": ("AuditEntry",),
    "commex.services.commands": (
        "AddCard", "AddMember", "AnswerGroup", "CancelAuction", "Caller", "ChargeDue",
        "CloseAuction", "CloseDue", "Command", "CompleteDue", "CreateGroup", "Eligibility",
        "EndSession", "InviteToGroup", "Login", "Logout", "MakeDefaultCard", "Message",
        "OpenAuction", "OpenGroupAuction", "PlaceBid", "PublishOffer", "Rate", "RecordDelivery",
        "Register", "RegisterDevice", "RemoveCard", "RemoveMember", "ReportUsage",
        "RetryCharges", "RotateToken", "SetCapacity", "Sponsor", "StartDue", "StartSession",
        "Terms",
    ),
    "commex.services.queries": (
        "AnyAccounts", "AuctionState", "Authenticate", "AuthenticateDevice", "CurrentSession",
        "DefaultCard", "DevicesOf", "FindProcessors", "ListAuctions", "ListCards", "MyCharges",
        "MyContractLines", "MyContracts", "MyGroups", "PartyContract", "ProviderContracts",
        "Query", "ShowAccount", "ShowAuction", "ShowCapacity", "ShowContract",
        "ShowAudit", "ShowContractCharges", "ShowGroup", "ShowParty", "ShowUsage",
    ),
    "commex.services.results": (
        "AccountView", "AuditPage", "AuctionSummary", "AuctionView", "BidView", "CapacityView",
        "CardRemoved", "ChargeRun", "ContractCharges", "ContractLine", "ContractView",
        "DeliveryAnswer", "GroupAuction", "GroupBadge", "GroupView", "MemberLine",
        "MemberShare", "OfferLine", "Party", "PlacedBid", "Registered", "RegisteredDevice",
        "Share", "UsageReport", "UsageView", "WebSession",
    ),
    "commex.services.subcontract_messages": (
        "AuthenticateNode", "CheckWork", "CloseSubcontract", "IssueNodeKey", "MeterPackets",
        "MySubcontracts", "NodeKeys", "OpenSubcontract", "ParentSubcontracts", "RevokeNodeKey",
        "ShowSubcontract",
    ),
    "commex.services.subcontract_results": (
        "IssuedKey", "MeteredRun", "NodeCaller", "OpenedSubcontract", "SubcontractLine",
    ),
    "commex.domain.errors": (
        "AuctionNotOpen", "BidRejected", "CommexError", "Conflict", "Forbidden", "InvalidInput",
        "NotEligible", "NotFound", "PaymentMethodRequired", "Suspended", "Throttled",
        "Unauthenticated", "Unavailable",
    ),
    "commex.adapters.payments.stripe_gateway": ("GatewayUnavailable",),
    "commex.adapters.bidwriter.client": ("WriterUnavailable",),
    "commex.client.plane": ("DeliveryNotRecorded",),
    "commex.stream.records": ("MalformedCapture", "UnsupportedCapture"),
    "commex.stream.rtp": ("MalformedPacket",),
    "commex.stream.rtcp": ("RtcpError",),
    "commex.stream.wire": ("WireError",),
    "commex.stream.nodeclient": ("NodeError",),
    "commex.stream.node": (
        "BodyTooLarge", "ContractsUnavailable", "StepNotOffered", "StepsDisagree",
    ),
    "commex.stream.subcontracting": ("StepUnavailable", "SubcontractFailed", "SubcontractRequired"),
    "commex.stream.tasks": ("SegmentFailed",),
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "AccountView",
    "AddCard",
    "AddMember",
    "AnswerGroup",
    "AnyAccounts",
    "AuctionNotOpen",
    "AuctionState",
    "AuctionSummary",
    "AuctionView",
    "AuditEntry",
    "AuditPage",
    "Authenticate",
    "AuthenticateDevice",
    "AuthenticateNode",
    "BidRejected",
    "BidView",
    "BodyTooLarge",
    "Caller",
    "CancelAuction",
    "CapacityView",
    "CardRemoved",
    "ChargeDue",
    "ChargeRun",
    "CheckWork",
    "CloseAuction",
    "CloseDue",
    "CloseSubcontract",
    "Command",
    "CommexError",
    "CompleteDue",
    "Conflict",
    "ContractCharges",
    "ContractLine",
    "ContractView",
    "ContractsUnavailable",
    "CreateGroup",
    "CurrentSession",
    "DefaultCard",
    "DeliveryAnswer",
    "DeliveryNotRecorded",
    "DevicesOf",
    "Eligibility",
    "EndSession",
    "FindProcessors",
    "Forbidden",
    "GatewayUnavailable",
    "GroupAuction",
    "GroupBadge",
    "GroupView",
    "InvalidInput",
    "InviteToGroup",
    "IssueNodeKey",
    "IssuedKey",
    "ListAuctions",
    "ListCards",
    "Login",
    "Logout",
    "MakeDefaultCard",
    "MalformedCapture",
    "MalformedPacket",
    "ManualClock",
    "MemberLine",
    "MemberShare",
    "Message",
    "MessageBus",
    "MeterPackets",
    "MeteredRun",
    "Money",
    "MyCharges",
    "MyContractLines",
    "MyContracts",
    "MyGroups",
    "MySubcontracts",
    "NodeCaller",
    "NodeError",
    "NodeKeys",
    "NotEligible",
    "NotFound",
    "OfferLine",
    "OpenAuction",
    "OpenGroupAuction",
    "OpenSubcontract",
    "OpenedSubcontract",
    "ParentSubcontracts",
    "Party",
    "PartyContract",
    "PaymentMethodRequired",
    "PlaceBid",
    "PlacedBid",
    "ProviderContracts",
    "PublishOffer",
    "Query",
    "Rate",
    "RecordDelivery",
    "Register",
    "RegisterDevice",
    "Registered",
    "RegisteredDevice",
    "RemoveCard",
    "RemoveMember",
    "ReportUsage",
    "RetryCharges",
    "RevokeNodeKey",
    "RotateToken",
    "RtcpError",
    "SegmentFailed",
    "SequentialIds",
    "SetCapacity",
    "Share",
    "ShowAccount",
    "ShowAuction",
    "ShowAudit",
    "ShowCapacity",
    "ShowContract",
    "ShowContractCharges",
    "ShowGroup",
    "ShowParty",
    "ShowSubcontract",
    "ShowUsage",
    "Sponsor",
    "StartDue",
    "StartSession",
    "StepNotOffered",
    "StepUnavailable",
    "StepsDisagree",
    "SubcontractFailed",
    "SubcontractLine",
    "SubcontractRequired",
    "Suspended",
    "Terms",
    "Throttled",
    "Unauthenticated",
    "Unavailable",
    "UnsupportedCapture",
    "UsageReport",
    "UsageView",
    "WebSession",
    "WireError",
    "WriterUnavailable",
    "__version__",
    "build_exchange",
    "in_memory_exchange",
]


def __getattr__(name: str) -> Any:
    """Load an exported name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'commex' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and editors see: every name, from its module
    from commex.adapters.bidwriter.client import WriterUnavailable
    from commex.adapters.clock import ManualClock, SequentialIds
    from commex.adapters.payments.stripe_gateway import GatewayUnavailable
    from commex.bootstrap import build_exchange, in_memory_exchange
    from commex.client.plane import DeliveryNotRecorded
    from commex.domain.audit import AuditEntry
    from commex.domain.errors import (
        AuctionNotOpen,
        BidRejected,
        CommexError,
        Conflict,
        Forbidden,
        InvalidInput,
        NotEligible,
        NotFound,
        PaymentMethodRequired,
        Suspended,
        Throttled,
        Unauthenticated,
        Unavailable,
    )
    from commex.domain.money import Money
    from commex.services.bus import MessageBus
    from commex.services.commands import (
        AddCard,
        AddMember,
        AnswerGroup,
        Caller,
        CancelAuction,
        ChargeDue,
        CloseAuction,
        CloseDue,
        Command,
        CompleteDue,
        CreateGroup,
        Eligibility,
        EndSession,
        InviteToGroup,
        Login,
        Logout,
        MakeDefaultCard,
        Message,
        OpenAuction,
        OpenGroupAuction,
        PlaceBid,
        PublishOffer,
        Rate,
        RecordDelivery,
        Register,
        RegisterDevice,
        RemoveCard,
        RemoveMember,
        ReportUsage,
        RetryCharges,
        RotateToken,
        SetCapacity,
        Sponsor,
        StartDue,
        StartSession,
        Terms,
    )
    from commex.services.queries import (
        AnyAccounts,
        AuctionState,
        Authenticate,
        AuthenticateDevice,
        CurrentSession,
        DefaultCard,
        DevicesOf,
        FindProcessors,
        ListAuctions,
        ListCards,
        MyCharges,
        MyContractLines,
        MyContracts,
        MyGroups,
        PartyContract,
        ProviderContracts,
        Query,
        ShowAccount,
        ShowAuction,
        ShowAudit,
        ShowCapacity,
        ShowContract,
        ShowContractCharges,
        ShowGroup,
        ShowParty,
        ShowUsage,
    )
    from commex.services.results import (
        AccountView,
        AuctionSummary,
        AuctionView,
        AuditPage,
        BidView,
        CapacityView,
        CardRemoved,
        ChargeRun,
        ContractCharges,
        ContractLine,
        ContractView,
        DeliveryAnswer,
        GroupAuction,
        GroupBadge,
        GroupView,
        MemberLine,
        MemberShare,
        OfferLine,
        Party,
        PlacedBid,
        Registered,
        RegisteredDevice,
        Share,
        UsageReport,
        UsageView,
        WebSession,
    )
    from commex.services.subcontract_messages import (
        AuthenticateNode,
        CheckWork,
        CloseSubcontract,
        IssueNodeKey,
        MeterPackets,
        MySubcontracts,
        NodeKeys,
        OpenSubcontract,
        ParentSubcontracts,
        RevokeNodeKey,
        ShowSubcontract,
    )
    from commex.services.subcontract_results import (
        IssuedKey,
        MeteredRun,
        NodeCaller,
        OpenedSubcontract,
        SubcontractLine,
    )
    from commex.stream.node import (
        BodyTooLarge,
        ContractsUnavailable,
        StepNotOffered,
        StepsDisagree,
    )
    from commex.stream.nodeclient import NodeError
    from commex.stream.records import MalformedCapture, UnsupportedCapture
    from commex.stream.rtcp import RtcpError
    from commex.stream.rtp import MalformedPacket
    from commex.stream.subcontracting import (
        StepUnavailable,
        SubcontractFailed,
        SubcontractRequired,
    )
    from commex.stream.tasks import SegmentFailed
    from commex.stream.wire import WireError
