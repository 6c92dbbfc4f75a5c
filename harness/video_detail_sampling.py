"""Which decoded pictures the effective-resolution measure looks at.

A stream's first pictures may decode from damaged references: RTP lost at start-up, a viewer
joining in the middle of a group of pictures, a first key frame missing its first slices.
From the second key frame on, every picture decodes from clean references, so those pictures
decide the detail. Pictures at fixed times from the start are measured too, as the fallback
for a stream whose second key frame never arrives, and so that a start-up fault is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from classcert.video_expectations import DetailHook

DETAIL_SAMPLE_TIMES = (0.5, 1.5)  # media seconds from the first picture
Note = tuple[str, str]  # (English, Chinese)


class DetailSampler:
    """Feeds sampled luma planes to two :class:`DetailHook` s: early and clean pictures."""

    def __init__(self, early: DetailHook | None = None, clean: DetailHook | None = None,
                 times: tuple[float, ...] = DETAIL_SAMPLE_TIMES) -> None:
        self.early = early if early is not None else DetailHook()
        self.clean = clean if clean is not None else DetailHook()
        self.times = times
        self.early_taken = 0
        self.clean_taken = 0
        self.clean_from: float | None = None

    def feed(self, luma: np.ndarray, t: float, *, key_frame: bool, first: bool,
             black: bool) -> bool:
        """Sample this picture if it is due; True when it is the first clean sample."""
        if not black and self.early_taken < len(self.times) and t >= self.times[self.early_taken]:
            self.early_taken += 1
            self.early.add(luma)
        if self.clean_from is None and key_frame and not first:
            self.clean_from = t
        if self.clean_from is None or black or self.clean_taken >= len(self.times):
            return False
        if t < self.clean_from + self.times[self.clean_taken] - self.times[0]:
            return False
        self.clean_taken += 1
        self.clean.add(luma)
        return self.clean_taken == 1

    def result(self, height: int) -> tuple[dict[str, Any] | None, list[Note]]:
        """The effective resolution to report, and notes on how it was found."""
        early = self.early.result(height)
        if not self.clean_taken:
            if early is None:
                return None, []
            return early, [("picture detail measured on the first pictures: no second key "
                            "frame arrived", "未收到第二个关键帧：画面细节按最初的画面测量")]
        clean = self.clean.result(height)
        notes: list[Note] = []
        if clean is not None and early is not None and early["lines"] < clean["lines"]:
            notes.append((
                f"the first pictures carried less detail ({early['lines']} lines) than those "
                f"after a key frame ({clean['lines']}): a stream start-up fault, not counted",
                f"最初画面细节（{early['lines']} 行）低于关键帧之后的画面（{clean['lines']} 行）："
                "属于取流起始故障，不计入"))
        return clean, notes
