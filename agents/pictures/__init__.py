"""Pictures of where a policy looked and of how it learned.

Heatmaps, focus drawn on the env's own picture, eval videos, learning curves. Every drawing function returns an
``(H, W, 3)`` uint8 array.
"""
