"""Subpixel tools shared by the views: circle fits on edges, peak fits, robust statistics."""
