#!/usr/bin/env python3
"""The JAX peer of `dpo-lab bench`: the same training steps as the bench's
`paper` cases, written in JAX and tuned for this kind of CPU, timed on the
same machine by `dpo-lab bench --jax PYTHON`.

Each case trains 64 independent runs of the paper's toy (4 prompts, 10
responses, scenario 1's four pairs) with DPO (beta = 0.1, summed over the
pairs) and Adam (lr 3e-3, PyTorch's defaults: beta1 0.9, beta2 0.999,
eps 1e-8, bias-corrected), in float64. The policy is the bench's MLP (one-hot
prompt in, two ReLU hidden layers of `width`, logits out) or the tabular
policy (one free logit per prompt and response). A cold review checked the
steps against dpo-lab's from the same start: log-probabilities agree to
within 1e-15 relative over 10 000 epochs (MLP width 64 and tabular).

The runs start from a Xavier init (zero logits for tabular) and use it as
the reference; dpo-lab starts from its fitted reference. The work per step is
the same. The peer keeps no metrics, where dpo-lab computes its metrics and
summary every step. Compilation is excluded: each case is compiled and run
once, then timed over `--repeats` calls, and the fastest is kept, as
`dpo-lab bench` keeps its fastest.

How the work is laid out for XLA (a cold review's tuning, on a 2-core Xeon
with AVX-512 and 2 MB of L2 per core, at the bench's lengths; `LAYOUT`):
  * the runs are split over several XLA CPU devices (`pmap`), so both cores
    work (one `jit` of `vmap` keeps about 1.4 cores busy);
  * the epochs are one `lax.scan`, unrolled (2 for the MLP, 4 for tabular);
  * MLP: the batched forward and backward are written by hand, activations
    kept as [runs, width, prompts] so that every batched matrix product is
    W @ H (`vmap(grad)` produced awkward batched products and a copy of W2
    every step); the log-softmax backward's `p * rowsum(g)` term is exactly
    0 here (each row holds +g and -g) and is dropped;
  * tabular: the runs are the minor (vector) axis, [prompts, responses, runs];
  * width 256: each device trains its runs one at a time (`lax.map`), so a
    run's parameters and Adam state (1.7 MB) stay in the core's L2.
Each case runs in a child process, since the device count is fixed when jax
starts. Any XLA_FLAGS the caller set are not passed to them.

Writes one CSV row per case (`--out`, default stdout). Needs `jax` (CPU);
dpo-lab does not: this script is run by `dpo-lab bench --jax`, never by the
tests.
"""

import argparse
import csv
import os
import subprocess
import sys
import time

# Virtual CPU devices are fixed when jax starts, so main() runs each case in a
# child process (--child) given that case's device count in PEER_DEVICES.
DEVICES = int(os.environ.get("PEER_DEVICES", "8"))
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                           + f" --xla_force_host_platform_device_count={DEVICES}").strip()

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

PROMPTS, RESPONSES = 4, 10
PAIRS = [(0, 0, 4), (1, 1, 6), (2, 2, 7), (3, 3, 5)]
BETA, LR, BETA1, BETA2, EPS = 0.1, 3e-3, 0.9, 0.999, 1e-8
CASES = [("tabular", 0, 200_000), ("mlp", 16, 20_000), ("mlp", 64, 10_000), ("mlp", 256, 2_000)]
P_ = jnp.array([p for p, _, _ in PAIRS])
C_ = jnp.array([c for _, c, _ in PAIRS])
R_ = jnp.array([r for _, _, r in PAIRS])
NAMES = ("w1", "b1", "w2", "b2", "w3", "b3")
# (virtual CPU devices, scan unroll, runs per chunk or 0 = all of a device's runs at once)
# per case, tuned on a 2-core Xeon (AVX-512, 2 MB L2 per core)
LAYOUT = {("tabular", 0): (2, 4, 0), ("mlp", 16): (2, 4, 0), ("mlp", 64): (8, 2, 0),
          ("mlp", 256): (2, 2, 1)}
if os.environ.get("PEER_LAYOUT"):   # e.g. "2,2,1" to explore
    LAYOUT = {k: tuple(int(x) for x in os.environ["PEER_LAYOUT"].split(",")) for k in LAYOUT}


