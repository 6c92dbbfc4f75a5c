"""Video between classrooms at 1080P, as received at the far end (教室间互传视频 1080P).

The stream is decoded for a set time (rig option ``seconds``, default 10) while the
source shows the classcert test pattern (``classcert video pattern``); each part of
"1080P HD quality" is one catalog requirement: effective resolution of the picture
detail, progressive scan, measured frame rate, freezes and dropped pictures.
"""

from __future__ import annotations

import pytest

from classcert.test_suites.video_steps import check_stream, keys_for

BASE = "video.interclass"
ROLE = "video-link"


@pytest.mark.requirement(*keys_for(BASE))
def test_video_interclass(classcert_campaign, room, operator, measure):
    check_stream(classcert_campaign, room, operator, measure, BASE, ROLE)
