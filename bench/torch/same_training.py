"""Replays hessweep's training steps in PyTorch: same data, initial weights and batch order (files written by
bench/torch-check.bench.js into the folder given as the only argument), nn.Linear without biases, ReLU, mean
cross-entropy, torch.optim.Adam with its defaults, float32, one thread. Writes the parameters after every
checkpoint step and the per-step losses as float32/float64 files next to the inputs."""
import json
import os
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)
folder = sys.argv[1]
meta = json.load(open(os.path.join(folder, "meta.json")))
sizes, steps, batch, lr = meta["sizes"], meta["steps"], meta["batch"], meta["lr"]
x = torch.from_numpy(np.fromfile(os.path.join(folder, "x.f32"), dtype=np.float32).reshape(-1, sizes[0]))
y = torch.from_numpy(np.fromfile(os.path.join(folder, "y.i32"), dtype=np.int32).astype(np.int64))
rows = torch.from_numpy(np.fromfile(os.path.join(folder, "rows.i32"), dtype=np.int32).astype(np.int64)).reshape(steps, batch)
flat = np.fromfile(os.path.join(folder, "init.f32"), dtype=np.float32)

layers = []
at = 0
for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
    linear = torch.nn.Linear(fan_in, fan_out, bias=False)
    # hessweep stores W as [fan_in][fan_out] (y = x·W); nn.Linear's weight is its transpose.
    w = flat[at : at + fan_in * fan_out].reshape(fan_in, fan_out)
    linear.weight.data = torch.from_numpy(np.ascontiguousarray(w.T))
    at += fan_in * fan_out
    layers.append(linear)
net = torch.nn.Sequential(*[m for linear in layers for m in (linear, torch.nn.ReLU())][:-1])
adam = torch.optim.Adam(net.parameters(), lr=lr)
losses = np.zeros(steps)
checkpoints = {}
for step in range(steps):
    adam.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(x[rows[step]]), y[rows[step]])
    loss.backward()
    adam.step()
    losses[step] = loss.item()
    if step + 1 in meta["checkpoints"]:
        checkpoints[step + 1] = np.concatenate([linear.weight.data.numpy().T.reshape(-1) for linear in layers])
losses.tofile(os.path.join(folder, "torch_losses.f64"))
for step, values in checkpoints.items():
    values.astype(np.float32).tofile(os.path.join(folder, f"torch_params_{step}.f32"))
print(json.dumps({"torch": torch.__version__, "steps": steps}))
