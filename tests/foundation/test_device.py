"""--device: parsing, resolution on this machine and under torchrun (CUDA mocked where the
machine has none), the process-group backend, and that training asks the accelerator to place
the model, every batch and the distillation teachers."""

from __future__ import annotations

import importlib

import pytest
import torch

import weightlight as wl
from weightlight import accelerator
from weightlight.accelerator import Accelerator, check_device, resolve_device, use_device
from weightlight.errors import UserError

train_module = importlib.import_module("weightlight.train")  # wl.train is the function
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


@pytest.fixture
def fake_gpus(monkeypatch):
    """Pretend torch sees `n` CUDA GPUs (tensors are never put on them)."""

    def install(n: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: n)

    return install


@pytest.fixture
def torchrun(monkeypatch):
    """The environment torchrun gives one rank."""

    def install(local_rank: int, world: int) -> None:
        monkeypatch.setenv("WORLD_SIZE", str(world))
        monkeypatch.setenv("RANK", str(local_rank))
        monkeypatch.setenv("LOCAL_RANK", str(local_rank))

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    return install


@pytest.mark.parametrize(
    ("spec", "normal"), [("auto", "auto"), ("CPU", "cpu"), (" cuda ", "cuda"), ("cuda:3", "cuda:3")]
)
def test_device_specs_are_normalised(spec, normal):
    assert check_device(spec) == normal


@pytest.mark.parametrize("spec", ["gpu", "cuda:", "cuda:x", "cuda:-1", "mps", "", "cpu:0"])
def test_a_bad_device_is_a_one_line_user_error(spec):
    with pytest.raises(UserError, match="unknown device") as err:
        check_device(spec)
    assert "\n" not in str(err.value) and "auto, cpu, cuda or cuda:N" in str(err.value)


def test_explicit_cpu_and_auto_without_cuda_resolve_to_the_cpu(fake_gpus, torchrun):
    fake_gpus(0)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")  # the default choice is auto


@NO_GPU
def test_auto_is_the_cpu_on_this_machine():
    assert resolve_device("auto").type == "cpu"


