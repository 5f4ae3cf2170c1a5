import pickle
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from blurfocus import models


def test_alexnet_from_a_local_state_dict(tmp_path):
    torch.manual_seed(1)
    ref = torchvision.models.alexnet(weights=None)
    path = tmp_path / "alexnet.pth"
    torch.save(ref.state_dict(), path)
    torch.manual_seed(2)  # a different init, so equality below proves loading
    model, pre = models.build_model("alexnet", str(path), num_classes=2)
    assert pre["head"] == "classifier.6"
    for name in ("features.0.weight", "features.10.bias", "classifier.1.weight", "classifier.4.weight"):
        torch.testing.assert_close(model.net.state_dict()[name], ref.state_dict()[name])
    assert model.net.classifier[6].out_features == 2
    assert pre["mean"] == list(models.IMAGENET_MEAN)


def test_imagenet_route_reads_the_torch_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    cache = models.imagenet_cache_path("alexnet")
    assert cache.name.startswith("alexnet-") and cache.suffix == ".pth"
    cache.parent.mkdir(parents=True)
    torch.manual_seed(3)
    ref = torchvision.models.alexnet(weights=None)
    torch.save(ref.state_dict(), cache)
    model, _ = models.build_model("alexnet", "imagenet", 2)
    torch.testing.assert_close(model.net.features[0].weight, ref.features[0].weight)


def test_imagenet_offline_error_names_url_and_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))

    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(models.WeightsError) as err:
        models.build_model("alexnet", "imagenet", 2)
    text = str(err.value)
    assert "download.pytorch.org" in text and str(tmp_path / "hub" / "checkpoints") in text


def test_efficientnet_lite0_pretrained_classifies_chelsea_as_egyptian_cat():
    skimage = pytest.importorskip("skimage.data")
    from PIL import Image

    from blurfocus import images

    sd = models.imagenet_state_dict("efficientnet_lite0")
    net, mean, std = models._base_model("efficientnet_lite0")
    net.load_state_dict(sd)
    wrapped = models.Normalized(net, mean, std).eval()
    arr = images.square_resize(Image.fromarray(skimage.chelsea()), 224)
    x = torch.from_numpy(np.array(arr)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        top = wrapped(x).argmax(1).item()
    assert top == 285  # Egyptian cat


def test_efficientnet_lite0_head_and_trainable_classifier():
    model, pre = models.build_model("efficientnet_lite0", "imagenet", 2)
    assert pre["head"] == "classifier"
    names = models.set_trainable(model, "classifier", pre["head"])
    assert names == ["classifier.weight", "classifier.bias"]
    assert sum(p.requires_grad for p in model.parameters()) == 2


def test_set_trainable_prefixes_and_bad_prefix():
    model, pre = models.build_model("alexnet", "none", 2)
    names = models.set_trainable(model, ["features.10", "classifier"], pre["head"])
    assert "features.10.weight" in names and "features.8.weight" not in names
    with pytest.raises(ValueError, match="top-level modules: classifier, features"):
        models.set_trainable(model, ["featurez"], pre["head"])


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_small", "squeezenet1_0"])
def test_other_torchvision_heads_are_replaced(arch):
    model, pre = models.build_model(arch, "none", 2)
    out = model(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 2)


def test_checkpoint_roundtrip_with_weights_only(tmp_path):
    torch.manual_seed(0)
    model, pre = models.build_model("alexnet", "none", 2)
    meta = {"arch": "alexnet", "weights": "none", "classes": ["cat", "dog"], "input_size": 96,
            "mean": pre["mean"], "std": pre["std"], "role": "naive", "seed": 0, "train_variant": "clear",
            "versions": {"torch": str(torch.__version__)}}
    path = tmp_path / "model.pt"
    models.save_checkpoint(path, model, meta)
    loaded, got = models.load_checkpoint(path)
    assert got["classes"] == ["cat", "dog"] and got["role"] == "naive"
    x = torch.rand(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model.eval()(x))


def test_initial_model_is_the_start_of_training_with_its_init_seed():
    torch.manual_seed(123)  # what train.py does before build_model
    start, _ = models.build_model("alexnet", "none", 2)
    meta = {"arch": "alexnet", "weights": "none", "classes": ["cat", "dog"], "init_seed": 123}
    state = torch.get_rng_state()
    again = models.initial_model(meta)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is untouched
    for (name, a), (_, b) in zip(start.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), name
    other = models.initial_model({**meta, "init_seed": 124})
    assert not torch.equal(other.net.features[0].weight, start.net.features[0].weight)
    with pytest.raises(models.WeightsError, match="init_seed.*rerun its train job"):
        models.initial_model({k: v for k, v in meta.items() if k != "init_seed"})


# ------------------------------------------------------------- bad weights files


def test_missing_weights_file(tmp_path):
    with pytest.raises(models.WeightsError, match="does not exist"):
        models.build_model("alexnet", str(tmp_path / "nope.pth"), 2)


def test_truncated_weights_file(tmp_path):
    path = tmp_path / "alexnet.pth"
    torch.save(torchvision.models.alexnet(weights=None).state_dict(), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(models.WeightsError, match="truncated"):
        models.build_model("alexnet", str(path), 2)


def test_weights_for_another_architecture(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    with pytest.raises(models.WeightsError, match="different architecture") as err:
        models.build_model("alexnet", str(path), 2)
    assert "missing keys" in str(err.value)


class NotAStateDict:
    def __init__(self):
        self.payload = np.arange(3)


def test_pickle_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump(NotAStateDict(), fh)
    with pytest.raises(models.WeightsError, match="refused for safety"):
        models.build_model("alexnet", str(path), 2)
    # a full pickled model (torch.save(model)) is refused the same way
    path2 = tmp_path / "model.pth"
    torch.save(torchvision.models.alexnet(weights=None), path2)
    with pytest.raises(models.WeightsError, match="weights_only=True"):
        models.build_model("alexnet", str(path2), 2)


def test_tensor_list_is_not_a_state_dict(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(3)], path)
    with pytest.raises(models.WeightsError, match="not a state dict"):
        models.build_model("alexnet", str(path), 2)


def test_resolve_device():
    assert models.resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        assert models.resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            models.resolve_device("cuda")


def test_static_architecture_list_matches_installed_torchvision():
    from blurfocus import archs

    installed = set(torchvision.models.list_models(module=torchvision.models))
    assert archs.TORCHVISION_CLASSIFIERS <= installed
    assert archs.is_known("alexnet") and archs.is_known("efficientnet_lite0") and not archs.is_known("alexnt")


def test_config_validation_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, yaml; sys.path.insert(0, 'src'); from blurfocus.config import validate_config; "
            "validate_config(yaml.safe_load(open('config.yaml'))); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=str(__import__('pathlib').Path(__file__).parents[1]))
    assert out.stdout.strip() == "False", out.stderr
