#!/usr/bin/env python3
"""The JAX peer of `dpo-lab bench`: the same training steps as the bench's
`paper` cases, written as a researcher would in JAX, timed on the same machine.

Each case trains `runs` independent runs of the paper's toy (4 prompts, 10
responses, scenario 1's four pairs) with DPO (beta = 0.1, summed over the
pairs) and Adam (lr 3e-3, PyTorch's defaults: beta1 0.9, beta2 0.999,
eps 1e-8, bias-corrected), in float64: the epochs are one `lax.scan`, the runs
one `vmap`, the whole loop one `jit`. The policy is the bench's MLP (one-hot
prompt in, two ReLU hidden layers of `width`, logits out) or the tabular
policy (one free logit per prompt and response).

The peer does less per step than dpo-lab, never more: it keeps no metrics
and no summary, only the parameters and Adam's moments; the reference
log-probabilities are a constant (dpo-lab fits them before timing too).
Compilation is excluded: each case is compiled and run once, then timed over
`--repeats` calls (the fastest is kept, as `dpo-lab bench` keeps its fastest).

Writes one CSV row per case (`--out`, default stdout). Needs `jax` (CPU);
dpo-lab does not: this script is run by hand, never by the tests.
"""

import argparse
import csv
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp

jax.config.update("jax_enable_x64", True)

PROMPTS, RESPONSES = 4, 10
# The paper's four pairs, 0-based (prompt, chosen, rejected): dpo-lab's PAPER_PAIRS.
PAIRS = [(0, 0, 4), (1, 1, 6), (2, 2, 7), (3, 3, 5)]
BETA, LR, BETA1, BETA2, EPS = 0.1, 3e-3, 0.9, 0.999, 1e-8
# dpo-lab bench's `paper` cases: (policy, width, epochs).
CASES = [("tabular", 0, 200_000), ("mlp", 16, 20_000), ("mlp", 64, 10_000), ("mlp", 256, 2_000)]


def init(key, policy, width):
    """Xavier-uniform weights and zero biases (the MLP), or zero logits."""
    if policy == "tabular":
        return {"z": jnp.zeros((PROMPTS, RESPONSES))}

    def xavier(k, fan_out, fan_in):
        a = (6.0 / (fan_in + fan_out)) ** 0.5
        return jax.random.uniform(k, (fan_out, fan_in), jnp.float64, -a, a)

    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": xavier(k1, width, PROMPTS),
        "b1": jnp.zeros(width),
        "w2": xavier(k2, width, width),
        "b2": jnp.zeros(width),
        "w3": xavier(k3, RESPONSES, width),
        "b3": jnp.zeros(RESPONSES),
    }


def logits(params, policy):
    """Row-major prompts x responses logits."""
    if policy == "tabular":
        return params["z"]
    # The one-hot input picks column x of W1.
    h1 = jax.nn.relu(params["w1"].T + params["b1"])
    h2 = jax.nn.relu(h1 @ params["w2"].T + params["b2"])
    return h2 @ params["w3"].T + params["b3"]


def dpo_loss(params, ref_logp, policy):
    """DPO summed over the pairs: -log sigmoid(beta (chosen margin - rejected margin))."""
    logp = jax.nn.log_softmax(logits(params, policy), axis=-1)
    d = logp - ref_logp
    p, c, r = (jnp.array(col) for col in zip(*PAIRS))
    margin = BETA * (d[p, c] - d[p, r])
    return jnp.sum(jax.nn.softplus(-margin))


def train(params, ref_logp, epochs, policy):
    """`epochs` DPO + Adam steps of one run, as one `lax.scan`."""
    grad = jax.grad(dpo_loss)
    zeros = jax.tree_util.tree_map(jnp.zeros_like, params)

    def step(carry, t):
        p, m, v = carry
        g = grad(p, ref_logp, policy)
        m = jax.tree_util.tree_map(lambda m, g: BETA1 * m + (1 - BETA1) * g, m, g)
        v = jax.tree_util.tree_map(lambda v, g: BETA2 * v + (1 - BETA2) * g * g, v, g)
        step_size = LR / (1 - BETA1**t)
        inv_bc2 = 1 / jnp.sqrt(1 - BETA2**t)
        p = jax.tree_util.tree_map(
            lambda p, m, v: p - step_size * m / (jnp.sqrt(v) * inv_bc2 + EPS), p, m, v
        )
        return (p, m, v), None

    ts = jnp.arange(1, epochs + 1, dtype=jnp.float64)
    (p, _, _), _ = jax.lax.scan(step, (params, zeros, zeros), ts)
    return p


def measure(policy, width, runs, epochs, repeats):
    """Seconds of the fastest of `repeats` compiled calls of `runs` runs."""
    many = jax.jit(
        jax.vmap(lambda p, r: train(p, r, epochs, policy)), donate_argnums=()
    )
    keys = jax.random.split(jax.random.PRNGKey(0), runs)
    params = jax.vmap(lambda k: init(k, policy, width))(keys)
    ref = jax.vmap(lambda p: jax.nn.log_softmax(logits(p, policy), axis=-1))(params)
    jax.block_until_ready(many(params, ref))  # compile, and a first run
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(many(params, ref))
        best = min(best, time.perf_counter() - t)
    return best


def machine():
    """The CPU's model name, as dpo-lab's bench.csv gives it."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    return f"{name}, {os.cpu_count()} cores"
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=64, help="runs per case (vmap), default 64")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per case, default 3")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every case's epochs")
    ap.add_argument("--out", help="CSV file to write (default: stdout)")
    args = ap.parse_args()
    fields = ["peer", "version", "policy", "width", "runs", "epochs", "seconds",
              "steps_per_sec", "machine"]
    out = open(args.out, "w", newline="") if args.out else sys.stdout
    w = csv.DictWriter(out, fieldnames=fields)
    w.writeheader()
    for policy, width, epochs in CASES:
        epochs = max(1, int(epochs * args.scale))
        s = measure(policy, width, args.runs, epochs, args.repeats)
        w.writerow({
            "peer": "jax", "version": jax.__version__, "policy": policy, "width": width,
            "runs": args.runs, "epochs": epochs, "seconds": s,
            "steps_per_sec": args.runs * epochs / s, "machine": machine(),
        })
        out.flush()
        print(f"{policy} width {width}: {args.runs * epochs / s:,.0f} steps/s", file=sys.stderr)


if __name__ == "__main__":
    main()
