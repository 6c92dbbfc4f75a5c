"""A display left changed by a killed run is put back when the campaign reopens."""

from __future__ import annotations

from classcert.fixtures.campaign import open_campaign
from classcert.fixtures.restore import restore_pending

from helpers import pjlink_room, rig_text


def test_pending_restore_is_applied(tmp_path):
    rig = tmp_path / "rig.toml"
    rig.write_text(rig_text(pjlink_room("R1")), encoding="utf-8")
    ctx = open_campaign(rig, tmp_path / "out")
    try:
        room = ctx.rig.room("R1")
        label = room.devices[0].label
        ctx.store.journal_state(ctx.campaign.id, "R1", label,
                                {"power_on": True, "input": "32", "mute_video": True,
                                 "mute_audio": False})
        lines = list(restore_pending(ctx))
        assert len(lines) == 1 and "restored" in lines[0]
        assert ctx.store.pending_restores(ctx.campaign.id) == []
        from classcert.device_drivers.display import PowerState
        from classcert.fixtures.devices import open_room_display

        _dev, display = open_room_display(ctx, room)
        try:
            assert display.get_power() in (PowerState.ON, PowerState.WARMING)
        finally:
            display.close()
    finally:
        ctx.close()
