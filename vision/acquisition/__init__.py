"""Frame acquisition: one `FrameSource` interface over a GenICam camera, image files and replays."""

from vision.acquisition.base import AcquisitionError, DeviceLost, FetchTimeout, Frame, FrameError, FrameSource

__all__ = ["AcquisitionError", "DeviceLost", "FetchTimeout", "Frame", "FrameError", "FrameSource"]
