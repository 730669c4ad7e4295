"""The scenario format: what validates, and how each bad scenario is refused."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sitewatch.errors import ScenarioError
from sitewatch.scenarios import scenario_path
from sitewatch.simulate import simulate_scenario
from sitewatch.simulate.loading import load_scenario
from sitewatch.simulate.plan import plan_scenario
from sitewatch.simulate.scenario import acquisition_datetime

# A small valid site: 160 m x 120 m at 0.5 m (320 x 240 px), an apron and an air-defence site.
BASE = {
    "seed": 11,
    "sites": [{
        "name": "small",
        "kind": "airbase",
        "lat": 35.401,
        "lon": 35.948,
        "extent_m": [160, 120],
        "gsd_m": 0.5,
        "zones": [
            {"name": "apron", "kind": "apron", "rect": {"center": [-20, 20], "size": [110, 40]},
             "inventory": [{"type": "Su-34", "count": 3}]},
            {"name": "ad", "kind": "air_defence_site", "rect": {"center": [45, -30], "size": [50, 50]},
             "inventory": [{"type": "S-400 launcher", "count": 2}]},
        ],
        "dates": [
            {"date": "2024-12-05"},
            {"date": "2024-12-10", "departures": [{"type": "S-400 launcher", "count": 1, "zone": "ad"}]},
        ],
    }],
}


def _mutated(path: str, value) -> dict:
    """BASE with one field replaced; path is a dotted path with [i] indices."""
    doc = copy.deepcopy(BASE)
    parts = path.replace("]", "").replace("[", ".").split(".")
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    last = parts[-1]
    node[int(last) if last.isdigit() else last] = value
    return doc


# (case, path to replace, new value, text the one-line error must contain)
BAD = [
    ("unknown type", "sites[0].zones[0].inventory[0].type", "Su-75",
     "sites[0].zones[0].inventory[0].type: unknown equipment type 'Su-75'"),
    ("type known by size only", "sites[0].zones[0].inventory[0].type", "F-16",
     "sites[0].zones[0].inventory[0].type: F-16 is known by size only, the simulator cannot draw it"),
    # the site spans x -80..80 m; a 50 m zone centred at x = 75 reaches x = 100
    ("zone outside the site", "sites[0].zones[1].rect.center", [75, -30],
     "sites[0].zones[1].rect: zone 'ad'"),
    ("departure of more than present", "sites[0].dates[1].departures[0].count", 5,
     "sites[0].dates[1].departures[0].count: 5 S-400 launcher asked to leave zone 'ad' but only 2 are there"),
    ("gsd zero", "sites[0].gsd_m", 0, "sites[0].gsd_m: Input should be greater than 0"),
    ("gsd negative", "sites[0].gsd_m", -0.5, "sites[0].gsd_m: Input should be greater than 0"),
    ("malformed date", "sites[0].dates[1].date", "2024-13-05", "sites[0].dates[1].date: '2024-13-05' is not an ISO date"),
    ("date that is not a date", "sites[0].dates[1].date", "next tuesday", "sites[0].dates[1].date:"),
    ("state the type lacks", "sites[0].zones[0].inventory[0].state", "cargo_open",
     "sites[0].zones[0].inventory[0].state: Su-34 has no state 'cargo_open'"),
    ("unknown zone", "sites[0].dates[1].departures[0].zone", "nowhere",
     "sites[0].dates[1].departures[0].zone: no zone named 'nowhere'"),
    ("misspelt field", "sites[0].zones[0].inventroy", [], "sites[0].zones[0].inventroy: unknown field"),
    ("wings on a fixed-wing type", "sites[0].zones[0].inventory[0].wings", "swept",
     "sites[0].zones[0].inventory[0].wings: Su-34 has fixed wings"),
    ("dates out of order", "sites[0].dates[1].date", "2024-12-01", "sites[0].dates[1].date: 2024-12-01"),
    # a 110 m x 40 m apron holds four Su-34 abreast (14.7 m span + 8 m spacing), not forty
    ("no room", "sites[0].zones[0].inventory[0].count", 40,
     "sites[0].zones[0].inventory[0]: no room left in zone 'apron'"),
    ("night-time acquisition", "sites[0].dates[1].date", "2024-12-10T01:00:00Z",
     "sites[0].dates[1].date: the sun is"),
    ("unknown site kind", "sites[0].kind", "army_base", "sites[0].kind: Input should be 'airbase' or 'naval_base'"),
    ("a ship on an apron", "sites[0].zones[0].inventory[0].type", "Kilo submarine",
     "sites[0].zones[0].inventory[0].type: a Kilo submarine cannot stand in apron zone 'apron'"),
]


def test_the_base_scenario_is_valid_and_plans():
    plans = plan_scenario(BASE)
    assert [len(d.spec.objects) for d in plans[0].dates] == [3 + 2, 3 + 2 - 1]  # baseline, one departure


@pytest.mark.parametrize("case,path,value,expected", BAD, ids=[b[0] for b in BAD])
def test_each_bad_scenario_fails_with_one_line_naming_the_field(tmp_path, case, path, value, expected):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(_mutated(path, value)))
    out = tmp_path / "out"
    with pytest.raises(ScenarioError) as err:
        simulate_scenario(f, out)
    msg = str(err.value)
    assert msg.startswith(str(f) + ": ")
    assert expected in msg
    assert "\n" not in msg
    assert not out.exists()  # nothing written, not even the folder


def test_a_bad_scenario_leaves_an_existing_output_folder_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ScenarioError):
        simulate_scenario(_mutated("sites[0].gsd_m", 0), out)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_every_problem_is_reported_not_only_the_first():
    doc = _mutated("sites[0].gsd_m", 0)
    doc["sites"][0]["zones"][0]["inventory"][0]["type"] = "Su-75"
    with pytest.raises(ScenarioError) as err:
        load_scenario(doc)
    assert len(err.value.problems) == 1  # pydantic stops at shape errors before semantic checks
    doc = _mutated("sites[0].zones[0].inventory[0].type", "Su-75")
    doc["sites"][0]["dates"][1]["departures"][0]["zone"] = "nowhere"
    with pytest.raises(ScenarioError) as err:
        load_scenario(doc)
    assert len(err.value.problems) == 2
    assert "2 problems: " in str(err.value)


def test_yaml_syntax_error_names_the_line(tmp_path):
    f = tmp_path / "broken.yaml"
    f.write_text("sites:\n  - name: x\n    kind: [airbase\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line \d+, column \d+: not valid YAML"):
        load_scenario(f)


def test_the_cli_refuses_a_bad_scenario_with_one_line_and_exit_1(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(_mutated("sites[0].zones[0].inventory[0].type", "Su-75")))
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-c", "from sitewatch.cli.main import main; main()", "simulate", str(f),
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "sites[0].zones[0].inventory[0].type: unknown equipment type 'Su-75'" in lines[0]
    assert not out.exists()


def test_date_only_acquisitions_happen_at_1030_local_solar_time():
    sc, _ = load_scenario(BASE)
    site = sc.sites[0]
    when = acquisition_datetime(site, site.dates[0])
    # 35.948 E is 2 h 23.8 min ahead of UTC in solar time: 10:30 local is 08:06 UTC (to the minute)
    assert (when.hour, when.minute) == (8, 6) and when.utcoffset().total_seconds() == 0


def test_a_given_time_with_an_offset_is_converted_to_utc():
    sc, _ = load_scenario(_mutated("sites[0].dates[1].date", "2024-12-10T11:15:00+03:00"))
    when = acquisition_datetime(sc.sites[0], sc.sites[0].dates[1])
    assert when.isoformat() == "2024-12-10T08:15:00+00:00"


def test_the_bundled_scenario_matches_the_reporting_it_models():
    path = scenario_path()
    link = Path(__file__).resolve().parents[1] / "scenarios" / "khmeimim-tartus-2024-12.yaml"
    assert link.resolve() == path.resolve()  # the top-level file is a link to the package data
    raw = yaml.safe_load(path.read_text())
    plans = {p.site.name: p for p in plan_scenario(path)}
    kh, ta = plans["khmeimim"], plans["tartus"]
    assert (kh.site.grid.crs, ta.site.grid.crs) == ("EPSG:32636", "EPSG:32636")  # both in UTM zone 36 N
    assert len(kh.dates) == 3 and len(ta.dates) == 3
    # object counts follow the file: baseline inventory, then arrivals in and departures out
    site = raw["sites"][0]
    n = sum(i["count"] for z in site["zones"] for i in z.get("inventory", []))
    for d, plan in zip(site["dates"], kh.dates):
        n += sum(a["count"] for a in d.get("arrivals", [])) - sum(a["count"] for a in d.get("departures", []))
        assert len(plan.spec.objects) == n
    last = kh.dates[-1].spec.objects
    types_states = [(o.type, o.state) for o in last]
    assert types_states.count(("An-124", "cargo_open")) == 2
    assert ("Il-76", "cargo_open") in types_states
    assert sum(1 for t, s in types_states if s == "rotor_removed") == 4  # two Ka-52, two Mi-8
    assert not [o for o in last if o.zone == "s400_site"]  # the S-400 battery has left its site
    assert sum(1 for o in last if o.cls == "aircraft" and o.type.startswith("Su-")) == 20  # tactical aviation stays
    ships = [o.type for o in ta.dates[-1].spec.objects]
    assert ships.count("Admiral Grigorovich frigate") == 2 and "Kilo submarine" in ships and "Dubna tanker" in ships
    assert ta.changes[-1] == ()  # Tartus: no change between the last two dates
    assert ta.dates[-1].spec.conditions != ta.dates[-2].spec.conditions


def test_the_documented_example_is_a_valid_scenario():
    doc_text = (Path(__file__).resolve().parents[1] / "docs" / "scenario-format.md").read_text()
    block = doc_text[doc_text.index("```yaml\n") + len("```yaml\n"):]
    doc = yaml.safe_load(block[:block.index("```")])
    plan = plan_scenario(doc)[0]
    # the example's own counts: 4 Su-34 + 2 Su-24M + 2 Ka-52 + 1 radar + 4 launchers, then -4 +1
    assert [len(d.spec.objects) for d in plan.dates] == [13, 10]
    assert sorted(c.kind for c in plan.changes[0]) == ["arrived"] + ["departed"] * 4 + ["moved"] + ["state_changed"] * 2


def test_a_dumped_scenario_loads_back_equal(tmp_path):
    from sitewatch.simulate.random_scenario import random_scenario
    from sitewatch.simulate.scenario import dump_scenario

    for sc in (load_scenario(BASE)[0], load_scenario(scenario_path())[0], random_scenario(2, kind="naval_base")):
        f = tmp_path / "dumped.yaml"
        f.write_text(dump_scenario(sc))
        assert load_scenario(f)[0] == sc


def test_the_truth_of_a_move_says_where_the_item_stood_before():
    """Tartus's Kilo submarine moves from the south berth to the north one: its true event
    stands at the new berth and carries the old one, where the submarine stood on the date
    before; other events carry no origin."""
    from sitewatch.evaluation.simulated_site import truth_events

    plan = {p.site.name: p for p in plan_scenario(scenario_path())}["tartus"]
    ids = {d.label: d.label for d in plan.dates}
    truth = truth_events(plan, ids)
    [kilo] = [t for t in truth if t.kind == "moved"]
    k = [d.label for d in plan.dates].index(kilo.before_image)
    before = next(o for o in plan.dates[k].spec.objects if o.track_id == kilo.track_id)
    after = next(o for o in plan.dates[k + 1].spec.objects if o.track_id == kilo.track_id)
    assert (kilo.from_x, kilo.from_y) == pytest.approx((before.box.cx, before.box.cy))
    assert (kilo.x, kilo.y) == pytest.approx((after.box.cx, after.box.cy))
    assert kilo.from_heading_deg == pytest.approx(before.box.heading_deg)
    assert math.hypot(kilo.x - kilo.from_x, kilo.y - kilo.from_y) > 100  # another berth
    assert all(t.from_x is None for t in truth if t.kind != "moved")
