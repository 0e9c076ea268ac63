"""Must-show: a student with a quarter of the seed CNN's parameters learns more from the
trained seed CNN (logit KD) than from the hard labels alone, same budget and seeds.

The regime: 200 labelled training images, no augmentation, 30 epochs. On the full, shifted
training set the half-width student is regularised enough that KD and hard labels end within
noise of each other (see docs/distillation.md); with few labels and long training,
cross-entropy overfits while the teacher's soft targets still carry how similar the classes
look (Hinton et al. 2015). Measured while developing (3 seeds): hard labels 93.1 %, KD 94.5 %.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

import weightlight as wl
from weightlight.measure.metric import evaluate

LABELLED, EPOCHS, SEEDS = 200, 30, (0, 1, 2)


def _few_labels() -> wl.data.Data:
    full = wl.data.digits(seed=0, augment=False)
    train = full.train.dataset
    assert isinstance(train, TensorDataset)
    x, y = train.tensors
    pick = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:LABELLED]
    x_eval, y_eval = full.eval.dataset.tensors
    return wl.data.from_tensors(x[pick], y[pick], x_eval, y_eval, batch_size=32, name="digits-200")


def test_logit_kd_beats_hard_labels_on_average_over_three_seeds(trained_cnn):
    data = _few_labels()
    hard, soft = [], []
    for seed in SEEDS:
        torch.manual_seed(seed)
        student = wl.models.shrink(trained_cnn, width=0.5)
        assert sum(p.numel() for p in student.parameters()) == 300_426  # 0.25 of 1,199,882
        alone = wl.train(student, data, epochs=EPOCHS, seed=seed, progress=False)
        config = wl.distill.Logit(temperature=4.0, alpha=0.9, epochs=EPOCHS, seed=seed)
        taught = wl.distill(student, config, data, teacher=trained_cnn)
        hard.append(evaluate(alone, data.eval))
        soft.append(evaluate(taught, data.eval))
    mean_hard, mean_soft = sum(hard) / len(hard), sum(soft) / len(soft)
    # 0.5 points is ~2 of 360 test images per seed on average; the margin measured was ~1.5.
    assert mean_soft >= mean_hard + 0.5, (hard, soft)
    assert mean_soft >= 90.0
