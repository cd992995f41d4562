"""VolSplat training (issue #5): sim data engine and the feed-forward / streaming-refiner trainer."""
