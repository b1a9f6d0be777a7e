"""The page_owner cover letter's tmpfs swap round trip on unpatched Linux 7.3.

"Before" column: with plain `page_owner=on`, dd's pages that went to swap
and came back are attributed to `cat`, the task that faulted them in.
"""

import pytest

from harness.run import workloads

FILE_MIB = 256


def agrees(page_owner_mib: float, used_mib: float) -> bool:
    """page_owner's sum vs `total - free` of free -m: within a few percent."""
    return abs(page_owner_mib - used_mib) <= max(0.05 * used_mib, 8)


@pytest.mark.manifest("upstream-7.3")
@pytest.mark.cmdline("page_owner=on")
def test_swap_round_trip_loses_owner_without_swap_tracking(shell, results_dir, figures):
    trip = workloads.round_trip(shell, results_dir / "round-trip")
    figures("swap round trip on unpatched 7.3 (cover letter: Before)",
            workloads.table({"page_owner=on (7.3)": trip}))

    after_dd, after_DD, after_cat = trip.at("dd"), trip.at("DD"), trip.at("cat")
    assert after_dd.page_owner.comm("dd") >= FILE_MIB * 0.97, "dd's pages are owned by dd after dd"
    assert after_dd.page_owner.comm("cat") < 5

    swapped = after_DD.swap_used_mib
    assert swapped >= FILE_MIB * 0.85, f"DD should push dd's {FILE_MIB} MiB to swap, swap used {swapped} MiB"
    assert after_DD.resident_mib <= FILE_MIB * 0.08
    assert not after_DD.swap_page_owner.available, "no swap_page_owner without the series"

    assert after_cat.resident_mib >= FILE_MIB * 0.97, "cat read the whole file back"
    assert after_cat.page_owner.comm("dd") < FILE_MIB * 0.1, "dd lost its pages' ownership"
    assert after_cat.page_owner.comm("cat") >= FILE_MIB * 0.85, "cat now owns dd's pages"
    assert after_cat.page_owner.swapped_mib == 0

    for snap in trip.snapshots:
        assert agrees(snap.page_owner.total_mib, snap.used_mib), (
            f"{snap.step}: page_owner {snap.page_owner.total_mib:.1f} MiB vs total-free {snap.used_mib} MiB")
