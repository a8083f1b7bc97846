"""Recording a path twice gives the same bytes (scripts/record_histories.py): re-recording after
a workflow change rewrites only the histories of the paths it changed, and a review sees what."""

from pathlib import Path

import pytest

from scripts.record_histories import eligibility, record


@pytest.mark.asyncio(loop_scope="session")
async def test_recording_a_path_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    """The call's path with an extension, complements and a withdrawal: several cases, notices
    sent side by side, the deadline's fan-out, timers, each on a server of its own."""
    once = await record(tmp_path / "once", "stable", [eligibility])
    twice = await record(tmp_path / "twice", "stable", [eligibility])
    names = ["stable-call.json", "stable-expired.json", "stable-eligible.json"]
    assert [path.name for path in once] == [*names, "stable-withdrawn.json"]
    assert [path.name for path in twice] == [path.name for path in once]
    for first, second in zip(once, twice, strict=True):
        assert first.read_bytes() == second.read_bytes(), f"{first.name} differs"
