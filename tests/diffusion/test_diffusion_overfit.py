"""The conditioning path is wired: a tiny model overfitted on a few segments regenerates, from their conditions
and the SAME starting noise, mels closer to their own targets than to the other segments'."""

from __future__ import annotations

import pytest
import torch

from ostinato.datasets.loader import SegmentDataset
from ostinato.diffusion.conditioner import condition_tensors
from ostinato.diffusion.pipeline import TheoryDiffusionPipeline

pytestmark = [pytest.mark.usefixtures("torch_one_thread"), pytest.mark.slow]  # trains a tiny model


def test_overfitted_model_regenerates_each_segment_from_its_conditions(tiny_model, diffusion_trainset):
    # Each step's loss is at a random timestep, so means over 50 steps: over seeds 0-2 the last 50 average 0.35-0.58
    # of the first 50.
    assert sum(tiny_model.losses[-50:]) / 50 < 0.7 * sum(tiny_model.losses[:50]) / 50
    dataset = SegmentDataset(str(diffusion_trainset), "train")
    batch = torch.utils.data.default_collate([dataset[i] for i in tiny_model.segments])
    targets = batch["mel"][:, 0].flatten(1)
    pipeline = TheoryDiffusionPipeline.from_checkpoint(tiny_model.model)
    same_noise = [torch.Generator().manual_seed(0) for _ in tiny_model.segments]
    conditions = condition_tensors(batch)
    guided = pipeline(conditions, num_inference_steps=20, guidance_scale=3.0, generator=same_noise).mels.flatten(1)
    distances = torch.cdist(guided, targets)  # (generated, target)
    assert torch.equal(distances.argmin(dim=1), torch.arange(len(tiny_model.segments))), distances
    # Without conditions the same noise gives the same mel for every segment: only the conditions told them apart.
    same_noise = [torch.Generator().manual_seed(0) for _ in tiny_model.segments]
    unguided = pipeline(conditions, num_inference_steps=20, guidance_scale=0.0, generator=same_noise).mels.flatten(1)
    torch.testing.assert_close(unguided[1:], unguided[:1].expand_as(unguided[1:]), atol=1e-3, rtol=1e-3)
