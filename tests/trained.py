"""Models built from Ultralytics' bundled yamls, given what training gives their BatchNorms, for tests that must see
trained-model behaviour without training.

Usage (in a test):
    from trained import trained_like

    model = trained_like(load_detector("yolo11n.yaml", nc=3))
"""

import torch
import torch.nn as nn


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with non-trivial BatchNorm statistics and scales spread apart (so that network slimming's threshold
    has something to choose), in place. Eps and momentum stay as its task's model class built them (Ultralytics sets
    1e-3 and 0.03 for detection and its kin; classification keeps PyTorch's)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.05)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return model
