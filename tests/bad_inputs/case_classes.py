"""Classes of bad-input cases, generated: each function returns several cases of one mistake.

test_corpus.py walks these after cases.yaml. A case is the same mapping as a YAML one; its
files are made by makers.py, and `before_work` names functions that must not be reached (the
check has to come first).
"""

from __future__ import annotations

CASE_CLASSES = []


def case_class(fn):
    CASE_CLASSES.append(fn)
    return fn


_NO_WORK = ["weightlight.data.load_data"]  # every command loads its data before working


@case_class
def output_under_a_file() -> list[dict]:
    """Every command's output path with a file where a folder must be, refused up front."""
    blocker = {"blocker": "a file, not a folder"}
    commands = {
        "train": ["train", "--model", "mlp", "--epochs", "0.1", "--out", "blocker/m.safetensors"],
        "distill": ["distill", "mlp", "--out", "blocker/s.safetensors"],
        "quantize": ["quantize", "mlp", "--method", "dynamic_int8", "--out", "blocker/q.pt"],
        "prune": ["prune", "mlp", "--method", "unstructured", "--out", "blocker/p.safetensors"],
        "export": ["export", "mlp", "--onnx", "blocker/m.onnx"],
        "sensitivity-plot": ["sensitivity", "--model", "mlp", "--ratios", "0.5",
                             "--plot", "blocker/s.png"],
        "search": ["search", "--model", "mlp", "--trials", "1", "--out", "blocker/s"],
        "advise": ["advise", "--model", "mlp", "--out", "blocker/a"],
    }  # fmt: skip
    cases = [
        {"id": f"blocked-{name}-output", "files": blocker, "cli": args, "before_work": _NO_WORK,
         "expect": ["cannot write", "blocker"]}
        for name, args in commands.items()
    ]  # fmt: skip
    # Inside a run folder: a sub-folder taken by a file, or an output file taken by a folder.
    taken = (("models", "a file"), ("plots", "a file"), ("cache", "a file"),
             ("report.html/keep", "a folder"), ("log.txt/keep", "a folder"))  # fmt: skip
    for inside, what in taken:
        name = inside.split("/")[0]
        cases.append({
            "id": f"blocked-run-{name.replace('.', '-')}", "files": {f"out/{inside}": "x"},
            "cli": ["run", "--model", "mlp", "--out", "out"], "before_work": _NO_WORK,
            "expect": ["cannot write", f"out/{name}", what],
        })  # fmt: skip
    cases.append({
        "id": "blocked-search-trials", "files": {"s/trials": "x"},
        "cli": ["search", "--model", "mlp", "--trials", "1", "--out", "s"],
        "before_work": _NO_WORK, "expect": ["cannot write", "s/trials", "a file"],
    })  # fmt: skip
    for inside, what in (("plots", "a file"), ("report.json/keep", "a folder")):
        name = inside.split("/")[0]
        cases.append({
            "id": f"blocked-report-{name.replace('.', '-')}",
            "files": {"r/variants.jsonl": "", f"r/{inside}": "x"}, "cli": ["report", "r"],
            "before_work": ["weightlight.report.write_plots"],
            "expect": ["cannot write", f"r/{name}", what],
        })  # fmt: skip
    return cases


@case_class
def forged_safetensors_headers() -> list[dict]:
    """A safetensors header that lies: impossible dimensions, the wrong rank, absurd widths."""
    forgeries = {
        "negative-dimension": ({"raw_shape": {"net.1.weight": "[-256, 784]"}},
                               ["not a valid safetensors"]),
        "huge-dimension-without-bytes": (
            {"raw_shape": {"net.1.weight": "[1099511627776, 784]"}}, ["not a valid safetensors"]),
        "huge-dimension-times-zero": ({"shapes": {"net.1.weight": [2**40, 0]}},
                                      ["net.1.weight", "empty dimension"]),
        "empty-layer": ({"shapes": {"net.1.weight": [0, 784], "net.1.bias": [0]}},
                        ["net.1.weight", "empty dimension"]),
        "linear-weight-rank-1": ({"shapes": {"net.1.weight": [256 * 784]}},
                                 ["net.1.weight", "1 dimensions", "linear has 2"]),
        "linear-weight-rank-3": ({"shapes": {"net.1.weight": [256, 784, 1]}},
                                 ["net.1.weight", "do not fit"]),
        "bias-rank-2": ({"shapes": {"net.1.bias": [256, 1]}}, ["net.1.bias", "do not fit"]),
        "conv-huge-times-zero": (
            {"arch": "mnist_cnn", "shapes": {"conv2.weight": [2**40, 0, 3, 3]}},
            ["conv2.weight", "empty dimension"]),
        "conv-weight-rank-2": ({"arch": "mnist_cnn", "shapes": {"conv1.weight": [32, 9]}},
                               ["conv1.weight", "do not fit"]),
        "batchnorm-weight-rank-2": (
            {"arch": "resnet_small", "shapes": {"stem.1.weight": [2**40, 0]}},
            ["stem.1.weight", "batchnorm2d has 1"]),
        "architecture-2-40-wide": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [2**40]}}},
            ["names a 'mlp'", "bytes"]),
        "architecture-5-billion-weights": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [2**20, 2**12]}}},
            ["names a 'mlp'", "bytes"]),
        "architecture-negative-width": (
            {"arch_record": {"name": "mlp", "kwargs": {"hidden": [-5]}}},
            ["cannot build", "negative"]),
    }  # fmt: skip
    cases = []
    for name, (spec, expect) in forgeries.items():
        files = {"w.safetensors": {"make": "forged_safetensors", **spec}}
        cases.append({"id": f"forged-header-{name}", "files": files,
                      "cli": ["measure", "w.safetensors", "--runs", "3", "--batch-sizes", "1"],
                      "expect": expect})  # fmt: skip
    for name, shapes, expect in (
        ("negative", {"net.1.weight": [-1, 784]}, ["malformed", "float"]),
        ("huge", {"net.1.weight": [2**40, 784]}, ["declares", "bytes"]),
    ):
        cases.append({
            "id": f"forged-quantized-record-{name}",
            "files": {"q.pt": {"make": "forged_quantized", "shapes": shapes}},
            "api": "load_model", "kwargs": {"source": "q.pt"}, "expect": expect,
        })  # fmt: skip
    return cases


