"""PyTorch reference for `downhill bench train`: the same MLP, loss, optimizer and batches.

Usage: python3 torch_train_bench.py SIZES BATCH BATCHES THREADS   (SIZES like 784,256,256,10)
Prints one JSON object: {"torch": version, "threads": n, "samples_per_s": best of 3 epochs}.
"""
import json
import sys
import time

import torch


def main():
    sizes = [int(s) for s in sys.argv[1].split(",")]
    batch, batches, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    n = batch * batches
    x = torch.rand(n, sizes[0])
    y = torch.arange(n) % sizes[-1]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def epoch():
        perm = torch.randperm(n)
        start = time.perf_counter()
        for b in range(batches):
            idx = perm[b * batch:(b + 1) * batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        return n / (time.perf_counter() - start)

    epoch()  # warm-up
    best = max(epoch() for _ in range(3))
    print(json.dumps({"torch": torch.__version__, "threads": threads, "samples_per_s": best}))


if __name__ == "__main__":
    main()
