"""The data layer: dataset files (images, masks, users' click files) found, checked once into an index, read as
windows of pixels."""
