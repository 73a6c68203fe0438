from __future__ import annotations

import math

import pytest
import torch

from trainable.config import IGNORE_INDEX
from trainable.learn.unlabeled_loss import (
    UNLABELED_LOSSES,
    entropy_loss,
    gated_crf_loss,
    pairwise_affinity_loss,
    unlabeled_loss,
)

LOSSES = [n for n in UNLABELED_LOSSES if n != "none"]
T, F_ = True, False


def _probs(*pixels: tuple[float, ...], h: int = 1) -> torch.Tensor:
    """(1, C, h, W) probabilities from per-pixel class vectors in row-major order."""
    p = torch.tensor(pixels, dtype=torch.float32)  # (HW, C)
    return p.T.reshape(1, p.shape[1], h, -1)


def _image(*pixels: tuple[float, ...], h: int = 1) -> torch.Tensor:
    return _probs(*pixels, h=h)  # same layout: (1, K, h, W)


def _mask(*flags: bool, h: int = 1) -> torch.Tensor:
    return torch.tensor(flags).reshape(1, h, -1)


# ---------------------------------------------------------------- gated CRF: hand-worked values

# p = (0.8, 0.2) next to (0.3, 0.7): P_same = 0.8*0.3 + 0.2*0.7 = 0.38, so the Potts cost is 1 - 0.38 = 0.62.
GATED_CASES = {
    # 1x2 row, grey values 0 and 0.1, sigma_rgb 0.1, sigma_xy 1: k = exp(-1/2 - 0.01/0.02) = exp(-1).
    # Both unlabelled: the pair is counted from both ends, 2 sources -> 2 * 0.62 e^-1 / 2.
    "pair_both_unlabelled": (
        _probs((0.8, 0.2), (0.3, 0.7)), _image((0.0,), (0.1,)), _mask(T, T), _mask(T, T),
        {"kernel_size": 3, "sigma_rgb": 0.1, "sigma_xy": 1.0}, 2 * 0.62 * math.exp(-1) / 2),
    # Pixel 1 labelled: one source (pixel 0), the labelled neighbour still counts -> 0.62 e^-1 / 1.
    "pair_labelled_neighbour": (
        _probs((0.8, 0.2), (0.3, 0.7)), _image((0.0,), (0.1,)), _mask(T, F_), _mask(T, T),
        {"kernel_size": 3, "sigma_rgb": 0.1, "sigma_xy": 1.0}, 0.62 * math.exp(-1)),
    # Pixel 1 invalid: pixel 0 is a source without a neighbour -> 0 / 1.
    "pair_invalid_neighbour": (
        _probs((0.8, 0.2), (0.3, 0.7)), _image((0.0,), (0.1,)), _mask(T, T), _mask(T, F_),
        {"kernel_size": 3, "sigma_rgb": 0.1, "sigma_xy": 1.0}, 0.0),
    # Two bands: colour difference (0.1, 0.1), |d|^2 = 0.02; kernel exp(-1/2 - 0.02/0.02) = exp(-1.5).
    "pair_two_bands": (
        _probs((0.8, 0.2), (0.3, 0.7)), _image((0.0, 0.0), (0.1, 0.1)), _mask(T, T), _mask(T, T),
        {"kernel_size": 3, "sigma_rgb": 0.1, "sigma_xy": 1.0}, 0.62 * math.exp(-1.5)),
    # 1x3 row, one colour, kernel 5, sigma_xy 2: class 0, class 0, class 1 (one-hot). Disagreeing pairs: (0, 2) at
    # distance 2 (k = e^{-4/8}) and (1, 2) at distance 1 (k = e^{-1/8}), each counted from both ends; 3 sources.
    "row_of_three_kernel_5": (
        _probs((1.0, 0.0), (1.0, 0.0), (0.0, 1.0)), _image((0.5,), (0.5,), (0.5,)), _mask(T, T, T),
        _mask(T, T, T), {"kernel_size": 5, "sigma_rgb": 0.1, "sigma_xy": 2.0},
        (2 * math.exp(-4 / 8) + 2 * math.exp(-1 / 8)) / 3),
    # 2x2, one colour, sigma_xy 1, only the top-left pixel unlabelled: top row class 0, bottom row class 1.
    # Its neighbours: right (agrees, 0), below (disagrees, e^{-1/2}), diagonal (disagrees, e^{-2/2}).
    "square_one_source_with_diagonal": (
        _probs((1.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.0, 1.0), h=2), _image((0.0,), (0.0,), (0.0,), (0.0,), h=2),
        _mask(T, F_, F_, F_, h=2), _mask(T, T, T, T, h=2), {"kernel_size": 3, "sigma_rgb": 0.1, "sigma_xy": 1.0},
        math.exp(-0.5) + math.exp(-1.0)),
}


