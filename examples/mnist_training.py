"""Train the classic MNIST CNN, save it, and measure it: the starting point of every technique.

    python examples/mnist_training.py [--epochs 15] [--out cnn.safetensors] [--data mnist:DIR]

Trains on scikit-learn's bundled handwritten digits by default (no download); with real MNIST
IDX files on disk, `--data mnist:DIR` uses them. examples/model_optimization.py loads the file
this saves and compresses it several ways.
"""

import argparse

import torch

import weightlight as wl

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=float, default=15)
parser.add_argument("--out", default="cnn.safetensors")
parser.add_argument("--data", default="digits", help="digits, or mnist:DIR with the IDX files")
args = parser.parse_args()

data = wl.data.load_data(args.data)  # digits: 1,221 training, 216 validation, 360 test images
torch.manual_seed(0)  # the initial weights, so two runs train the same model
model = wl.train(wl.models.mnist_cnn(), data, epochs=args.epochs, progress=False)
wl.quick.save(model, args.out)  # safetensors; names its architecture for reloading

# The quick path: a model and an input shape.
print(f"parameters      {wl.quick.count_parameters(model):,}")
print(f"size on disk    {wl.quick.size_mb(model):.2f} MB (4 bytes per float32 weight)")
timing = wl.quick.benchmark(model, input_shape=(1, 1, 28, 28))
print(f"latency bs1     p50 {timing['p50_ms']:.3f} ms ({torch.get_num_threads()} threads)")

# The thorough path: the same numbers plus accuracy, MACs, batch 64 and memory.
result = wl.measure(model, data, name="fp32")
print(f"MACs per image  {result.macs / 1e6:.1f} M (two convolutions hold most of them)")
for point in result.latency:
    print(f"latency bs{point.batch_size:<3}  p50 {point.p50_ms:.3f} ms, p90 {point.p90_ms:.3f} ms "
          f"({point.throughput_per_s:,.0f} images/s)")  # fmt: skip
print(f"test accuracy   {result.metric:.2f} % on {len(data.eval.dataset)} held-out images")
print(f"saved           {args.out} (next: python examples/model_optimization.py)")