@case_class
def undecodable_variants() -> list[dict]:
    """variants.jsonl that is not UTF-8 text, for `report` and for `run --resume`."""
    contents = {
        "binary": {"make": "raw_bytes", "hex": "00ff10fe8081c0", "repeat": 40},
        "latin-1": {"make": "raw_bytes", "hex": "7b226e616d65223a2022e9227d0a"},  # {"name": "é"}
        "utf-16": {"make": "raw_bytes", "hex": "fffe7b0022006e00"},
    }
    cases = []
    for name, spec in contents.items():
        cases.append(
            {
                "id": f"variants-{name}-report",
                "files": {"r/variants.jsonl": spec},
                "cli": ["report", "r"],
                "expect": ["variants.jsonl", "not utf-8"],
            }
        )
        cases.append({"id": f"variants-{name}-resume",
                      "files": {"out/variants.jsonl": spec},
                      "cli": ["run", "--model", "mlp", "--out", "out", "--resume"],
                      "before_work": _NO_WORK,
                      "expect": ["variants.jsonl", "not utf-8"]})  # fmt: skip
    return cases


@case_class
def unusable_storage_urls() -> list[dict]:
    """--storage values that are not a database URL optuna could open, caught before training."""
    urls = {
        "colons": ":::",
        "no-scheme": "study.db",
        "unknown-dialect": "nosuchdb://host/x",
        "unknown-driver": "postgresql+nosuchdriver://host/db",
        "bad-port": "mysql://h:port/x",
    }
    return [
        {"id": f"storage-{name}", "cli": ["search", "--model", "mlp", "--trials", "1",
                                          "--out", "s", "--storage", url],
         "before_work": _NO_WORK, "expect": ["storage", url]}
        for name, url in urls.items()
    ]  # fmt: skip


@case_class
def unreachable_storage_servers() -> list[dict]:
    """A database server nobody listens on (port 1 of this machine refuses at once): found by
    connecting before any training, not after the search printed its header; the password
    stays out of the message."""
    urls = {
        "postgresql": "postgresql://user:secret@127.0.0.1:1/db",
        "postgresql-psycopg": "postgresql+psycopg://user@127.0.0.1:1/db",
    }
    cases = [
        {"id": f"storage-unreachable-{name}", "cli": ["search", "--model", "mlp", "--trials", "1",
                                                      "--out", "s", "--storage", url],
         "before_work": _NO_WORK, "expect": ["cannot connect", "127.0.0.1", "refused"]}
        for name, url in urls.items()
    ]  # fmt: skip
    cases.append({
        "id": "storage-unreachable-api", "api": "search",
        "kwargs": {"storage": urls["postgresql"]},
        "before_work": ["weightlight.search.study.base_variant"],
        "expect": ["cannot connect", "user:***@127.0.0.1"],
    })  # fmt: skip
    return cases


@case_class
def out_of_range_max_drop() -> list[dict]:
    """An accuracy budget below zero or not finite, for every command that takes one."""
    cases = []
    for value in ("-1", "-0.01", "nan", "inf"):
        for command, args, files in (
            ("run", ["run", "--model", "mlp", "--out", "out"], {}),
            ("report", ["report", "r"], {"r/variants.jsonl": ""}),
            ("search", ["search", "--model", "mlp", "--trials", "1", "--out", "s"], {}),
        ):
            cases.append({
                "id": f"max-drop-{value}-{command}", "files": files,
                "cli": [*args, "--max-drop", value],
                "before_work": _NO_WORK + ["weightlight.report.write_plots"],
                "expect": ["max drop", ">= 0"],
            })  # fmt: skip
    return cases


@case_class
def library_warnings() -> list[dict]:
    """Inputs on which a library warns: the warning is one line too (no source-line dump)."""
    cases = [{
        "id": "warning-palette-images-then-wrong-shape",
        "files": {"imgs": {"make": "palette_images"}},
        "cli": ["measure", "mlp", "--data", "imgs", "--runs", "3", "--batch-sizes", "1"],
        "expect": ["cannot run on the data's input shape"], "warns": ["palette images"],
    }]  # fmt: skip
    # torch warns about pickle protocols other than its own before refusing the payload;
    # weightlight's own message says what matters, so no warning line at all (`quiet`).
    for protocol in (2, 3, 4):
        cases.append({
            "id": f"warning-free-pickle-protocol-{protocol}",
            "files": {"evil.pt": {"make": "pickled", "protocol": protocol}},
            "cli": ["measure", "evil.pt", "--runs", "3"], "quiet": True,
            "expect": ["could run code", "--trust"],
        })  # fmt: skip
    return cases
