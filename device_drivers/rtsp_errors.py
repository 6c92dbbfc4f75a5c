"""The error raised by the pure RTSP streaming codecs (RTSP, RTP, SDP, H.264 SPS)."""


class RtspDecodeError(ValueError):
    """Bytes or text that are not valid RTSP, RTP, SDP or H.264 SPS."""
