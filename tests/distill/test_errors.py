"""Bad input fails up front with one line naming the problem (UserError; exit code 2 at the CLI)."""

from __future__ import annotations

import pytest
import torch

import weightlight as wl
from weightlight.config import Finetune


@pytest.fixture(scope="module")
def teacher() -> torch.nn.Module:
    """An untrained seed CNN is enough: every check here runs before any training step."""
    torch.manual_seed(0)
    return wl.models.mnist_cnn()


@pytest.fixture(scope="module")
def teacher_file(teacher, tmp_path_factory):
    return wl.models.save_model(teacher, tmp_path_factory.mktemp("t") / "teacher.safetensors")


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (lambda: wl.distill.Logit(temperature=0), "Logit.temperature: Input should be greater"),
        (lambda: wl.distill.Logit(temperature=-2.0), "(got -2.0)"),
        (lambda: wl.distill.Logit(alpha=1.5), "Logit.alpha: Input should be less than or"),
        (lambda: wl.distill.Feature(pairs={}), "pairs"),
        (lambda: wl.distill.Online(num_peers=1), "num_peers"),
        (lambda: wl.distill.Logit(temprature=4.0), "Logit.temprature: unknown key"),
    ],
)
def test_bad_config_values_are_one_line_user_errors(build, words):
    with pytest.raises(wl.UserError) as info:
        build()
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (wl.distill.Feature(pairs={"conv9": "conv2"}), "student has no layer named 'conv9'"),
        (wl.distill.Feature(pairs={"conv2": "fc9"}), "teacher has no layer named 'fc9'"),
        (wl.distill.Attention(pairs={"conv2": "nope"}), "teacher has no layer named 'nope'"),
        (wl.distill.Relation(student_layer="emb"), "student has no layer named 'emb'"),
    ],
)
def test_unknown_layer_names_fail_before_training(config, words, digits, teacher):
    student = wl.models.shrink(teacher, width=0.5)
    with pytest.raises(wl.UserError, match=words):
        wl.distill(student, config, digits, teacher=teacher)
    assert all(not m._forward_hooks for m in [*student.modules(), *teacher.modules()])


def test_mismatched_class_counts_fail_before_training(digits, teacher):
    student = wl.models.mnist_cnn(num_classes=5, width=0.5)
    with pytest.raises(
        wl.UserError, match="teacher predicts 10 classes but the student predicts 5"
    ):
        wl.distill(student, wl.distill.Logit(), digits, teacher=teacher)


@pytest.mark.parametrize(
    ("config", "given", "words"),
    [
        (wl.distill.Logit(), None, "needs a teacher"),
        (wl.distill.Online(), "one", "trains peers without a teacher"),
        (wl.distill.MultiTeacher(), "one", "needs a list of at least two teachers"),
        (wl.distill.MultiTeacher(weights=(1, 2, 3)), "two", "3 weights for 2 teachers"),
        (wl.distill.Logit(), "two", "takes one teacher, got 2"),
    ],
)
def test_wrong_teacher_arguments(config, given, words, digits, teacher):
    arg = {None: None, "one": teacher, "two": [teacher, teacher]}[given]
    with pytest.raises(wl.UserError, match=words):
        wl.distill(wl.models.shrink(teacher, 0.5), config, digits, teacher=arg)


def test_a_config_from_another_technique_is_rejected(digits, teacher):
    with pytest.raises(wl.UserError, match="not a distillation config"):
        wl.distill(teacher, Finetune(), digits, teacher=teacher)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-o", "temperature=0"], "Logit.temperature: Input should be greater"),
        (["--method", "feature", "-o", "pairs={conv9: conv2}"], "no layer named 'conv9'"),
        (["--method", "nosuch"], "unknown distill method 'nosuch'"),
        (["-o", "temperature"], "is not key=value"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_code_2(run_cli, teacher_file, tmp_path, args, words):
    code, out, err = run_cli("distill", teacher_file, "--out", tmp_path / "s.safetensors", *args)
    assert code == 2
    assert words in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in out + err
    assert not (tmp_path / "s.safetensors").exists()


def test_cli_mismatched_classes_exit_code_2(run_cli, teacher_file, tmp_path):
    five = wl.models.save_model(wl.models.mnist_cnn(num_classes=5), tmp_path / "five.safetensors")
    code, _, err = run_cli("distill", teacher_file, "--student", five, "-o", "epochs=0.1")
    assert code == 2 and "predicts 10 classes but the student predicts 5" in err
