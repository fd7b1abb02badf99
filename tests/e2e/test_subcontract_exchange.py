"""Offers on the exchange, with real processes (S5): providers' nodes publish their offers on a
running exchange, ranked by reputation and price; a plane sends them work only under a contract
(the story of that is in test_subcontract_plane)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from serve_support import EXE, answers, free_port, wait_until

from support.serving import stop_all

REPO = Path(__file__).resolve().parents[2]
FAX = REPO.parent / "shared" / "testdata" / "captures" / "FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"
COMMEX = EXE
NODE_TOKEN = "node-secret-for-tests"


@pytest.fixture
def launch(data_dir: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[bytes]:
        full = dict(os.environ, COMMEX_DATA_DIR=str(data_dir), COMMEX_NODE_TOKEN=NODE_TOKEN)
        full.pop("COMMEX_DATABASE_URL", None)
        full.update(env)
        proc = subprocess.Popen(
            [COMMEX, *args], env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        procs.append(proc)
        return proc

    yield start
    stop_all(procs)


def _register(exchange: str, name: str) -> dict[str, str]:
    r = httpx.post(f"{exchange}/v1/accounts", json={"name": name, "roles": ["provider"]})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.slow
def test_offers_rank_on_the_exchange_and_a_plane_sends_them_work_only_under_a_contract(
    launch: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    port = free_port()
    exchange = f"http://127.0.0.1:{port}"
    launch("serve", "--port", str(port), COMMEX_ALLOW_PRIVATE_URLS="1")  # nodes on loopback
    wait_until(lambda: answers(f"{exchange}/v1/health"), "the exchange")

    cheap, dear, me = (_register(exchange, n) for n in ("Cheap Media", "Dear Media", "Us"))
    nodes = {}
    for who, price in ((cheap, "1.00"), (dear, "3.00")):
        node_port = free_port()
        nodes[who["name"]] = launch(
            "node", "serve", "--capabilities", "transcode", "--port", str(node_port),
            "--exchange", exchange, "--price", price, COMMEX_TOKEN=who["token"],
        )  # fmt: skip
        node = nodes[who["name"]]
        # A node that exited (its port taken meanwhile, say) fails at once, with what it said.
        wait_until(
            lambda p=node_port, n=node: (
                n.poll() is not None or answers(f"http://127.0.0.1:{p}/v1/node")
            ),
            "a node",
        )
        assert node.poll() is None, node.stderr.read().decode() if node.stderr else "node exited"
    auth = {"Authorization": f"Bearer {me['token']}"}
    # Our own, cheapest offer: a subcontract must still go to a different provider.
    own = {"node_url": f"http://127.0.0.1:{free_port()}", "capabilities": ["transcode"]}
    r = httpx.put(
        f"{exchange}/v1/providers/me/offer",
        headers=auth,
        json=own | {"price": "0.10", "currency": "EUR"},
    )
    assert r.status_code == 200, r.text
    offers = httpx.get(f"{exchange}/v1/providers?capability=transcode", headers=auth).json()
    assert [o["provider"]["name"] for o in offers["items"]] == ["Us", "Cheap Media", "Dear Media"]
    assert [o["price"] for o in offers["items"]] == ["0.10", "1.00", "3.00"]

    # Without a contract, nothing is sent to a node found there: another provider's node
    # takes work only under a subcontract, and a plane's node token never leaves its provider.
    done = subprocess.run(
        [
            COMMEX, "stream", "process", str(FAX), "--out", str(tmp_path / "out.pcap"),
            "--step", "transcode:pcmu", "--capabilities", "dtmf,gain",
            "--exchange", exchange, "--quiet",
        ],
        env=dict(os.environ, COMMEX_TOKEN=me["token"], COMMEX_NODE_TOKEN=NODE_TOKEN),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "takes work only under a subcontract" in done.stderr and "--contract" in done.stderr
    assert not (tmp_path / "out.pcap").exists()
    assert all(n.poll() is None for n in nodes.values())


def test_a_node_of_a_recipient_cannot_publish_an_offer(
    launch: Callable[..., subprocess.Popen[bytes]],
) -> None:
    port = free_port()
    exchange = f"http://127.0.0.1:{port}"
    launch("serve", "--port", str(port), COMMEX_ALLOW_PRIVATE_URLS="1")  # nodes on loopback
    wait_until(lambda: answers(f"{exchange}/v1/health"), "the exchange")
    r = httpx.post(f"{exchange}/v1/accounts", json={"name": "Family", "roles": ["recipient"]})
    token = r.json()["token"]
    done = subprocess.run(
        [COMMEX, "node", "serve", "--capabilities", "gain", "--port", str(free_port()),
         "--exchange", exchange],
        env=dict(os.environ, COMMEX_TOKEN=token, COMMEX_NODE_TOKEN=NODE_TOKEN),
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 4
    assert "only a provider offers processing" in done.stderr