@pytest.mark.parametrize(("probs", "image", "unlabelled", "valid", "kwargs", "expected"), GATED_CASES.values(),
                         ids=GATED_CASES.keys())
def test_gated_crf_hand_worked(probs: torch.Tensor, image: torch.Tensor, unlabelled: torch.Tensor,
                               valid: torch.Tensor, kwargs: dict, expected: float) -> None:
    loss = gated_crf_loss(probs, image, unlabelled, valid, **kwargs)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------- affinity: hand-worked values

# 1x3 row p0 = (0.8, 0.2), p1 = (0.3, 0.7), p2 = (0.5, 0.5): P_same(0,1) = 0.38, P_same(1,2) = 0.5, P_same(0,2) = 0.5.
ROW = _probs((0.8, 0.2), (0.3, 0.7), (0.5, 0.5))
AFFINITY_CASES = {
    "uniform_colour_dilation_1": (ROW, _image((0.0,), (0.0,), (0.0,)), _mask(T, T, T), _mask(T, T, T),
                                  {"dilation": 1}, -(math.log(0.38) + math.log(0.5)) / 2),
    # |0 - 1| = 1, S = exp(-1 / 0.2) = 0.0067 < 0.3: the edge (1, 2) crosses a colour edge and is dropped.
    "colour_edge_dropped": (ROW, _image((0.0,), (0.0,), (1.0,)), _mask(T, T, T), _mask(T, T, T),
                            {"dilation": 1, "sigma": 0.2}, -math.log(0.38)),
    "dilation_2_skips_middle": (ROW, _image((0.0,), (0.0,), (0.0,)), _mask(T, T, T), _mask(T, T, T),
                                {"dilation": 2}, -math.log(0.5)),
    # Pixels 0 and 1 labelled: edge (0, 1) is cross-entropy's business; (1, 2) has an unlabelled end.
    "labelled_edge_dropped": (ROW, _image((0.0,), (0.0,), (0.0,)), _mask(F_, F_, T), _mask(T, T, T),
                              {"dilation": 1}, -math.log(0.5)),
    "invalid_end_dropped": (ROW, _image((0.0,), (0.0,), (0.0,)), _mask(T, T, T), _mask(T, T, F_),
                            {"dilation": 1}, -math.log(0.38)),
    # Two bands, difference (0.3, 0.4): ||d|| = 0.5, S = exp(-0.5 / 0.5) = e^-1 = 0.368: counted at 0.3 ...
    "two_bands_above_threshold": (ROW[..., :2], _image((0.0, 0.0), (0.3, 0.4)), _mask(T, T), _mask(T, T),
                                  {"dilation": 1, "sigma": 0.5, "threshold": 0.3}, -math.log(0.38)),
    # ... and dropped at 0.4, leaving no edge: exactly 0.
    "two_bands_below_threshold": (ROW[..., :2], _image((0.0, 0.0), (0.3, 0.4)), _mask(T, T), _mask(T, T),
                                  {"dilation": 1, "sigma": 0.5, "threshold": 0.4}, 0.0),
    # 2x2 [[A, B], [C, D]], A = B = (0.8, 0.2), C = D = (0.3, 0.7): 6 edges (2 rows, 2 columns, 2 diagonals);
    # P_same(A,B) = 0.64 + 0.04 = 0.68, P_same(C,D) = 0.09 + 0.49 = 0.58, the 4 others 0.38.
    "square_with_diagonals": (_probs((0.8, 0.2), (0.8, 0.2), (0.3, 0.7), (0.3, 0.7), h=2),
                              _image((0.1, 0.2), (0.1, 0.2), (0.1, 0.2), (0.1, 0.2), h=2),
                              _mask(T, T, T, T, h=2), _mask(T, T, T, T, h=2), {"dilation": 1},
                              -(math.log(0.68) + math.log(0.58) + 4 * math.log(0.38)) / 6),
}


