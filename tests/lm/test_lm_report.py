"""A language-model run is judged as LMs are used: "best" is the fastest decoder (tokens/s
with the key/value cache) whose perplexity stays within the budget, and the table and HTML
show generation columns with their lengths and threads."""

from __future__ import annotations

from weightlight.measure.record import GenerationPoint, LatencyPoint, Measurement
from weightlight.report import measurement_table, summarize
from weightlight.report.html import render_html
from weightlight.variants import Variant


def _gen(tokens_per_s: float, prefill_ms: float = 10.0) -> GenerationPoint:
    ms = 1000.0 / tokens_per_s
    return GenerationPoint(
        prompt_tokens=64, new_tokens=32, prefill_ms_p50=prefill_ms, prefill_ms_p90=prefill_ms,
        decode_ms_per_token_p50=ms, decode_ms_per_token_p90=ms * 1.2,
        decode_tokens_per_s=tokens_per_s, runs=5, warmup=1, threads=2,
        peak_memory_bytes=5_000_000,
    )  # fmt: skip


def _variant(name, *, forward_ms, ppl, tokens_per_s=None, size=4000, kind="quantize"):
    point = LatencyPoint(batch_size=8, p50_ms=forward_ms, p90_ms=forward_ms, mean_ms=forward_ms,
                         throughput_per_s=1.0, runs=5, warmup=1)  # fmt: skip
    m = Measurement(
        name=name, runtime="torch", params=10, nonzero_params=10, size_bytes=size,
        size_zipped_bytes=size, artifact_format="pt", macs=None, threads=2, latency=(point,),
        metric_name="perplexity", metric=ppl, val_metric=ppl, metric_higher_is_better=False,
        peak_memory_bytes=1, methods={"generation": "batch 1 ..."},
        generation=_gen(tokens_per_s) if tokens_per_s else None,
    )  # fmt: skip
    return Variant(name=name, parent=None if kind == "base" else "base", kind=kind, status="ok",
                   measurement=m)  # fmt: skip


def _run():
    return [
        _variant("base", kind="base", forward_ms=10.0, ppl=20.0, tokens_per_s=100.0),
        # fastest forward pass and smallest, but its decoding is slow (dequantizes each step)
        _variant("int4", forward_ms=4.0, ppl=20.5, tokens_per_s=90.0, size=800),
        _variant("int8", forward_ms=8.0, ppl=20.4, tokens_per_s=180.0, size=1500),
        # the fastest decoder, but perplexity rose 3 points: over the budget
        _variant("pruned", forward_ms=9.0, ppl=23.0, tokens_per_s=300.0),
        # an ONNX graph without a cached decoder: no generation figures, not a candidate
        _variant("onnx", forward_ms=2.0, ppl=20.0, size=1000, kind="export"),
    ]


def test_best_lm_variant_is_the_fastest_decoder_within_the_perplexity_budget():
    summary = summarize(_run(), max_drop=1.0)
    assert summary["best"]["name"] == "int8"
    assert summary["best"]["decode_speedup"] == 1.8
    assert summary["smallest"]["name"] == "int4"
    assert summary["generation"] == "batch 1, 64-token prompt, 32 new tokens, 2 thread(s)"
    onnx = next(r for r in summary["ratios"] if r["name"] == "onnx")
    assert onnx["decode_speedup"] is None
    # with a looser budget the pruned model's decoding wins
    assert summarize(_run(), max_drop=5.0)["best"]["name"] == "pruned"


def test_models_that_do_not_generate_keep_the_old_choice():
    run = [_variant(v.name, kind=v.kind, forward_ms=v.measurement.latency[0].p50_ms,
                    ppl=v.measurement.metric, size=v.measurement.size_bytes)
           for v in _run()]  # fmt: skip
    summary = summarize(run, max_drop=1.0)
    assert "generation" not in summary
    assert summary["best"]["name"] == "onnx"  # speed x size, as before


def test_table_and_html_show_generation_columns_with_their_conditions():
    variants = _run()
    table = measurement_table([v.measurement for v in variants])
    headers = [c.header for c in table.columns]
    assert "prefill ms (64 tok)" in headers and "decode tok/s (32 new)" in headers
    assert "batch 1, prompt 64, 32 new tokens" in table.caption and "2 thread(s)" in table.caption
    page = render_html("lm", variants, summarize(variants, max_drop=1.0), {}, "", {})
    assert "decode tok/s<br>(32 new)" in page and "prefill ms p50<br>(64 tok)" in page
    assert "1.80x" in page  # int8's decode speed-up
    assert "Fastest decoder within 1 perplexity point(s)" in page and "<code>int8</code>" in page
