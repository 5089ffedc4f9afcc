#!/usr/bin/env python3
"""hessweep's reference cell written in PyTorch, for the side-by-side bench (bench/torch.bench.js).

The same cell as `hessweep cell` computes it (packages/landscape/src), with PyTorch's own random numbers:
  data      the first N FashionMNIST training samples from the gzipped IDX files, pixels p/127.5 - 1
  network   784 -> width -> width (depth times) -> 10, ReLU after every layer but the last, no biases,
            weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (nn.Linear's default, hessweep's `uniform`)
  training  Adam (lr 1e-3, PyTorch defaults) on mean cross-entropy, a fresh shuffle every epoch, batches
            in its order, the last one smaller
  losses    per-sample cross-entropy at the trained parameters over all N samples (float64 from float32 logits)
  curve     D_k = |L_{k+1} - L_k| averaged over permutations at the same log-spaced k, slope of log D_k on
            log k over k >= 10
  spectrum  top-k eigenvalues of the Hessian (double backprop) and of the Gauss-Newton matrix J^T H_out J
            (double-vjp for J v) of the mean loss over all N samples, a fixed number of Lanczos steps each
            (full re-orthogonalisation, float64 basis)
  trace     Hutchinson with Rademacher probes, per operator
float32 products on one thread. Prints one JSON line per seed with per-stage seconds.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

for _var in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'):
    os.environ[_var] = '1'

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'
CLASSES = 10


class InputError(Exception):
    """Bad input (a missing data file, a malformed option): one line, exit code 2."""


def read_idx(path, magic, count):
    """The first `count` items of an IDX file of unsigned bytes (plain or gzipped), as a uint8 array."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        ndims = magic & 0xff
        header = f.read(4 + 4 * ndims)
        if len(header) < 4 + 4 * ndims or struct.unpack('>I', header[:4])[0] != magic:
            raise InputError(f'{path}: not an IDX file with magic {magic:#010x}')
        dims = struct.unpack(f'>{ndims}I', header[4:])
        if count > dims[0]:
            raise InputError(f'{path}: {count} samples asked, the file has {dims[0]}')
        item = int(np.prod(dims[1:], dtype=np.int64))
        data = f.read(count * item)
        if len(data) < count * item:
            raise InputError(f'{path}: truncated')
    return np.frombuffer(data, dtype=np.uint8).reshape(count, item)


def idx_path(data_dir, name):
    for candidate in (os.path.join(data_dir, name), os.path.join(data_dir, name + '.gz')):
        if os.path.exists(candidate):
            return candidate
    raise InputError(f'missing IDX file: neither {os.path.join(data_dir, name)} nor its .gz exists')


def load_fashion_mnist(data_dir, samples):
    """x: [samples, 784] float32 in [-1, 1] (p/127.5 - 1, as hessweep's bytesToUnit); y: int64 labels."""
    pixels = read_idx(idx_path(data_dir, 'train-images-idx3-ubyte'), 0x803, samples)
    labels = read_idx(idx_path(data_dir, 'train-labels-idx1-ubyte'), 0x801, samples).reshape(samples)
    x = torch.from_numpy(pixels.astype(np.float32) / np.float32(127.5) - np.float32(1))
    return x, torch.from_numpy(labels.astype(np.int64))


def mlp(dim, width, depth, classes):
    """784 -> width, depth x (width -> width), width -> classes; ReLU between; no biases (hessweep's default)."""
    sizes = [dim, width] + [width] * depth + [classes]
    layers = []
    for p in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[p], sizes[p + 1], bias=False))
        if p < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def train(model, x, y, epochs, batch_size, lr, generator):
    """Adam on mean cross-entropy; a permutation per epoch, the last batch smaller. Returns the last epoch's mean batch loss."""
    # foreach: one fused update over all tensors, the faster of the two on CPU (≈1.3× on this cell).
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
    n = x.shape[0]
    mean_loss = float('nan')
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, n, batch_size):
            rows = order[start:start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[rows]), y[rows])
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        mean_loss = total / batches
        if not np.isfinite(mean_loss):
            raise FloatingPointError(f'training diverged: mean loss {mean_loss}')
    return mean_loss


def per_sample_losses(model, x, y):
    """Per-sample cross-entropy (float64 from float32 logits) and the accuracy."""
    with torch.no_grad():
        logits = model(x)
        losses = F.cross_entropy(logits.double(), y, reduction='none')
        accuracy = (logits.argmax(dim=1) == y).double().mean().item()
    return losses.numpy(), accuracy


