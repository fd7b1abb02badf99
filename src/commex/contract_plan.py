"""The contract drives the plane (S5, S10): a run under ``--contract`` takes its steps from the
contract's ``terms.steps``, and its subcontractors only among the providers the recipient
approved in the auction (when it named any), never the provider itself.

Everything here is decided before a packet is read, so a run that cannot be done as bought
fails with an error naming the field, not halfway through.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from commex.client import ExchangeClient, ExchangeDirectory
from commex.domain.errors import InvalidInput, NotEligible, NotFound
from commex.metering_client import ContractTerms
from commex.stream.pipeline import Plan
from commex.stream.steps.base import StepSpec
from commex.stream.subcontracting import Provider, missing_steps


@dataclass(frozen=True)
class ContractPlan:
    """The plan as the contract has it, and the exchange's providers it may subcontract to."""

    plan: Plan
    directory: ExchangeDirectory
    approved: frozenset[str]


def contract_steps(given: tuple[StepSpec, ...], terms: ContractTerms) -> tuple[StepSpec, ...]:
    """The run's steps: the contract's, which ``--step`` may only repeat."""
    if not terms.steps:
        return given
    wanted = tuple(StepSpec.parse(s) for s in terms.steps)
    if given and [str(s) for s in given] != [str(s) for s in wanted]:
        raise InvalidInput(
            f"--step {', '.join(str(s) for s in given)} disagrees with contract {terms.id}, "
            f"whose steps are {', '.join(terms.steps)}: leave --step out or repeat them",
            field="step",
        )
    return wanted


def approved_providers(client: ExchangeClient, terms: ContractTerms) -> frozenset[str]:
    """The providers the recipient approved in the contract's auction (none: any provider)."""
    if not terms.auction_id:
        return frozenset()
    auction = client.auction(terms.auction_id)
    eligibility = auction.get("eligibility") or {}
    return frozenset(str(p) for p in eligibility.get("approved_providers") or ())


def prepare(client: ExchangeClient, terms: ContractTerms, plan: Plan) -> ContractPlan:
    """The plan under the contract (see the module notes)."""
    steps = contract_steps(plan.steps, terms)
    approved = approved_providers(client, terms)
    plan = replace(plan, steps=steps)
    if plan.subcontractors:
        plan = replace(plan, subcontractors=_named(client, terms, plan, approved))
    return ContractPlan(plan, ExchangeDirectory(client, approved), approved)


def _named(
    client: ExchangeClient, terms: ContractTerms, plan: Plan, approved: frozenset[str]
) -> tuple[Provider, ...]:
    """The ``--subcontractor`` providers found on the exchange by name, each offering every
    step this provider lacks, none of them the provider itself or one not approved."""
    lacking = missing_steps(plan.steps, plan.capabilities)
    if not lacking:
        return plan.subcontractors  # nothing will be subcontracted
    offers: dict[str, dict[str, Provider]] = {}
    for spec in lacking:
        for item in client.providers(spec.name):
            who = item["provider"]
            offer = Provider(str(who["name"]), str(item["node_url"]), id=str(who["id"]))
            offers.setdefault(offer.name, {})[spec.name] = offer
    named = []
    for given in plan.subcontractors:
        by_step = offers.get(given.name, {})
        found = next(iter(by_step.values()), None)
        if found is None or len(by_step) < len({s.name for s in lacking}):
            raise NotFound(
                f"subcontractor {given.name} offers none of or not all of the steps "
                f"{', '.join(str(s) for s in lacking) or '(none missing)'} on the exchange",
                field="subcontractor",
            )
        if found.id == terms.provider_id:
            raise InvalidInput(
                f"subcontractor {given.name} is you: a subcontract goes to another provider",
                field="subcontractor",
            )
        if approved and found.id not in approved:
            raise NotEligible(
                f"subcontractor {given.name} is not among the providers the recipient of "
                f"contract {terms.id} approved",
                field="subcontractor",
            )
        named.append(found)
    return tuple(named)