def init(key, policy, width):
    """Xavier-uniform weights and zero biases (the MLP), or zero logits."""
    if policy == "tabular":
        return {"z": jnp.zeros((PROMPTS, RESPONSES))}

    def xavier(k, fan_out, fan_in):
        a = (6.0 / (fan_in + fan_out)) ** 0.5
        return jax.random.uniform(k, (fan_out, fan_in), jnp.float64, -a, a)

    k1, k2, k3 = jax.random.split(key, 3)
    return {"w1": xavier(k1, width, PROMPTS), "b1": jnp.zeros(width),
            "w2": xavier(k2, width, width), "b2": jnp.zeros(width),
            "w3": xavier(k3, RESPONSES, width), "b3": jnp.zeros(RESPONSES)}


def logits_one(params, policy):
    """Row-major prompts x responses logits of one run (for the reference)."""
    if policy == "tabular":
        return params["z"]
    h1 = jax.nn.relu(params["w1"].T + params["b1"])
    h2 = jax.nn.relu(h1 @ params["w2"].T + params["b2"])
    return h2 @ params["w3"].T + params["b3"]


def adam(p, m, v, g, step_size, inv_bc2):
    m = BETA1 * m + (1 - BETA1) * g
    v = BETA2 * v + (1 - BETA2) * g * g
    return p - step_size * m / (jnp.sqrt(v) * inv_bc2 + EPS), m, v


def dlogits(z, ref, axis):
    """d(sum of DPO losses)/d(logits); `axis` is the response axis of z and ref
    (prompts on axis 0 or 1 before it, as laid out by the caller). The
    log-softmax backward is g - softmax * rowsum(g); rowsum(g) is exactly 0
    (each prompt's row holds +g and -g), so that term is dropped."""
    logp = jax.nn.log_softmax(z, axis=axis)
    d = logp - ref
    if axis == 1:          # tabular, [X, Y, runs]
        pick = lambda a, col: a[P_, col]
        put = lambda a, col, val: a.at[P_, col].add(val)
    else:                  # MLP, [runs, X, Y]
        pick = lambda a, col: a[:, P_, col]
        put = lambda a, col, val: a.at[:, P_, col].add(val)
    u = BETA * (pick(d, C_) - pick(d, R_))
    g = -jax.nn.sigmoid(-u) * BETA           # softplus'(-u) = sigmoid(-u)
    return put(put(jnp.zeros_like(z), C_, g), R_, -g)


def mlp_grads(w1, b1, w2, b2, w3, b3, ref):
    """Gradient of the summed DPO loss for a batch of runs (leading axis)."""
    a1 = w1 + b1[:, :, None]                                  # [B, H, X]
    h1 = jnp.maximum(a1, 0.0)
    h1x = jnp.maximum(jnp.swapaxes(w1, 1, 2) + b1[:, None, :], 0.0)   # [B, X, H]
    a2 = w2 @ h1 + b2[:, :, None]                             # [B, H, X]
    h2 = jnp.maximum(a2, 0.0)
    z = w3 @ h2 + b3[:, :, None]                              # [B, Y, X]
    dz = jnp.swapaxes(dlogits(jnp.swapaxes(z, 1, 2), ref, 2), 1, 2)
    gw3 = dz @ jnp.swapaxes(h2, 1, 2)
    gb3 = dz.sum(2)
    da2x = jnp.where(jnp.swapaxes(a2, 1, 2) > 0, jnp.swapaxes(dz, 1, 2) @ w3, 0.0)   # [B, X, H]
    gw2 = jnp.swapaxes(da2x, 1, 2) @ h1x
    gb2 = da2x.sum(1)
    da1x = jnp.where(jnp.swapaxes(a1, 1, 2) > 0, da2x @ w2, 0.0)
    return jnp.swapaxes(da1x, 1, 2), da1x.sum(1), gw2, gb2, gw3, gb3


def train(state, ref, epochs, policy, unroll):
    """`epochs` steps of a batch of runs (one device's share), one lax.scan."""
    zeros = tuple(jnp.zeros_like(x) for x in state)

    def step(carry, t):
        p, m, v = carry
        g = (dlogits(p[0], ref, 1),) if policy == "tabular" else mlp_grads(*p, ref)
        step_size = LR / (1 - BETA1**t)
        inv_bc2 = 1 / jnp.sqrt(1 - BETA2**t)
        return tuple(zip(*[adam(*x, step_size, inv_bc2) for x in zip(p, m, v, g)])), None

    ts = jnp.arange(1, epochs + 1, dtype=jnp.float64)
    (p, _, _), _ = jax.lax.scan(step, (state, zeros, zeros), ts, unroll=unroll)
    return p


