#!/usr/bin/env python
"""The recipe of `clearconv train augmented_vgg --data fashion-mnist`, in PyTorch: the reference to compare
clearconv's run with.

    python benchmarks/recipes/augmented_vgg_fashion.py [--seed 0] [--epochs 40] [--threads 2] [--limit N]

The recipe (RECIPES in src/clearconv/cli/train.py, the model in zoo.augmented_vgg): all 60,000 training
images reshuffled every epoch, batch 128, 40 epochs, Adam (Keras's epsilon 1e-7) from 2e-3 along a half
cosine to 0 over every step (Keras's CosineDecay: lr(step) = 2e-3 (1 + cos(pi step / steps)) / 2 for the
update of step 0, 1, ...), cross-entropy of targets smoothed by 0.1 ((1 - 0.1) one-hot + 0.1 / 10, the
same in Keras and PyTorch), Keras's initialisers (glorot-uniform kernels, zero biases, BN gamma 1 and
beta 0) drawn with torch's generator, BatchNormalization with Keras's epsilon 1e-3 and momentum 0.99
(PyTorch's momentum 0.01).

The augmentation does what the Keras layers do, per image, in training only:
- RandomFlip("horizontal"): flip when a uniform draw u <= 0.5;
- RandomTranslation(0.1, 0.1, fill_mode="constant", interpolation="nearest"): shifts dy = f_h H and
  dx = f_w W with f uniform in [-0.1, 0.1]; output pixel (y, x) reads the input at (y - dy, x - dx)
  rounded to the nearest pixel, zero outside, so the image moves by round(dy), round(dx) whole pixels.
The draws come from torch's generator, not from clearconv's: the two runs see different augmentations.

Prints each epoch's training loss, test accuracy (10,000 images) and time.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

EPOCHS, BATCH_SIZE, LEARNING_RATE, EPSILON, LABEL_SMOOTHING, SHIFT = 40, 128, 2e-3, 1e-7, 0.1, 0.1


def build(torch, generator):
    """zoo.augmented_vgg without its augmentation layers, in NCHW: (N, 1, 28, 28) -> (N, 10) logits."""
    nn = torch.nn
    layers, channels = [], 1
    for block in ((32,), (64, 64), (128, 128)):
        for filters in block:
            layers += [nn.Conv2d(channels, filters, 3, padding=1, bias=False),
                       nn.BatchNorm2d(filters, eps=1e-3, momentum=0.01), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    layers[-1:] = [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, 10)]   # no last pool
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                weight = layer.weight                       # (out, in, kh, kw) or (out, in)
                receptive_field = math.prod(weight.shape[2:])
                limit = math.sqrt(6.0 / ((weight.shape[0] + weight.shape[1]) * receptive_field))
                weight.uniform_(-limit, limit, generator=generator)
                if layer.bias is not None:
                    layer.bias.zero_()
    return model


def augment(torch, images, generator):
    """Keras's RandomFlip("horizontal") then RandomTranslation(0.1, 0.1, "constant", "nearest"), each
    image its own draws: (N, 1, H, W) -> (N, 1, H, W)."""
    n, _, height, width = images.shape
    flip = torch.rand(n, generator=generator) <= 0.5
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    dy = torch.round((torch.rand(n, generator=generator) * 2 - 1) * SHIFT * height).long()   # every dy first,
    dx = torch.round((torch.rand(n, generator=generator) * 2 - 1) * SHIFT * width).long()    # then every dx
    pad = math.ceil(SHIFT * max(height, width))
    padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))       # (N, 1, H + 2 pad, W + 2 pad)
    out = torch.empty_like(images)
    for i in range(n):      # content moves down by dy and right by dx: the window starts at pad - dy, pad - dx
        top, left = pad - int(dy[i]), pad - int(dx[i])
        out[i] = padded[i, :, top:top + height, left:left + width]
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--threads", type=int, default=2, help="PyTorch's intra-op threads (default 2)")
    parser.add_argument("--limit", type=int, help="train on the first N images only (a quick check)")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("needs PyTorch (pip install torch)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from clearconv.data import load
    (x_train, y_train), (x_test, y_test) = load("fashion-mnist", seed=0)
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    to_nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))   # NHWC -> NCHW
    x, y, x_test = to_nchw(x_train), torch.from_numpy(y_train.astype(np.int64)), to_nchw(x_test)
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)                        # dropout's masks
    model = build(torch, generator)
    steps = args.epochs * math.ceil(len(x) / BATCH_SIZE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, eps=EPSILON)
    schedule = torch.optim.lr_scheduler.LambdaLR(                    # the factor of the update of `step`
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps)))
    loss_function = torch.nn.CrossEntropyLoss(label_smoothing=LABEL_SMOOTHING)
    print(f"augmented_vgg twin ({sum(p.numel() for p in model.parameters()):,} trainable parameters), "
          f"{len(x):,} images, {args.epochs} epochs, seed {args.seed}", flush=True)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order, total = torch.randperm(len(x), generator=generator), 0.0
        for first in range(0, len(x), BATCH_SIZE):
            index = order[first:first + BATCH_SIZE]
            optimizer.zero_grad()
            loss = loss_function(model(augment(torch, x[index], generator)), y[index])
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        model.eval()
        with torch.no_grad():
            predicted = torch.cat([model(x_test[i:i + 1000]).argmax(1) for i in range(0, len(x_test), 1000)])
        accuracy = float((predicted.numpy() == y_test).mean())
        print(f"epoch {epoch + 1} loss {total / len(x):.4f} test accuracy {accuracy:.4f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
