"""PyTorch twins of lion-train's models, for the side-by-side benchmark (bench/index.ts).

Reads one JSON request per line on stdin: {"model": {...config...}, "input": {...}, "batch": B, "steps": N,
"warmup": W}, trains that many AdamW steps on random data of the right shape, and writes one JSON line
back: {"msPerStep": median, "samples": [...]}. One thread, as lion-train's wasm backend uses one.
Run by bench/index.ts; needs python3 with torch (Debian: python3-torch, libopenblas0-pthread).
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)


def gelu(x, kind):
    return x * torch.sigmoid(1.702 * x) if kind == "sigmoid" else F.gelu(x, approximate="tanh")


def activation(name):
    return {"relu": F.relu, "tanh": torch.tanh, "gelu": lambda x: gelu(x, "sigmoid")}[name]


class Mlp(nn.Module):
    def __init__(self, cfg, inp):
        super().__init__()
        features = math.prod(inp["shape"])
        widths = [features] + cfg["hidden"]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.head = nn.Linear(widths[-1], inp["classes"])
        self.act = activation(cfg["activation"])

    def forward(self, x):
        x = x.flatten(1)
        for layer in self.layers:
            x = self.act(layer(x))
        return self.head(x)


class Block(nn.Module):
    def __init__(self, width, heads, mlp_width, gelu_kind, causal):
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.q, self.k, self.v, self.out = (nn.Linear(width, width) for _ in range(4))
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(width, mlp_width), nn.Linear(mlp_width, width)
        self.heads, self.gelu_kind, self.causal = heads, gelu_kind, causal

    def forward(self, x):  # x: [B, T, W]
        b, t, w = x.shape
        h = self.norm1(x)
        split = lambda y: y.view(b, t, self.heads, w // self.heads).transpose(1, 2)  # [B, H, T, D]
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        scores = q @ k.transpose(-1, -2) / math.sqrt(w // self.heads)  # [B, H, T, T]
        if self.causal:
            scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        attn = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, t, w)
        x = x + self.out(attn)
        return x + self.fc2(gelu(self.fc1(self.norm2(x)), self.gelu_kind))


class Vit(nn.Module):
    def __init__(self, cfg, inp):
        super().__init__()
        h, w, c = inp["shape"]
        p = cfg["patchSize"]
        self.p, self.tokens = p, (h // p) * (w // p)
        self.patch = nn.Linear(p * p * c, cfg["width"])
        self.pos = nn.Parameter(torch.zeros(1, self.tokens + (cfg["pooling"] == "cls"), cfg["width"]))
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg["width"])) if cfg["pooling"] == "cls" else None
        self.blocks = nn.ModuleList(Block(cfg["width"], cfg["heads"], cfg["mlpWidth"], cfg["gelu"], False) for _ in range(cfg["depth"]))
        self.norm = nn.LayerNorm(cfg["width"], eps=1e-6)
        self.head = nn.Linear(cfg["width"], inp["classes"])

    def forward(self, x):  # x: [B, H, W, C]
        b, h, w, c = x.shape
        p = self.p
        x = x.view(b, h // p, p, w // p, p, c).permute(0, 1, 3, 2, 4, 5).reshape(b, self.tokens, p * p * c)
        x = self.patch(x)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(b, -1, -1), x], 1)
        x = x + self.pos
        for block in self.blocks:
            x = block(x)
        x = self.norm(x)
        return self.head(x[:, 0] if self.cls is not None else x.mean(1))


class Cnn(nn.Module):
    def __init__(self, cfg, inp):
        super().__init__()
        h, w, c = inp["shape"]
        layers = []
        for conv in cfg["conv"]:
            pad = conv["kernel"] // 2 if conv["padding"] == "same" else 0
            layers.append(nn.Conv2d(c, conv["channels"], conv["kernel"], conv["stride"], pad))
            c = conv["channels"]
            h = (h + 2 * pad - conv["kernel"]) // conv["stride"] + 1
            w = (w + 2 * pad - conv["kernel"]) // conv["stride"] + 1
            layers.append(nn.ReLU() if cfg["activation"] == "relu" else nn.GELU())
            if conv["pool"] > 1:
                layers.append(nn.MaxPool2d(conv["pool"]))
                h, w = h // conv["pool"], w // conv["pool"]
        self.features = nn.Sequential(*layers)
        widths = [h * w * c] + cfg["dense"]
        self.dense = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        self.head = nn.Linear(widths[-1], inp["classes"])

    def forward(self, x):  # x: [B, H, W, C]
        x = self.features(x.permute(0, 3, 1, 2)).flatten(1)
        for layer in self.dense:
            x = F.relu(layer(x))
        return self.head(x)


class Gpt(nn.Module):
    def __init__(self, cfg, inp):
        super().__init__()
        self.embed = nn.Embedding(inp["classes"], cfg["width"])
        self.pos = nn.Parameter(torch.zeros(1, cfg["contextLength"], cfg["width"]))
        self.blocks = nn.ModuleList(Block(cfg["width"], cfg["heads"], cfg["mlpWidth"], cfg["gelu"], True) for _ in range(cfg["depth"]))
        self.norm = nn.LayerNorm(cfg["width"], eps=1e-6)
        self.head = None if cfg["tiedEmbeddings"] else nn.Linear(cfg["width"], inp["classes"], bias=False)

    def forward(self, x):  # x: [B, T] int64
        h = self.embed(x) + self.pos[:, : x.shape[1]]
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        return h @ self.embed.weight.t() if self.head is None else self.head(h)


MODELS = {"mlp": Mlp, "vit": Vit, "cnn": Cnn, "gpt": Gpt}


def bench(request):
    cfg, inp, batch = request["model"], request["input"], request["batch"]
    torch.manual_seed(0)
    model = MODELS[cfg["name"]](cfg, inp)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    if inp["kind"] == "tokens":
        x = torch.randint(0, inp["classes"], [batch] + inp["shape"])
        y = torch.randint(0, inp["classes"], [batch] + inp["shape"])
    else:
        x = torch.rand([batch] + inp["shape"])
        y = torch.randint(0, inp["classes"], [batch])
    samples = []
    for i in range(request["warmup"] + request["steps"]):
        start = time.perf_counter()
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if i >= request["warmup"]:
            samples.append((time.perf_counter() - start) * 1000)
    return {"msPerStep": statistics.median(samples), "samples": samples}


if __name__ == "__main__":
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(bench(json.loads(line))), flush=True)
