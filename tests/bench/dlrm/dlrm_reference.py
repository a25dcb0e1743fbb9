#!/usr/bin/python3
"""Plain PyTorch eager DLRM, the Python reference the C++ trainer is compared with.

Same model as facebookresearch/dlrm's dlrm_s_pytorch.py at the "kaggle1m" configuration
(26 tables capped at 1M rows, D=16, bottom 13-512-256-64-16, dot interaction without self
terms via bmm + lower-triangle gather, top 367-512-256-1, BCE), sparse EmbeddingBag
gradients, plain SGD. Data: random one-hot batches, generated before timing.
Prints one JSON line: {"samples_per_second": ..., "step_seconds_median": ...}.
Also: --peak measures the fp32 matmul peak (torch.mm loop) on this machine.
"""
import argparse
import json
import time

import torch
import torch.nn as nn

KAGGLE = [1460, 583, 10131227, 2202608, 305, 24, 12517, 633, 3, 93145, 5683, 8351593, 3194,
          27, 14992, 5461306, 10, 5652, 2173, 4, 7046547, 18, 15, 286181, 105, 142572]


class DLRM(nn.Module):
    def __init__(self, tables, dim, bottom, top):
        super().__init__()
        self.emb = nn.ModuleList()
        for n in tables:
            e = nn.EmbeddingBag(n, dim, mode="sum", sparse=True)
            bound = (1.0 / n) ** 0.5
            nn.init.uniform_(e.weight, -bound, bound)
            self.emb.append(e)
        self.bot = self.mlp([13] + bottom, last_relu=True)
        f = len(tables) + 1
        self.li, self.lj = zip(*[(i, j) for i in range(f) for j in range(i)])
        self.li, self.lj = torch.tensor(self.li), torch.tensor(self.lj)
        self.top = self.mlp([dim + f * (f - 1) // 2] + top, last_relu=False)

    @staticmethod
    def mlp(widths, last_relu):
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i + 2 < len(widths) or last_relu:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def forward(self, dense, indices, offsets):
        x = self.bot(dense)
        ly = [e(indices[k], offsets) for k, e in enumerate(self.emb)]
        t = torch.cat([x] + ly, dim=1).view(x.shape[0], -1, x.shape[1])
        z = torch.bmm(t, t.transpose(1, 2))
        zflat = z[:, self.li, self.lj]
        return self.top(torch.cat([x, zflat], dim=1)).squeeze(1)


def peak_gflops(threads, seconds=3.0, n=1024):
    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        torch.mm(a, b)
    best, t_end = 0.0, time.time() + seconds
    while time.time() < t_end:
        t0 = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        dt = time.perf_counter() - t0
        best = max(best, 5 * 2 * n ** 3 / dt / 1e9)
    return best


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=2048)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--max_rows", type=int, default=1000000)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--peak", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.peak:
        print(json.dumps({"peak_gflops": peak_gflops(a.threads)}))
        return
    torch.manual_seed(0)
    tables = [min(n, a.max_rows) for n in KAGGLE]
    model = DLRM(tables, 16, [512, 256, 64, 16], [512, 256, 1])
    opt = torch.optim.SGD(model.parameters(), lr=a.lr)
    loss_fn = nn.BCEWithLogitsLoss()
    batches = []
    for _ in range(8):
        dense = torch.rand(a.batch, 13)
        idx = [torch.randint(0, n, (a.batch,)) for n in tables]
        batches.append((dense, idx, torch.arange(a.batch), torch.randint(0, 2, (a.batch,)).float()))
    times = []
    for step in range(a.warmup + a.steps):
        dense, idx, off, y = batches[step % len(batches)]
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(dense, idx, off), y)
        loss.backward()
        opt.step()
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    med = times[len(times) // 2]
    print(json.dumps({"samples_per_second": a.batch * len(times) / sum(times),
                      "median_step_samples_per_second": a.batch / med}))


if __name__ == "__main__":
    main()