def log_spaced_k(top, points):
    """Distinct increasing round(exp(t)), t uniform on [0, log top] (hessweep's logSpacedIntegers; half rounds up)."""
    out = []
    for i in range(points):
        v = int(np.floor(np.exp(np.log(top) if points == 1 else np.log(top) * i / (points - 1)) + 0.5))
        if not out or v > out[-1]:
            out.append(v)
    return np.array(out)


def loss_difference_curve(losses, permutations, points, generator, k_min=10):
    """Mean over permutations of D_k = |l_{pi(k+1)} - L_k| / (k + 1) at log-spaced k; slope of the log-log fit."""
    m = len(losses)
    k = log_spaced_k(m - 1, points)
    orders = torch.stack([torch.randperm(m, generator=generator) for _ in range(permutations)]).numpy()
    ordered = losses[orders]  # permutations x m
    prefix_mean = np.cumsum(ordered, axis=1)[:, k - 1] / k  # L_k
    d = np.abs((ordered[:, k] - prefix_mean) / (k + 1)).mean(axis=0)
    keep = (k >= k_min) & (d > 0)
    slope = np.polyfit(np.log(k[keep]), np.log(d[keep]), 1)[0] if keep.sum() >= 2 else float('nan')
    return k, d, float(slope)


class Products:
    """Hessian- and Gauss-Newton-vector products of the mean loss over all samples at the current parameters.

    The first-order graphs are built once (on first use) and kept: a Hessian product is one backward through
    grad(loss, params, create_graph=True); a GGN product is J v by the double-vjp trick (the vjp J^T u taken
    with create_graph, then its gradient with respect to u), the output curvature of softmax cross-entropy,
    and the vjp J^T (H_out J v).
    """

    def __init__(self, model, x, y):
        self.params = [p for p in model.parameters()]
        self.shapes = [p.shape for p in self.params]
        self.sizes = [p.numel() for p in self.params]
        self.dim = sum(self.sizes)
        self.model, self.x, self.y = model, x, y
        self._grads = None
        self._ggn = None

    def _split(self, flat):
        v = torch.from_numpy(flat.astype(np.float32))
        return [c.view(s) for c, s in zip(torch.split(v, self.sizes), self.shapes)]

    @staticmethod
    def _flat(tensors):
        return torch.cat([t.reshape(-1) for t in tensors]).double().numpy()

    def hessian(self, flat):
        if self._grads is None:
            loss = F.cross_entropy(self.model(self.x), self.y)
            self._grads = torch.autograd.grad(loss, self.params, create_graph=True)
        return self._flat(torch.autograd.grad(self._grads, self.params, grad_outputs=self._split(flat), retain_graph=True))

    def ggn(self, flat):
        if self._ggn is None:
            logits = self.model(self.x)
            u = torch.zeros_like(logits, requires_grad=True)
            jtu = torch.autograd.grad(logits, self.params, grad_outputs=u, create_graph=True)
            probs = torch.softmax(logits.detach(), dim=1)
            self._ggn = (logits, u, jtu, probs)
        logits, u, jtu, probs = self._ggn
        jv = torch.autograd.grad(jtu, u, grad_outputs=self._split(flat), retain_graph=True)[0]
        # Output curvature of the mean cross-entropy: (diag(p) - p p^T) / m per sample.
        h_jv = (probs * jv - probs * (probs * jv).sum(dim=1, keepdim=True)) / logits.shape[0]
        return self._flat(torch.autograd.grad(logits, self.params, grad_outputs=h_jv, retain_graph=True))


def lanczos_top(apply, dim, steps, top_k, generator):
    """Top-k Ritz values after `steps` Lanczos steps (full re-orthogonalisation, float64 basis), descending."""
    q = torch.randn(dim, generator=generator, dtype=torch.float64).numpy()
    q /= np.linalg.norm(q)
    basis = np.zeros((steps, dim))
    alpha, beta = np.zeros(steps), np.zeros(steps)
    m = steps
    for j in range(steps):
        basis[j] = q
        w = apply(q)
        alpha[j] = w @ q
        w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        w -= basis[:j + 1].T @ (basis[:j + 1] @ w)
        beta[j] = np.linalg.norm(w)
        if beta[j] < 1e-10 * max(1.0, abs(alpha[j])):
            m = j + 1
            break
        q = w / beta[j]
    t = np.diag(alpha[:m]) + np.diag(beta[:m - 1], 1) + np.diag(beta[:m - 1], -1)
    return sorted(np.linalg.eigvalsh(t), reverse=True)[:top_k], m


