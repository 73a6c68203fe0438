"""The data layer: dataset files found, checked once into an index, read as windows of pixels."""
