"""Surveillance camera at 1080P (视频监控 1080P).

The stream is decoded for a set time (rig option ``seconds``, default 10) while the
source shows the classcert test pattern (``classcert video pattern``); each part of
"1080P HD quality" is one catalog requirement: effective resolution of the picture
detail, progressive scan, measured frame rate, freezes and dropped pictures.
"""

from __future__ import annotations

import pytest

from classcert.test_suites.video_steps import check_stream, keys_for

BASE = "cctv.resolution"
ROLE = "camera"


@pytest.mark.requirement(*keys_for(BASE))
def test_video_cctv(classcert_campaign, room, operator, measure):
    check_stream(classcert_campaign, room, operator, measure, BASE, ROLE)
