"""The built-in synthetic aerial scenes (``pointtune demo-data DIR``), in the generic layout."""

from __future__ import annotations

from trainable.data.formats import Format, yaml_classes

FORMAT = Format(
    name="demo", title="pointtune's synthetic aerial scenes", source="pointtune demo-data DIR",
    licence="generated: no terms", split="",
    layout="images/sceneNNN.png        RGB\nsemantic/sceneNNN.png      class indices 0-5, 255 ignored\n"
           "instance/sceneNNN.png      instance ids as R + 256 G + 65536 B\nclasses.yaml",
    describe=yaml_classes("demo"))
