"""Request bodies of the HTTP API, for validation limits and the OpenAPI document.

Amounts are strings (``"12.50"``), never JSON numbers. Each body becomes the command it asks
for; the services apply the rules and name the field of any problem.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
)

from commex.domain.errors import InvalidInput
from commex.services.commands import Eligibility, OpenAuction, Terms

Amount = Annotated[str, StringConstraints(min_length=1, max_length=24), Field(examples=["12.50"])]
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Reason = Annotated[str, StringConstraints(max_length=500)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    roles: Annotated[list[Literal["provider", "recipient"]], Field(min_length=1, max_length=2)]
    password: Annotated[str, StringConstraints(min_length=10, max_length=256)] | None = None


class TermsIn(_Body):
    service: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    duration_s: Annotated[int, Field(ge=1, le=10 * 365 * 86400)]
    window_start: Annotated[str, StringConstraints(max_length=64)] | None = None
    window_end: Annotated[str, StringConstraints(max_length=64)] | None = None
    min_rate_bps: Annotated[int, Field(ge=1, le=10**12)] | None = None
    max_rate_bps: Annotated[int, Field(ge=1, le=10**12)] | None = None
    max_members: Annotated[int, Field(ge=1, le=10_000)] | None = None
    steps: (
        Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=16)]
        | None
    ) = None

    def terms(self) -> Terms:
        return Terms(**self.model_dump(exclude={"steps"}), steps=tuple(self.steps or ()))


class EligibilityIn(_Body):
    min_provider_score: Annotated[float, Field(ge=0, le=1)] | None = None
    min_recipient_score: Annotated[float, Field(ge=0, le=1)] | None = None
    approved_providers: Annotated[list[Id], Field(max_length=500)] | None = None

    def eligibility(self) -> Eligibility:
        return Eligibility(
            self.min_provider_score,
            self.min_recipient_score,
            tuple(self.approved_providers or ()),
        )


class AuctionIn(_Body):
    direction: Literal["forward", "reverse"]
    format: Literal["first-price", "second-price", "english"]
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    terms: TermsIn
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]
    quantity: Annotated[int, Field(ge=1, le=1000)] | None = None
    reserve: Amount | None = None
    closes_at: Annotated[str, StringConstraints(max_length=64)]
    min_increment: Amount | None = None
    soft_close_s: Annotated[int, Field(ge=0, le=3600)] | None = None
    reputation_weight: Annotated[str, StringConstraints(max_length=12)] | float | None = None
    eligibility: EligibilityIn | None = None

    def command(self, owner_id: str) -> OpenAuction:
        return OpenAuction(
            owner_id=owner_id,
            direction=self.direction,
            format=self.format,
            title=self.title,
            terms=self.terms.terms(),
            currency=self.currency,
            closes_at=self.closes_at,
            quantity=self.quantity,
            reserve=self.reserve,
            min_increment=self.min_increment,
            soft_close_s=self.soft_close_s,
            reputation_weight=self.reputation_weight,
            eligibility=None if self.eligibility is None else self.eligibility.eligibility(),
        )


class BidIn(_Body):
    amount: Amount
    max_amount: Amount | None = Field(
        None, description="English only: the proxy limit the exchange may bid up (or down) to."
    )


class ReasonIn(_Body):
    reason: Reason | None = None


class OfferIn(_Body):
    node_url: Annotated[str, StringConstraints(min_length=8, max_length=200)] = Field(
        examples=["http://node.example.net:8765"]
    )
    capabilities: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=32)]],
        Field(min_length=1, max_length=16),
    ]
    price: Amount = Field(description="Price per 1,000 packets processed.")
    currency: Annotated[str, StringConstraints(min_length=3, max_length=3)]


class DeviceIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    user: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    phone_numbers: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=32)]],
        Field(max_length=8, examples=[["+14155550123"]]),
    ] = []


class MemberIn(_Body):
    phone_number: Annotated[str, StringConstraints(min_length=1, max_length=32)] | None = None
    device_id: Id | None = None
    account_id: Id | None = None


class RatingIn(_Body):
    # Strict: "yes", 1 or "5" are not a rating anyone meant; the domain refuses them too.
    satisfied: StrictBool
    score: Annotated[StrictInt, Field(ge=1, le=5)] | None = None
    comment: Annotated[str, StringConstraints(max_length=1000)] | None = None


Seconds = Annotated[
    StrictInt
    | Annotated[float, Field(allow_inf_nan=False)]
    | Annotated[str, StringConstraints(max_length=24)],
    Field(description="Seconds of use (up to 3 decimal places).", examples=[90, 1.5]),
]


class SessionIn(_Body):
    member_id: Id


class UsageIn(_Body):
    member_id: Id
    seconds: Seconds
    bytes: Annotated[StrictInt, Field(ge=0, le=10**15)] | None = None
    session_id: Id | None = Field(None, description="An open session to report into.")
    end: StrictBool = Field(False, description="End the session with this report.")


_Figure = Annotated[StrictInt | StrictFloat, Field(ge=0, le=3_600_000)]


class ReceiverIn(_Body):
    """What the receivers measured over RTCP (S9): over ``streams`` streams, the worst fraction
    lost in one report interval, the packets lost in all, the highest jitter and round trip."""

    streams: Annotated[StrictInt, Field(ge=1, le=1_000_000)]
    fraction_lost: Annotated[StrictInt | StrictFloat, Field(ge=0, le=1)]
    cumulative_lost: Annotated[StrictInt, Field(ge=0, le=10**12)]
    jitter_ms: _Figure
    round_trip_ms: _Figure | None = None


class DeliveryIn(_Body):
    run_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    seconds: Seconds = Field(
        description="Stream-seconds processed: each stream's duration, summed."
    )
    bytes: Annotated[StrictInt, Field(ge=0, le=10**15)]
    packets: Annotated[StrictInt, Field(ge=0, le=10**12)]
    achieved_rate_bps: Annotated[StrictInt, Field(ge=0, le=10**12)]
    receiver: ReceiverIn | None = Field(
        None, description="What the receivers reported over RTCP, when they did."
    )


class CapacityIn(_Body):
    capacity_bps: Annotated[StrictInt, Field(ge=1, le=10**13)]


class MarkReadIn(_Body):
    ids: (
        Annotated[list[Annotated[str, StringConstraints(max_length=100)]], Field(max_length=500)]
        | None
    ) = None
    all: StrictBool | None = None

    def chosen(self) -> tuple[str, ...] | None:
        """The ids to mark, or None for all of them; one of the two must be given."""
        if self.all:
            if self.ids:
                raise InvalidInput("give either ids or all, not both", "ids")
            return None
        if not self.ids:
            raise InvalidInput('name the notices read ("ids") or say "all": true', "ids")
        return tuple(self.ids)


class WebhookIn(_Body):
    url: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    events: Annotated[
        list[Annotated[str, StringConstraints(max_length=40)]], Field(min_length=1, max_length=13)
    ]


# -- subcontracts and node keys (S10) ------------------------------------------------------------


class SubcontractIn(_Body):
    parent_contract_id: Id
    provider_id: Id = Field(description="The provider whose offer does the step.")
    step: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        examples=["transcode:pcmu"]
    )


class PacketsIn(_Body):
    run_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    packets: Annotated[StrictInt, Field(ge=0, le=10**9)]


class OutcomeIn(_Body):
    outcome: Literal["passed", "failed_check", "dead_node", "late"]
    packets: Annotated[StrictInt, Field(ge=0, le=10**12)]
    detail: Annotated[str, StringConstraints(max_length=300)] | None = None


class WorkCheckIn(_Body):
    work_token: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class NodeKeyIn(_Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=80)]
