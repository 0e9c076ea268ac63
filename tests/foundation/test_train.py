import torch

import weightlight as wl


def test_trained_seed_cnn_reaches_98_percent_on_digits(trained_cnn, digits):
    result = wl.measure(trained_cnn, digits, runs=3, warmup=1, batch_sizes=(1,))
    assert result.metric >= 98.0


def test_train_returns_a_copy_and_leaves_the_input_untouched(digits):
    model = wl.models.mlp()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trained = wl.train(model, digits, epochs=0.2, progress=False)
    assert trained is not model
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not all(torch.equal(before[k], v) for k, v in trained.state_dict().items())


def test_same_seed_gives_the_same_weights(digits):
    torch.manual_seed(0)
    start = wl.models.mlp()
    a = wl.train(start, digits, epochs=0.3, seed=5, progress=False)
    b = wl.train(start, digits, epochs=0.3, seed=5, progress=False)
    c = wl.train(start, digits, epochs=0.3, seed=6, progress=False)
    assert not torch.equal(a.net[1].weight, c.net[1].weight)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )


def test_callbacks_see_every_step(digits):
    seen = []
    wl.train(wl.models.mlp(), digits, epochs=1, progress=False,
             callbacks=[lambda step, total, m: seen.append((step, total))])  # fmt: skip
    steps = len(digits.train)
    assert seen[0] == (1, steps) and seen[-1] == (steps, steps) and len(seen) == steps
