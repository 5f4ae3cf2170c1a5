"""Architecture names accepted by ``model.arch``, checked without importing torch.

Validating the config happens every time Snakemake parses the workflow (on a cluster, twice
per job), so it must be cheap: names in the list below (torchvision 0.29's classification
models, kept in sync by a test) are accepted at once; any other name is checked against the
installed torchvision, so models of a newer torchvision are accepted too.
"""

from __future__ import annotations

EXTRA_ARCHS = ("efficientnet_lite0",)

TORCHVISION_CLASSIFIERS = frozenset((
    'alexnet', 'convnext_base', 'convnext_large', 'convnext_small', 'convnext_tiny',
    'densenet121', 'densenet161', 'densenet169', 'densenet201', 'efficientnet_b0',
    'efficientnet_b1', 'efficientnet_b2', 'efficientnet_b3', 'efficientnet_b4',
    'efficientnet_b5', 'efficientnet_b6', 'efficientnet_b7', 'efficientnet_v2_l',
    'efficientnet_v2_m', 'efficientnet_v2_s', 'googlenet', 'inception_v3', 'maxvit_t',
    'mnasnet0_5', 'mnasnet0_75', 'mnasnet1_0', 'mnasnet1_3', 'mobilenet_v2',
    'mobilenet_v3_large', 'mobilenet_v3_small', 'regnet_x_16gf', 'regnet_x_1_6gf',
    'regnet_x_32gf', 'regnet_x_3_2gf', 'regnet_x_400mf', 'regnet_x_800mf', 'regnet_x_8gf',
    'regnet_y_128gf', 'regnet_y_16gf', 'regnet_y_1_6gf', 'regnet_y_32gf', 'regnet_y_3_2gf',
    'regnet_y_400mf', 'regnet_y_800mf', 'regnet_y_8gf', 'resnet101', 'resnet152', 'resnet18',
    'resnet34', 'resnet50', 'resnext101_32x8d', 'resnext101_64x4d', 'resnext50_32x4d',
    'shufflenet_v2_x0_5', 'shufflenet_v2_x1_0', 'shufflenet_v2_x1_5', 'shufflenet_v2_x2_0',
    'squeezenet1_0', 'squeezenet1_1', 'swin_b', 'swin_s', 'swin_t', 'swin_v2_b', 'swin_v2_s',
    'swin_v2_t', 'vgg11', 'vgg11_bn', 'vgg13', 'vgg13_bn', 'vgg16', 'vgg16_bn', 'vgg19',
    'vgg19_bn', 'vit_b_16', 'vit_b_32', 'vit_h_14', 'vit_l_16', 'vit_l_32', 'wide_resnet101_2',
    'wide_resnet50_2'
))


def is_known(arch: str) -> bool:
    """True if ``arch`` names a torchvision classification model or an extra architecture."""
    if arch in TORCHVISION_CLASSIFIERS or arch in EXTRA_ARCHS:
        return True
    return arch in set(installed())


def installed() -> list[str]:
    """Every accepted name, from the installed torchvision (imports it)."""
    import torchvision

    return sorted(set(torchvision.models.list_models(module=torchvision.models)) | set(EXTRA_ARCHS))


def suggestions() -> list[str]:
    """Names to suggest in error messages (no import)."""
    return sorted(TORCHVISION_CLASSIFIERS | set(EXTRA_ARCHS))
