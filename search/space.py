"""Every searched range in one place: the Tune param space, shaped like ``TrialConfig.to_dict()``."""

from __future__ import annotations

import copy
from typing import Any

from ray import tune

from search.settings import SearchSettings

# (section, field) of the searched settings, in the order tables show them
SEARCHED = (("train", "lr"), ("points", "density"), ("points", "points_per_instance"), ("train", "epochs"))


def _log_uniform(lo: float, hi: float) -> Any:
    return lo if lo == hi else tune.loguniform(lo, hi)


def _int_range(lo: int, hi: int) -> Any:
    return lo if lo == hi else tune.randint(lo, hi + 1)  # tune.randint's upper bound is exclusive


def build_param_space(settings: SearchSettings) -> dict[str, Any]:
    """The base trial config with the searched fields replaced by Tune distributions.

    Learning rate and density are log-uniform; epochs and clicks per instance are integers in [LO, HI].
    """
    space = copy.deepcopy(settings.base.to_dict())
    s = settings.space
    space["train"]["lr"] = _log_uniform(*s.lr)
    space["train"]["epochs"] = _int_range(*s.epochs)
    if s.points_per_instance is not None:
        space["points"]["mode"] = "per_instance"
        space["points"]["points_per_instance"] = _int_range(*s.points_per_instance)
    else:
        space["points"]["mode"] = "density"
        space["points"]["density"] = _log_uniform(*s.density)
    return space