def shard(params, ref, policy, n):
    """Per-device inputs: the runs split n ways; tabular arrays run-minor."""
    if policy == "tabular":
        state = (params["z"],)
        lay = lambda x: jnp.moveaxis(x.reshape((n, -1) + x.shape[1:]), 1, -1)   # [n, X, Y, runs/n]
    else:
        state = tuple(params[k] for k in NAMES)
        lay = lambda x: x.reshape((n, -1) + x.shape[1:])
    return tuple(lay(x) for x in state), lay(ref)


def chunked(policy, epochs, unroll, chunk):
    """One device's share: all its runs in one scan, or `chunk` runs at a time
    (lax.map over chunks), so that a chunk's parameters and Adam state stay in
    the core's cache for all the epochs."""
    one = lambda s, r: train(s, r, epochs, policy, unroll)
    if not chunk or policy == "tabular":
        return one

    def f(s, r):
        split = lambda x: x.reshape((x.shape[0] // chunk, chunk) + x.shape[1:])
        out = jax.lax.map(lambda a: one(*a), (tuple(split(x) for x in s), split(r)))
        return tuple(x.reshape((-1,) + x.shape[2:]) for x in out)
    return f


def build(policy, width, runs, epochs):
    n, unroll, chunk = LAYOUT[(policy, width)]
    n = min(n, jax.device_count())
    while runs % n:
        n -= 1
    many = jax.pmap(chunked(policy, epochs, unroll, chunk), devices=jax.devices()[:n])
    keys = jax.random.split(jax.random.PRNGKey(0), runs)
    params = jax.vmap(lambda k: init(k, policy, width))(keys)
    ref = jax.vmap(lambda p: jax.nn.log_softmax(logits_one(p, policy), axis=-1))(params)
    return many, shard(params, ref, policy, n)


def measure(policy, width, runs, epochs, repeats):
    """Seconds of the fastest of `repeats` compiled calls of `runs` runs."""
    many, args = build(policy, width, runs, epochs)
    jax.block_until_ready(many(*args))  # compile, and a first run
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(many(*args))
        best = min(best, time.perf_counter() - t)
    return best


def machine():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--only", help="policy:width, e.g. mlp:64 or tabular:0")
    ap.add_argument("--out")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.child:
        # one child process per case, each with the device count of its layout
        out = open(args.out, "w", newline="") if args.out else sys.stdout
        out.write(",".join(["peer", "version", "policy", "width", "runs", "epochs", "seconds",
                            "steps_per_sec", "machine"]) + "\n")
        for policy, width, _ in CASES:
            if args.only and args.only != f"{policy}:{width}":
                continue
            env = dict(os.environ, PEER_DEVICES=str(LAYOUT[(policy, width)][0]))
            env.pop("XLA_FLAGS")
            cmd = [sys.executable, os.path.abspath(__file__), "--child", "--only", f"{policy}:{width}",
                   "--runs", str(args.runs), "--repeats", str(args.repeats), "--scale", str(args.scale)]
            rows = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
            out.write("".join(rows.splitlines(keepends=True)[1:]))
            out.flush()
        return
    fields = ["peer", "version", "policy", "width", "runs", "epochs", "seconds",
              "steps_per_sec", "machine"]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    w = csv.DictWriter(out, fieldnames=fields)
    w.writeheader()
    for policy, width, epochs in CASES:
        if args.only and args.only != f"{policy}:{width}":
            continue
        epochs = max(1, int(epochs * args.scale))
        s = measure(policy, width, args.runs, epochs, args.repeats)
        w.writerow({"peer": "jax", "version": jax.__version__, "policy": policy, "width": width,
                    "runs": args.runs, "epochs": epochs, "seconds": s,
                    "steps_per_sec": args.runs * epochs / s, "machine": machine()})
        out.flush()
        print(f"{policy} width {width}: {args.runs * epochs / s:,.0f} steps/s", file=sys.stderr)


if __name__ == "__main__":
    main()
