"""Between two polls the watcher looks at a folder again once a file the last poll saw can
have settled (folders only: a STAC API keeps its interval), so a file that lands waits one
interval and the settling time, not two intervals. A fake clock: the times are exact."""

from __future__ import annotations

from test_change_pixel import SITE

from sitewatch.store import add_site, add_subscription, open_catalog
from sitewatch.watch import Watcher
from sitewatch.watch.stac_api import ApiSource

SETTLE_S = 2.0
INTERVAL_S = 60.0


class Clock:
    def __init__(self):
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_file_seen_by_a_poll_is_taken_when_it_has_settled_not_at_the_next_poll(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    clock = Clock()
    with open_catalog(tmp_path / "catalog.db") as cat:
        add_site(cat, SITE)
        # a STAC API nothing listens on: a pass that searched it would report a failure
        api = ApiSource("http://127.0.0.1:9", "vhr").to_location()
        add_subscription(cat, SITE.name, [("folder", str(inbox)), ("stac-api", api)], {})
        w = Watcher(cat, None, tmp_path / "out", settle_s=SETTLE_S, clock=clock, sleep=clock.sleep,
                    api_options={"tries": 1})
        first = w.run_pass(first_look=False)  # t=0: an empty folder (and one failed search)
        assert first.failed and w.next_settle() is None
        assert w.settle_until(INTERVAL_S) == [] and clock.slept == []  # nothing settling: wait for the poll
        clock.now = 10.0
        (inbox / "scene.tif").write_bytes(b"not yet a GeoTIFF")
        w.run_pass(first_look=False)  # t=10: seen for the first time, not settled
        assert w.next_settle() == 10.0 + SETTLE_S
        assert w.settle_until(10.0 + SETTLE_S) == []  # settles only at the next poll's moment: that poll takes it
        (extra,) = w.settle_until(10.0 + INTERVAL_S)
    assert clock.slept == [SETTLE_S] and clock.now == 10.0 + SETTLE_S
    # the folders-only pass looked at it settled (and found it unreadable), and searched no API
    assert [line.split(":")[0] for line in extra.waiting] == [str(inbox / "scene.tif")]
    assert extra.failed == []