def hutchinson(apply, dim, probes, generator):
    """tr(A) ~ mean of v^T A v over Rademacher v; the estimate and its standard error."""
    samples = []
    for _ in range(probes):
        v = (torch.randint(0, 2, (dim,), generator=generator, dtype=torch.float64) * 2 - 1).numpy()
        samples.append(v @ apply(v))
    samples = np.array(samples)
    return float(samples.mean()), float(samples.std(ddof=1) / np.sqrt(probes)) if probes > 1 else float('nan')


def run_cell(seed, args):
    times = {}
    started = mark = time.perf_counter()

    def lap(stage):
        nonlocal mark
        now = time.perf_counter()
        times[stage] = now - mark
        mark = now

    x, y = load_fashion_mnist(args.data_dir, args.samples)
    lap('load_s')
    torch.manual_seed(seed)
    model = mlp(x.shape[1], args.width, args.depth, CLASSES)
    generator = torch.Generator().manual_seed(seed)
    last_epoch_loss = train(model, x, y, args.epochs, args.batch_size, args.lr, generator)
    lap('train_s')
    n_params = sum(p.numel() for p in model.parameters())
    row = {'seed': seed, 'width': args.width, 'depth': args.depth, 'samples': args.samples, 'epochs': args.epochs, 'n_params': n_params,
           'last_epoch_loss': last_epoch_loss}
    if not args.train_only:
        losses, accuracy = per_sample_losses(model, x, y)
        row.update(train_loss=float(losses.mean()), train_accuracy=accuracy)
        lap('losses_s')
        k, d, slope = loss_difference_curve(losses, args.permutations, args.curve_points, generator)
        row.update(loss_diff_slope=slope, loss_diff_points=len(k))
        lap('curve_s')
        products = Products(model, x, y)
        row['hessian_top'], row['hessian_iters'] = lanczos_top(products.hessian, products.dim, args.lanczos_steps, args.top_k, generator)
        lap('hessian_s')
        row['ggn_top'], row['ggn_iters'] = lanczos_top(products.ggn, products.dim, args.lanczos_steps, args.top_k, generator)
        lap('ggn_s')
        row['hessian_trace_hutchinson'], row['hessian_trace_se'] = hutchinson(products.hessian, products.dim, args.probes, generator)
        row['ggn_trace_hutchinson'], row['ggn_trace_se'] = hutchinson(products.ggn, products.dim, args.probes, generator)
        row['trace_probes'] = args.probes
        lap('trace_s')
    times['total_s'] = time.perf_counter() - started
    return {**row, **times}


def blas_library():
    """The BLAS this process loaded (real path), or null: netlib's reference BLAS makes products several times slower than OpenBLAS."""
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps if line.rstrip().endswith('.so') or '.so.' in line}
    except OSError:
        return None
    blas = sorted({os.path.realpath(p) for p in paths if 'blas' in os.path.basename(p)})
    return ', '.join(blas) or None


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'expected a positive integer, got {text}')
    return value


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', default='0', help='comma-separated seeds, run one after another in this process')
    parser.add_argument('--width', type=positive_int, default=16)
    parser.add_argument('--depth', type=int, default=5, help='hidden width->width layers (0 or more)')
    parser.add_argument('--samples', type=positive_int, default=10000)
    parser.add_argument('--epochs', type=positive_int, default=10)
    parser.add_argument('--batch-size', type=positive_int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--permutations', type=positive_int, default=100)
    parser.add_argument('--curve-points', type=positive_int, default=64)
    parser.add_argument('--top-k', type=positive_int, default=5)
    parser.add_argument('--lanczos-steps', type=positive_int, default=30)
    parser.add_argument('--probes', type=positive_int, default=50, help='Hutchinson probes per operator')
    parser.add_argument('--data-dir', default=FASHION_MNIST_DIR)
    parser.add_argument('--train-only', action='store_true', help='load and train only')
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(',')]
    except ValueError:
        parser.error(f'--seeds: expected comma-separated integers, got {args.seeds}')
    if args.depth < 0:
        parser.error(f'--depth: expected 0 or more, got {args.depth}')
    return args


def main(argv):
    args = parse_args(argv)
    torch.set_num_threads(1)
    torch.set_default_dtype(torch.float32)
    context = {'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_library()}
    for seed in args.seeds:
        print(json.dumps({**run_cell(seed, args), **context}), flush=True)


if __name__ == '__main__':
    try:
        main(sys.argv[1:])
    except InputError as err:
        print(f'reference_cell.py: {err}', file=sys.stderr)
        sys.exit(2)
