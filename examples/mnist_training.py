"""Train the classic MNIST CNN on scikit-learn's bundled digits and measure it.

python examples/mnist_training.py [--epochs 15] [--out cnn.safetensors]
"""

import argparse

import weightlight as wl

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=float, default=15)
parser.add_argument("--out", default="cnn.safetensors")
args = parser.parse_args()

data = wl.data.digits()  # 1,221 training, 216 validation, 360 test images, no download
model = wl.train(wl.models.mnist_cnn(), data, epochs=args.epochs)
wl.models.save_model(model, args.out)  # safetensors; names its architecture for reloading

result = wl.measure(model, data, name="fp32")
print(f"parameters      {result.params:,}")
size_mb, zipped_mb = result.size_bytes / 1e6, result.size_zipped_bytes / 1e6
print(f"size on disk    {size_mb:.2f} MB ({zipped_mb:.2f} zipped)")
print(f"MACs per image  {result.macs / 1e6:.1f} M")
for point in result.latency:
    print(
        f"latency bs{point.batch_size:<3}  p50 {point.p50_ms:.3f} ms, p90 {point.p90_ms:.3f} ms "
        f"({point.throughput_per_s:,.0f} images/s, {result.threads} threads)"
    )
print(f"test accuracy   {result.metric:.2f} %")
print(f"saved           {args.out}")
