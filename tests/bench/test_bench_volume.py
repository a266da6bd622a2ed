"""The volume section of bench/results.md: ratios worked from the figures, and the section replaced in place."""

from __future__ import annotations

from pathlib import Path

from bench.volume import END_MARK, MARK, Mixed, Probe, Volume, render, write_section


def _volume() -> Volume:
    volume = Volume(sizes=[0, 10_000], clients=12, mixed_seconds=60)
    volume.probes = [Probe("issue 1 license", {0: 0.080, 10_000: 0.120})]
    volume.mixed = [
        Mixed(0, 60.0, 600, {"200": 590, "409": 10}, {}),
        Mixed(10_000, 60.0, 480, {"200": 470, "500": 4, "error": 6}, {}),
    ]
    volume.serve_seconds = {"10,000 licenses saved (13 MB snapshot)": 17.25}
    return volume


def test_the_section_states_each_ratio_to_the_empty_table() -> None:
    text = render(_volume())
    # 120 ms / 80 ms = 1.5; 10 requests/s / 8 requests/s = 1.25; 5xx counts 500s and failed calls (4 + 6)
    assert "| issue 1 license | 80 ms | 120 ms | 1.50x |" in text
    assert "| 0 | 600 | 10.0 | 0 |" in text
    assert "| 10,000 | 480 | 8.0 | 10 |" in text
    assert "**1.25x**" in text
    assert "- 10,000 licenses saved (13 MB snapshot): 17.2 s" in text


def test_a_new_section_replaces_the_old_one_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    path.write_text(f"# Benchmarks\n\nbefore\n\n{MARK}\nold figures\n{END_MARK}\n\nafter\n", encoding="utf-8")
    write_section(path, render(_volume()))
    text = path.read_text(encoding="utf-8")
    assert "old figures" not in text
    assert text.startswith("# Benchmarks\n\nbefore\n\n")
    assert text.rstrip().endswith("after")
    assert text.count(MARK) == 1 and "1.50x" in text