@pytest.mark.parametrize(("probs", "image", "unlabelled", "valid", "kwargs", "expected"), AFFINITY_CASES.values(),
                         ids=AFFINITY_CASES.keys())
def test_affinity_hand_worked(probs: torch.Tensor, image: torch.Tensor, unlabelled: torch.Tensor,
                              valid: torch.Tensor, kwargs: dict, expected: float) -> None:
    loss = pairwise_affinity_loss(probs.log(), image, unlabelled, valid, **kwargs)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------- entropy: hand-worked values

H_82 = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))  # entropy of (0.8, 0.2) in nats


@pytest.mark.parametrize(("unlabelled", "expected"), [
    (_mask(T, T), (H_82 + math.log(2)) / 2),
    (_mask(T, F_), H_82),
    (_mask(F_, T), math.log(2)),
    (_mask(F_, F_), 0.0),
])
def test_entropy_hand_worked(unlabelled: torch.Tensor, expected: float) -> None:
    log_probs = _probs((0.8, 0.2), (0.5, 0.5)).log()
    assert entropy_loss(log_probs, unlabelled).item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------- dispatcher: hand-worked values from logits

# Logits (0, ln 4) give p = (0.2, 0.8); (ln 4, 0) give (0.8, 0.2). P_same of the two = 0.16 + 0.16 = 0.32.
L4 = math.log(4)


@pytest.mark.parametrize(("name", "labels", "valid", "expected"), [
    # 1x3 row (0.2, 0.8), (0.8, 0.2), (0.2, 0.8) on one colour, defaults kernel 5, sigma_xy 6.
    # Disagreeing pairs (0,1), (1,2) at distance 1 (e^{-1/72}), agreeing pair (0,2) at distance 2 (P_same 0.68):
    # pixel 1 labelled, so the sources are 0 and 2.
    ("gated_crf", [IGNORE_INDEX, 0, IGNORE_INDEX], [T, T, T],
     (2 * 0.68 * math.exp(-1 / 72) + 2 * 0.32 * math.exp(-4 / 72)) / 2),
    # Pixel 2 invalid: sources 0 and 1, each the other's only valid neighbour.
    ("gated_crf", [IGNORE_INDEX, IGNORE_INDEX, 0], [T, T, F_], 0.68 * math.exp(-1 / 72)),
    # Default dilation 2: the only edge is (0, 2), both (0.2, 0.8): P_same = 0.04 + 0.64 = 0.68.
    ("affinity", [IGNORE_INDEX, 1, 1], [T, T, T], -math.log(0.68)),
    ("affinity", [1, 1, 1], [T, T, T], 0.0),
    ("entropy", [IGNORE_INDEX, 0, IGNORE_INDEX], [T, T, T], H_82),
    ("entropy", [IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX], [F_, T, F_], H_82),
    ("none", [IGNORE_INDEX] * 3, [T, T, T], 0.0),
])
def test_dispatcher_hand_worked(name: str, labels: list[int], valid: list[bool], expected: float) -> None:
    logits = _probs((0.0, L4), (L4, 0.0), (0.0, L4))
    image = torch.full((1, 3, 1, 3), 0.25)
    loss = unlabeled_loss(name, logits, image, torch.tensor([[labels]]), _mask(*valid))
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6, abs=1e-12)


# ---------------------------------------------------------------- properties

def _random_batch(seed: int, b: int = 2, c: int = 3, k: int = 3, h: int = 6, w: int = 7):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(b, c, h, w, generator=g)
    image = torch.randn(b, k, h, w, generator=g) * 0.2
    labels = torch.randint(0, c, (b, h, w), generator=g)
    labels[torch.rand(b, h, w, generator=g) > 0.2] = IGNORE_INDEX
    valid = torch.rand(b, h, w, generator=g) > 0.3
    return logits, image, labels, valid


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("seed", [0, 1])
def test_invalid_pixels_change_nothing(name: str, seed: int) -> None:
    logits, image, labels, valid = _random_batch(seed)
    logits.requires_grad_(True)
    loss = unlabeled_loss(name, logits, image, labels, valid)
    (grad,) = torch.autograd.grad(loss, logits)
    assert loss.item() > 0
    assert torch.all(grad[~valid[:, None].expand_as(grad)] == 0)

    other_logits, other_image = logits.detach().clone(), image.clone()
    invalid = ~valid[:, None]
    other_logits[invalid.expand_as(logits)] = float("nan")  # no-data: neither may leak into loss or gradient
    other_image[invalid.expand_as(image)] = float("nan")
    other_labels = torch.where(valid, labels, 1)  # a "label" under an invalid pixel is still no label
    other_logits.requires_grad_(True)
    other = unlabeled_loss(name, other_logits, other_image, other_labels, valid)
    (other_grad,) = torch.autograd.grad(other, other_logits)
    assert other.item() == loss.item()
    assert torch.equal(other_grad, grad)


