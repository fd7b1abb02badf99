"""A8: sealed bids are private while open; proxy limits are never shown to others."""

import pytest


def seen(book, viewer):
    return [(b.bidder_id, str(b.amount)) for b in book.visible(viewer)]


@pytest.fixture
def sealed(kit):
    book = kit.book("forward", "second-price", quantity=2)
    book.bid("alice", "10.00")
    book.bid("bob", "12.00")
    book.bid("alice", "11.00")
    return book


class TestSealedWhileOpen:
    def test_a_bidder_sees_only_its_own_bids(self, sealed):
        assert seen(sealed, "alice") == [("alice", "10.00"), ("alice", "11.00")]
        assert seen(sealed, "bob") == [("bob", "12.00")]

    def test_the_bid_count_counts_bidders_once(self, sealed):
        assert sealed.auction.bid_count == 2

    @pytest.mark.parametrize("viewer", ["seller", "stranger", "op", None])
    def test_the_owner_strangers_and_anonymous_see_none(self, sealed, viewer):
        assert seen(sealed, viewer) == []


def test_after_the_close_everyone_sees_all(sealed):
    sealed.close()
    everything = [("alice", "10.00"), ("bob", "12.00"), ("alice", "11.00")]
    for viewer in ("alice", "bob", "seller", "stranger", None):
        assert seen(sealed, viewer) == everything


@pytest.fixture
def english(kit):
    book = kit.book("forward", "english", min_increment="1.00")
    book.bid("alice", "10.00", "77.00")
    book.bid("bob", "15.00", "20.00")  # answered by alice's proxy at 21.00
    return book


def limits(book, viewer):
    return {b.bidder_id: str(b.max_amount) for b in book.visible(viewer) if b.max_amount}


class TestProxyLimits:
    def test_everyone_sees_the_english_bids(self, english):
        assert seen(english, None) == [
            ("alice", "10.00"),
            ("bob", "20.00"),
            ("alice", "21.00"),
        ]

    def test_a_bidder_sees_its_own_limit_only(self, english):
        assert limits(english, "alice") == {"alice": "77.00"}
        assert limits(english, "bob") == {"bob": "20.00"}

    @pytest.mark.parametrize("viewer", ["seller", "carol", None])
    def test_others_never_see_a_limit(self, english, viewer):
        assert limits(english, viewer) == {}
        assert all(str(b.amount) != "77.00" for b in english.visible(viewer))

    def test_limits_stay_hidden_after_the_close(self, english):
        english.close()
        assert english.auction.outcome.winners[0].bidder_id == "alice"
        assert limits(english, "bob") == {"bob": "20.00"}
        assert limits(english, "seller") == {}
        assert limits(english, "alice") == {"alice": "77.00"}
        assert all("77.00" not in str(b.amount) for b in english.visible("seller"))

    def test_stored_rows_keep_the_limit_for_their_bidder(self, english):
        first = english.visible("alice")[0]
        assert str(first.max_amount) == "77.00"


def test_a_cancelled_sealed_auction_never_reveals_its_bids(sealed):
    # The owner must not be able to cancel, read every sealed bid, and relist above them.
    sealed.cancel("op", "withdrawn by the operator")
    assert seen(sealed, "seller") == []
    assert seen(sealed, "stranger") == []
    assert seen(sealed, "bob") == [("bob", "12.00")]
