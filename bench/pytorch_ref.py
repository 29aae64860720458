#!/usr/bin/env python3
"""PyTorch CPU reference for `pnpm bench`: the book's GPT (written here from its description, not copied)
on the CPU with a fixed thread count, measured the way bench/gpt.ts measures ours.

Rows (the configurations of the default `pnpm bench` GPT section):
- training step (forward + backward + AdamW lr 1e-4, weight decay 0.1) of GPT C=256 L=4 NH=4 V=50257 at 4x128
  and of the GPT-2 124M configuration (untied head, no qkv bias, dropout 0) at 1x64, tokens/s (median step);
- greedy generation with the 124M configuration, prompt 16 + 20 new tokens, with and without a KV cache;
- square f32 matmul at 1024 (native BLAS), GFLOP/s.

Usage: /usr/bin/python3 bench/pytorch_ref.py [--threads=2] [--quick] [--json=path]
Prints a markdown table; with --json writes the rows too (bench/pytorch.ts reads them).
PyTorch 1.13 (Debian `python3-torch`) or newer; weights are random (seeded), no download.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def arg(name, default):
    for a in sys.argv[1:]:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return default


class Attention(nn.Module):
    """Causal multi-head attention with separate query/key/value projections (no bias) and an output projection."""

    def __init__(self, c, heads):
        super().__init__()
        self.heads = heads
        self.W_query = nn.Linear(c, c, bias=False)
        self.W_key = nn.Linear(c, c, bias=False)
        self.W_value = nn.Linear(c, c, bias=False)
        self.out_proj = nn.Linear(c, c)

    def split(self, x):
        b, t, c = x.shape
        return x.view(b, t, self.heads, c // self.heads).transpose(1, 2)  # [B, NH, T, HS]

    def forward(self, x, cache=None):
        b, t, c = x.shape
        q, k, v = self.split(self.W_query(x)), self.split(self.W_key(x)), self.split(self.W_value(x))
        if cache is not None:
            if "k" in cache:
                k = torch.cat([cache["k"], k], dim=2)
                v = torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        s = k.shape[2]
        scores = q @ k.transpose(2, 3) / math.sqrt(k.shape[-1])  # [B, NH, T, S]
        # Query i (at position s - t + i) sees keys up to its own position.
        mask = torch.ones(t, s, dtype=torch.bool).triu(s - t + 1)
        weights = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(norm1(x)), then x + ff(norm2(x)) with a 4x GELU (tanh) MLP."""

    def __init__(self, c, heads):
        super().__init__()
        self.norm1 = nn.LayerNorm(c, eps=1e-5)
        self.att = Attention(c, heads)
        self.norm2 = nn.LayerNorm(c, eps=1e-5)
        self.ff = nn.Sequential(nn.Linear(c, 4 * c), nn.GELU(approximate="tanh"), nn.Linear(4 * c, c))

    def forward(self, x, cache=None):
        x = x + self.att(self.norm1(x), cache)
        return x + self.ff(self.norm2(x))


class GPT(nn.Module):
    """Token + position embeddings, blocks, final norm, untied output head (our GPTModel's layout)."""

    def __init__(self, vocab, context, c, layers, heads):
        super().__init__()
        self.tok_emb = nn.Embedding(vocab, c)
        self.pos_emb = nn.Embedding(context, c)
        self.trf_blocks = nn.ModuleList(Block(c, heads) for _ in range(layers))
        self.final_norm = nn.LayerNorm(c, eps=1e-5)
        self.out_head = nn.Linear(c, vocab, bias=False)

    def forward(self, ids, caches=None, past=0):
        t = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(past, past + t))
        for i, block in enumerate(self.trf_blocks):
            x = block(x, caches[i] if caches is not None else None)
        return self.out_head(self.final_norm(x))


def token_ids(n, vocab, seed):
    """The same fixed ids as bench/gpt.ts."""
    return torch.tensor([(i * 7919 + seed * 104729) % vocab for i in range(n)], dtype=torch.long)


def train_tokens_per_second(cfg, b, t, reps):
    torch.manual_seed(1)
    model = GPT(**cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    inputs = token_ids(b * t, cfg["vocab"], 1).view(b, t)
    targets = token_ids(b * t, cfg["vocab"], 2).view(b, t)

    def step():
        logits = model(inputs)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return b * t / statistics.median(times), sum(p.numel() for p in model.parameters())


@torch.no_grad()
def generate_tokens_per_second(cfg, prompt_len, new_tokens, use_cache):
    torch.manual_seed(2)
    model = GPT(**cfg).eval()
    prompt = token_ids(prompt_len, cfg["vocab"], 3).tolist()

    def run(n):
        tokens = list(prompt)
        caches = [{} for _ in model.trf_blocks] if use_cache else None
        fed = 0
        for _ in range(n):
            if use_cache:
                logits = model(torch.tensor([tokens[fed:]]), caches, past=fed)
                fed = len(tokens)
            else:
                logits = model(torch.tensor([tokens[-cfg["context"]:]]))
            tokens.append(int(logits[0, -1].argmax()))
        return tokens

    run(2)  # warm-up
    t0 = time.perf_counter()
    run(new_tokens)
    return new_tokens / (time.perf_counter() - t0)


def matmul_gflops(n, reps):
    g = torch.Generator().manual_seed(0)
    a = torch.rand(n, n, generator=g) * 2 - 1
    b = torch.rand(n, n, generator=g) * 2 - 1
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def main():
    threads = int(arg("threads", "2"))
    quick = "--quick" in sys.argv
    torch.set_num_threads(threads)
    small = dict(vocab=50257, context=128, c=256, layers=4, heads=4)
    gpt2 = dict(vocab=50257, context=1024, c=768, layers=12, heads=12)
    rows = []
    rows.append(dict(benchmark="matmul f32 1024x1024 @ 1024x1024", batch="-", value=matmul_gflops(1024, 5), unit="GFLOP/s"))
    tps, params = train_tokens_per_second(small, 4, 128, 3)
    rows.append(dict(benchmark=f"train GPT C=256 L=4 NH=4 V=50257 ({params / 1e6:.0f}M)", batch="4x128", value=tps, unit="tok/s"))
    if not quick:
        tps, params = train_tokens_per_second(gpt2, 1, 64, 2)
        rows.append(dict(benchmark=f"train GPT-2 124M config ({params / 1e6:.0f}M untied)", batch="1x64", value=tps, unit="tok/s"))
        for use_cache in (True, False):
            label = "KV cache" if use_cache else "no cache"
            rows.append(dict(benchmark=f"generate GPT-2 124M config, greedy, {label}", batch="1, 16+20", value=generate_tokens_per_second(gpt2, 16, 20, use_cache), unit="tok/s"))
    print(f"PyTorch {torch.__version__} on the CPU, {torch.get_num_threads()} threads")
    print("| benchmark | B×T | PyTorch CPU | unit |")
    print("|---|---|---:|---|")
    for r in rows:
        print(f"| {r['benchmark']} | {r['batch'].replace('x', '×')} | {r['value']:.1f} | {r['unit']} |")
    out = arg("json", None)
    if out:
        with open(out, "w") as f:
            json.dump(dict(torch=torch.__version__, threads=threads, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