@pytest.mark.parametrize("name", UNLABELED_LOSSES)
@pytest.mark.parametrize("batch", ["all_labelled", "all_invalid", "labelled_or_invalid"])
def test_no_unlabelled_pixel_gives_exact_zero(name: str, batch: str) -> None:
    logits, image, labels, valid = _random_batch(2)
    labels = torch.randint(0, 3, labels.shape)
    if batch == "all_labelled":
        valid = torch.ones_like(valid)
    elif batch == "all_invalid":
        valid = torch.zeros_like(valid)
        labels[:] = IGNORE_INDEX
    logits.requires_grad_(True)
    loss = unlabeled_loss(name, logits, image, labels, valid)
    assert loss.item() == 0.0 and not torch.isnan(loss)
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("scale", [1.0, 1e4])
def test_bf16_logits_give_float32_loss_and_finite_gradients(name: str, scale: float) -> None:
    logits, image, labels, valid = _random_batch(3)
    logits = (logits * scale).bfloat16().requires_grad_(True)  # scale 1e4: confident, disagreeing predictions
    loss = unlabeled_loss(name, logits, image, labels, valid)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()
    assert logits.grad.dtype == torch.bfloat16 and torch.isfinite(logits.grad.float()).all()
    reference = unlabeled_loss(name, logits.detach().float(), image, labels, valid)
    assert loss.item() == pytest.approx(reference.item(), rel=1e-6)  # bf16 values, float32 arithmetic


@pytest.mark.parametrize("name", ["gated_crf", "affinity"])
@pytest.mark.parametrize("labelled", [False, True])
def test_prediction_following_the_colour_edge_scores_lower(name: str, labelled: bool) -> None:
    """Left half dark, right half bright; cutting the dark half costs more than splitting at the edge."""
    h, w = 8, 8
    image = torch.zeros(1, 3, h, w)
    image[..., w // 2:] = 1.0
    labels = torch.full((1, h, w), IGNORE_INDEX)
    if labelled:  # a point in each half
        labels[0, 1, 1], labels[0, 6, 6] = 0, 1
    valid = torch.ones(1, h, w, dtype=torch.bool)

    def split_at(col: int) -> torch.Tensor:
        logits = torch.zeros(1, 2, h, w)
        logits[:, 0, :, :col], logits[:, 1, :, col:] = 4.0, 4.0
        return logits

    along_edge = unlabeled_loss(name, split_at(w // 2), image, labels, valid)
    across_region = unlabeled_loss(name, split_at(w // 4), image, labels, valid)
    assert along_edge.item() < across_region.item()


def test_none_is_zero_in_the_graph() -> None:
    logits = torch.randn(1, 2, 3, 3, requires_grad=True)
    loss = unlabeled_loss("none", logits, torch.randn(1, 3, 3, 3), torch.full((1, 3, 3), IGNORE_INDEX),
                          torch.ones(1, 3, 3, dtype=torch.bool))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="gated_crf, affinity, entropy"):
        unlabeled_loss("crf", torch.zeros(1, 2, 2, 2), torch.zeros(1, 3, 2, 2), torch.zeros(1, 2, 2),  # type: ignore[arg-type]
                       torch.ones(1, 2, 2, dtype=torch.bool))


@pytest.mark.parametrize("name", UNLABELED_LOSSES)
def test_shapes_that_do_not_match_are_refused(name: str) -> None:
    logits, image, labels, valid = _random_batch(4)
    with pytest.raises(ValueError, match="upsample the logits"):
        unlabeled_loss(name, logits, image[..., :3], labels, valid)
    with pytest.raises(ValueError, match=r"must be \(B, H, W\)"):
        unlabeled_loss(name, logits, image, labels, valid[..., :3])