@pytest.mark.parametrize("spec", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_user_error(fake_gpus, torchrun, spec):
    fake_gpus(0)
    with pytest.raises(UserError, match="no CUDA GPU"):
        resolve_device(spec)
    with pytest.raises(UserError, match="no CUDA GPU"), use_device(spec):
        pass  # use_device checks on entry, before any work


def test_gpu_choice_on_one_machine(fake_gpus, torchrun):
    fake_gpus(2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("cuda") == torch.device("cuda", 0)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(UserError, match=r"cuda:2 does not exist: torch sees 2 GPU"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("local_rank", [0, 1, 2])
def test_each_torchrun_rank_takes_its_local_gpu(fake_gpus, torchrun, local_rank):
    fake_gpus(3)
    torchrun(local_rank, world=3)
    assert resolve_device("auto") == torch.device("cuda", local_rank)
    assert resolve_device("cuda") == torch.device("cuda", local_rank)
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(UserError, match="names one GPU for all 3 torchrun ranks"):
        resolve_device("cuda:0")


def test_more_ranks_than_gpus_is_a_user_error(fake_gpus, torchrun):
    fake_gpus(2)
    torchrun(2, world=4)
    with pytest.raises(UserError, match="at most 2 torchrun processes per node"):
        resolve_device("cuda")


@pytest.mark.parametrize(
    ("gpus", "spec", "backend", "bound"),
    [(2, "auto", "nccl", 1), (2, "cpu", "gloo", None), (0, "auto", "gloo", None)],
)
def test_the_process_group_backend_follows_the_device(
    fake_gpus, torchrun, monkeypatch, gpus, spec, backend, bound
):
    """nccl only when this rank trains on a GPU: with --device cpu on a GPU machine, gloo."""
    fake_gpus(gpus)
    torchrun(1, world=2)
    calls: dict = {}
    monkeypatch.setattr(accelerator.dist, "is_initialized", lambda: "backend" in calls)
    monkeypatch.setattr(accelerator.dist, "init_process_group", lambda backend: calls.update(
        backend=backend))  # fmt: skip
    monkeypatch.setattr(accelerator.dist, "get_rank", lambda: 1)
    monkeypatch.setattr(accelerator.dist, "get_world_size", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.update(bound=d.index))
    started = Accelerator.start(spec)
    assert calls["backend"] == backend and calls.get("bound") == bound
    assert (started.rank, started.world_size, started.distributed) == (1, 2, True)
    assert started.device == (torch.device("cuda", 1) if bound is not None else torch.device("cpu"))


def test_use_device_nests_and_restores():
    assert accelerator.current_device() == "auto"
    with use_device("cpu"):
        assert accelerator.current_device() == "cpu"
        with use_device(None):  # None keeps the caller's choice
            assert accelerator.current_device() == "cpu"
    assert accelerator.current_device() == "auto"


def test_place_moves_tensors_inside_tuples_and_dicts():
    batch = ({"input_ids": torch.ones(2, 3, dtype=torch.long), "n": 3}, [torch.zeros(2)])
    moved = accelerator.place(batch, torch.device("meta"))
    assert moved[0]["input_ids"].device.type == "meta" and moved[0]["n"] == 3
    assert moved[1][0].device.type == "meta" and batch[1][0].device.type == "cpu"


def test_training_places_the_model_and_every_batch(digits, monkeypatch):
    """The loop asks the accelerator for each placement (switched off, the counts fail)."""
    seen = {"prepared": [], "placed": 0}

    class Spy(Accelerator):
        def prepare(self, model):
            seen["prepared"].append(model)
            return super().prepare(model)

        def place(self, batch):
            seen["placed"] += 1
            return super().place(batch)

    monkeypatch.setattr(train_module, "Accelerator", Spy)
    steps = len(digits.train)
    trained = wl.train(wl.models.mlp(), digits, epochs=1, progress=False, device="cpu")
    assert seen["prepared"] == [trained] and seen["placed"] == steps
    assert {p.device.type for p in trained.parameters()} == {"cpu"}


def test_an_explicit_cpu_device_trains_on_the_cpu(digits):
    model = wl.models.mlp()
    before = model.net[1].weight.clone()
    with use_device("cpu"):
        trained = wl.train(model, digits, epochs=0.3, progress=False)
    assert trained.net[1].weight.device.type == "cpu"
    assert not torch.equal(before, trained.net[1].weight)


def test_a_distillation_loss_moves_its_teachers_with_it():
    """Teachers sit outside the loss's module tree; `loss.to(...)` must still move them
    (shown with a dtype, which moves the same way as a device)."""
    from weightlight.distill.core import frozen
    from weightlight.distill.logit import LogitLoss

    teacher = wl.models.mnist_cnn()
    kd = LogitLoss(frozen(teacher), temperature=4.0, alpha=0.7)
    kd.to(torch.float64)
    assert {p.dtype for t in kd.teachers for p in t.parameters()} == {torch.float64}
    assert {p.dtype for p in teacher.parameters()} == {torch.float32}  # caller's untouched


@pytest.mark.parametrize("command", ["train", "run", "distill", "prune", "search"])
@pytest.mark.parametrize(("device", "words"), [("gpu0", "unknown device 'gpu0'"),
                                               ("cuda", "no CUDA GPU")])  # fmt: skip
def test_cli_device_mistakes_are_one_line_exit_2(
    run_cli, fake_gpus, torchrun, tmp_path, command, device, words
):
    fake_gpus(0)
    rest = {"distill": ["mnist_cnn"], "prune": ["mnist_cnn", "--out", tmp_path / "p.pt"],
            "run": ["--out", tmp_path / "o"], "search": ["--out", tmp_path / "o"]}  # fmt: skip
    code, out, err = run_cli(command, *rest.get(command, []), "--device", device)
    assert code == 2, (out, err)
    assert words in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not list(tmp_path.rglob("*.safetensors"))  # failed before any training


def test_a_recipe_names_its_device(tmp_path):
    from weightlight.recipe import dump_recipe, parse_recipe

    stages = [{"finetune": {"epochs": 1}}]
    recipe = parse_recipe({"stages": stages, "device": "CUDA:1"})
    assert recipe.device == "cuda:1" and "device: cuda:1" in dump_recipe(recipe)
    assert "device" not in dump_recipe(parse_recipe({"stages": stages}))  # unset: not written
    with pytest.raises(UserError, match=r"recipe: device: unknown device 'tpu'"):
        parse_recipe({"stages": stages, "device": "tpu"})


def test_a_recipe_device_without_cuda_fails_the_run_before_any_stage(fake_gpus, digits, tmp_path):
    from weightlight.recipe import parse_recipe

    fake_gpus(0)
    recipe = parse_recipe({"stages": [{"finetune": {"epochs": 1}}], "device": "cuda"})
    with pytest.raises(UserError, match="no CUDA GPU"):
        wl.run(recipe, wl.models.mlp(), digits, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_measurement_states_the_device_it_timed(digits):
    record = wl.measure(wl.models.mlp(), digits, batch_sizes=(1,), runs=3, warmup=0)
    assert record.device == "cpu"
    old = record.model_dump(mode="json")
    del old["device"]  # a record written before the field existed still loads
    assert type(record).model_validate(old).device is None
