from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest
import torch
import torchvision

from trainable.config import ModelConfig
from trainable.learn.model import WeightsError, build_model, cached_weights_path, resolve_weights, resolved_config


@pytest.fixture(autouse=True)
def empty_torch_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """torchvision's weights cache, empty, in a temporary folder."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "torch" / "hub"))  # what set_dir sets; undone after
    return tmp_path / "torch" / "hub"


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v3_large", "tiny"])
def test_head_is_replaced_for_n_classes(backbone: str) -> None:
    model = build_model(ModelConfig(backbone=backbone, weights="none"), num_classes=7).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))["out"]
    assert out.shape == (2, 7, 64, 64)
    if backbone != "tiny":
        assert model.classifier[-1].out_channels == 7 and model.aux_classifier is None


def test_local_state_dict_file_is_loaded_and_other_heads_skipped(tmp_path: Path) -> None:
    source = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none"), num_classes=4)
    path = tmp_path / "weights.pt"
    torch.save(source.state_dict(), path)
    loaded = build_model(ModelConfig(backbone="mobilenet_v3_large", weights=str(path)), num_classes=4)
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    other = build_model(ModelConfig(backbone="mobilenet_v3_large", weights=str(path)), num_classes=9)
    assert other.classifier[-1].out_channels == 9  # head of another class count skipped, backbone loaded
    assert torch.equal(other.backbone["0"][0].weight, source.backbone["0"][0].weight)


def test_torchvision_imagenet_weights_load_from_the_cache(empty_torch_cache: Path) -> None:
    from torchvision.models import MobileNet_V3_Large_Weights

    backbone = torchvision.models.mobilenet_v3_large()
    target = cached_weights_path(MobileNet_V3_Large_Weights.IMAGENET1K_V1)
    target.parent.mkdir(parents=True)
    torch.save(backbone.state_dict(), target)  # stands in for the real download
    for weights in ("imagenet", "auto"):
        model = build_model(ModelConfig(backbone="mobilenet_v3_large", weights=weights), num_classes=3)
        assert torch.equal(model.backbone["0"][0].weight, backbone.features[0][0].weight), weights


def test_offline_without_cached_weights_says_where_to_put_them(monkeypatch: pytest.MonkeyPatch,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    for weights in ("imagenet", "auto"):
        with pytest.raises(WeightsError, match=r"put it at .*mobilenet_v3_large-.*pth.*--allow-random-init"):
            resolve_weights(ModelConfig(backbone="mobilenet_v3_large", weights=weights))
    with caplog.at_level(logging.WARNING):
        resolved, state = resolve_weights(ModelConfig(backbone="mobilenet_v3_large", weights="auto",
                                                      allow_random_init=True))
    assert (resolved.kind, state) == ("none", None) and "random init" in resolved.describe()
    assert "continuing from random init" in caplog.text


def test_weights_are_downloaded_once_into_torchvisions_cache(tmp_path: Path, empty_torch_cache: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A fake download source (torch.hub's downloader copying a local file) stands in for torchvision's URL."""
    from torchvision.models import MobileNet_V3_Large_Weights

    source = tmp_path / "served.pth"
    torch.save(torchvision.models.mobilenet_v3_large().state_dict(), source)
    downloads: list[str] = []

    def fake_download(url: str, dst: str, *args: object, **kwargs: object) -> None:
        downloads.append(url)
        Path(dst).write_bytes(source.read_bytes())

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    cfg = ModelConfig(backbone="mobilenet_v3_large", weights="auto")
    first, state = resolve_weights(cfg)
    again, _ = resolve_weights(cfg)
    enum = MobileNet_V3_Large_Weights.IMAGENET1K_V1
    assert downloads == [enum.url], "downloaded once; the second resolution reads torchvision's cache"
    assert first == again and first.kind == "imagenet" and first.source == str(cached_weights_path(enum))
    assert first.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
    recorded = resolved_config(cfg, first)
    assert (recorded.weights, recorded.weights_sha256) == ("imagenet", first.sha256)
    model = build_model(recorded, num_classes=3, state=state)
    assert torch.equal(model.backbone["0"][0].weight, state["features.0.0.weight"])


def test_coco_weights_replace_the_head(empty_torch_cache: Path) -> None:
    from torchvision.models.segmentation import DeepLabV3_MobileNet_V3_Large_Weights, deeplabv3_mobilenet_v3_large

    coco = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    target = cached_weights_path(DeepLabV3_MobileNet_V3_Large_Weights.COCO_WITH_VOC_LABELS_V1)
    target.parent.mkdir(parents=True)
    torch.save(coco.state_dict(), target)
    model = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="coco"), num_classes=5)
    assert model.classifier[-1].out_channels == 5 and model.aux_classifier is None
    assert torch.equal(model.classifier[0].convs[0][0].weight, coco.classifier[0].convs[0][0].weight)


def test_the_tiny_cnn_has_no_pretrained_weights() -> None:
    assert resolve_weights(ModelConfig(backbone="tiny", weights="auto"))[0].kind == "none"
    with pytest.raises(WeightsError, match="no pretrained weights"):
        resolve_weights(ModelConfig(backbone="tiny", weights="imagenet"))


def test_weights_that_fit_nothing_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"foo.weight": torch.zeros(3)}, path)
    with pytest.raises(WeightsError, match="matches none of the parameters"):
        build_model(ModelConfig(backbone="tiny", weights=str(path)), num_classes=3)
    with pytest.raises(WeightsError, match="does not exist"):
        build_model(ModelConfig(backbone="tiny", weights=str(tmp_path / "missing.pt")), num_classes=3)


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenet_v3_large"])
def test_imagenet_weights_on_four_bands_keep_rgb_filters_and_train(backbone: str, empty_torch_cache: Path) -> None:
    """Pretrained weights read from a local file (torchvision's cache) into a network widened to 4 bands: the RGB
    filters are the file's, the fourth band starts at zero, and a train-mode step at batch 2 runs."""
    from torchvision.models import MobileNet_V3_Large_Weights, ResNet50_Weights

    if backbone == "resnet50":
        classifier, enum, key = torchvision.models.resnet50(), ResNet50_Weights.IMAGENET1K_V1, "conv1.weight"
    else:
        classifier = torchvision.models.mobilenet_v3_large()
        enum, key = MobileNet_V3_Large_Weights.IMAGENET1K_V1, "features.0.0.weight"
    target = cached_weights_path(enum)
    target.parent.mkdir(parents=True)
    torch.save(classifier.state_dict(), target)  # stands in for the real download
    model = build_model(ModelConfig(backbone=backbone, weights="imagenet", in_channels=4), num_classes=3)
    conv = model.backbone.conv1 if backbone == "resnet50" else model.backbone["0"][0]
    assert conv.weight.shape[1] == 4
    assert torch.equal(conv.weight[:, :3], classifier.state_dict()[key]) and not conv.weight[:, 3].any()
    model.train()
    out = model(torch.randn(2, 4, 32, 32))["out"]
    out.mean().backward()
    assert out.shape == (2, 3, 32, 32) and conv.weight.grad is not None


def test_a_four_band_state_dict_file_loads_into_a_four_band_network(tmp_path: Path) -> None:
    source = build_model(ModelConfig(backbone="mobilenet_v3_large", weights="none", in_channels=4), num_classes=3)
    path = tmp_path / "four_bands.pt"
    torch.save(source.state_dict(), path)
    loaded = build_model(ModelConfig(backbone="mobilenet_v3_large", weights=str(path), in_channels=4), num_classes=3)
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
