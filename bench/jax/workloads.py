"""The workloads of WORKLOADS.md in JAX, with the same sizes, data and definitions as the jx
programs bench/w*.cpp, printing the same one-line JSON result.

    python bench/jax/workloads.py W3 [--smoke] [--iters N] [--warmup N]
    python bench/jax/workloads.py info     (JAX's version, backend and devices, one JSON line)

--smoke: tiny sizes and two timed calls (proves the script runs; no timing claims).
--iters: timed samples (each the mean over the workload's fixed number of calls per sample);
--warmup: untimed calls before them. Every call's result is forced ready with
jax.block_until_ready. Threads: XLA's CPU client uses every core it may run on (both on the
bench machine); bench/run.py sets no XLA thread flags.
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax

F32 = jnp.float32

# ---- harness (mirrors bench/common.h) -------------------------------------------------------


class Report:
    def __init__(self, workload, opts):
        self.d = {
            "workload": workload,
            "system": "jax",
            "status": "ok",
            "smoke": opts.smoke,
            "iters": opts.iters,
            "warmup": opts.warmup,
            "figures": {},
            "samples": {},
            "extra": {"jax": jax.__version__},
            "check": {},
        }

    def figure(self, name, samples):
        self.d["samples"][name] = list(samples)
        self.d["figures"][name] = statistics.median(samples)

    def extra(self, name, value):
        self.d["extra"][name] = value

    def check(self, name, value):
        self.d["check"][name] = float(value)

    def print(self):
        print(json.dumps(self.d), flush=True)


def time_calls(f, opts, max_calls, unit):
    """Runs f warmup times, then iters samples of up to `max_calls` calls (fewer when one call
    takes long: as many as fit in 50 ms, at least 1); mean time per call per sample, in units of
    `unit` seconds. As bench/common.h."""
    last = 0.0
    for _ in range(max(opts.warmup, 1 if max_calls > 1 else 0)):
        t0 = time.perf_counter()
        f()
        last = time.perf_counter() - t0
    calls = 1
    if max_calls > 1:
        calls = int(min(max(0.05 / max(last, 1e-9), 1.0), float(max_calls)))
    out = []
    for _ in range(opts.iters):
        t0 = time.perf_counter()
        for _ in range(calls):
            f()
        out.append((time.perf_counter() - t0) / calls / unit)
    return out


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---- shared data (the same formulas as bench/workload_data.h) ---------------------------------


def pixels(n, d):
    """f32[n, d] in [0, 1): ((i * d + j) % 255) / 255, as bench/workload_data.h."""
    i = np.arange(n * d, dtype=np.int64)
    return jnp.asarray(((i % 255) / 255.0).astype(np.float32).reshape(n, d))


def labels(n, classes=10):
    """int32[n]: i % classes."""
    return jnp.asarray((np.arange(n) % classes).astype(np.int32))


def lecun_normal(key, fan_in, fan_out):
    return jax.nn.initializers.lecun_normal()(key, (fan_in, fan_out), F32)


def mlp_init(key, sizes):
    """Params as nnlib's MLP: {"0": {"w", "b"}, "1": ...}."""
    params = {}
    keys = jax.random.split(key, len(sizes) - 1)
    for i in range(len(sizes) - 1):
        params[str(i)] = {"w": lecun_normal(keys[i], sizes[i], sizes[i + 1]), "b": jnp.zeros((sizes[i + 1],), F32)}
    return params


def mlp_apply(params, x):
    n = len(params)
    for i in range(n):
        x = x @ params[str(i)]["w"] + params[str(i)]["b"]
        if i + 1 < n:
            x = jax.nn.relu(x)
    return x


def xent(logits, y):
    """softmax cross-entropy with integer labels, per example (optax's formula)."""
    return jax.nn.logsumexp(logits, axis=-1) - jnp.take_along_axis(logits, y[..., None], axis=-1)[..., 0]


def sgd(params, grads, lr=0.01):
    return jax.tree.map(lambda w, g: w - lr * g, params, grads)


# ---- W1: dispatch --------------------------------------------------------------------------


def w1(r, o):
    f = jax.jit(lambda x: x * 2 + 1)
    x = jnp.arange(8, dtype=F32) * 0.5
    y = f(x).block_until_ready()
    r.figure("us_per_call", time_calls(lambda: f(x).block_until_ready(), o, 10 if o.smoke else 1000, 1e-6))
    r.check("sum", np.sum(np.asarray(y, dtype=np.float64)))


# ---- W2: fused elementwise ---------------------------------------------------------------------


def w2_inputs(n):
    i = np.arange(n, dtype=np.int64)
    x = (((i % 1000) - 500).astype(np.float32) * np.float32(0.006)).astype(np.float32)
    y = ((i % 7).astype(np.float32) * np.float32(0.25)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(y)


def w2(r, o):
    n = (1 << 16) if o.smoke else (16 << 20)
    x, y = w2_inputs(n)
    f = jax.jit(lambda x, y: jnp.tanh(x) * y + jnp.exp(-x * x))
    z = f(x, y).block_until_ready()
    ms = time_calls(lambda: f(x, y).block_until_ready(), o, 1, 1e-3)
    r.figure("ms", ms)
    r.figure("gbs", [3.0 * 4 * n / (t * 1e-3) / 1e9 for t in ms])
    r.check("sum", np.sum(np.asarray(z, dtype=np.float64)))


# ---- W3 / W5: MLP train step -------------------------------------------------------------------


def w3_sizes(smoke):
    return (8, [784, 32, 32, 10]) if smoke else (256, [784, 1024, 1024, 10])


def w3_setup(smoke):
    batch, sizes = w3_sizes(smoke)
    params = mlp_init(jax.random.key(0), sizes)
    x, y = pixels(batch, sizes[0]), labels(batch, sizes[-1])

    def loss_fn(p, x, y):
        return jnp.mean(xent(mlp_apply(p, x), y))

    def step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return sgd(p, g), loss

    return jax.block_until_ready(params), x, y, jax.jit(step, donate_argnums=0)


def w3(r, o):
    params, x, y, step = w3_setup(o.smoke)
    state = {"p": params}

    def call():
        state["p"], loss = step(state["p"], x, y)
        jax.block_until_ready((state["p"], loss))
        return loss

    t0 = time.perf_counter()
    loss0 = call()
    r.extra("first_call_ms", (time.perf_counter() - t0) * 1e3)
    r.check("loss_first_step", loss0)
    r.figure("ms_per_step", time_calls(call, o, 1, 1e-3))
    r.check("loss_last_step", call())
    r.extra("peak_rss_mib", peak_rss_mib())


def w5(r, o):
    params, x, y, step = w3_setup(o.smoke)
    state = {"p": params}

    def call():
        state["p"], loss = step(state["p"], x, y)
        jax.block_until_ready((state["p"], loss))

    t0 = time.perf_counter()
    call()
    first = (time.perf_counter() - t0) * 1e3
    steady = statistics.median(time_calls(call, o, 1, 1e-3))
    r.figure("compile_ms", [first - steady])
    r.extra("first_call_ms", first)
    r.extra("steady_ms", steady)


# ---- W4: per-example gradients ----------------------------------------------------------------------


def w4(r, o):
    batch, sizes = (4, [784, 16, 10]) if o.smoke else (128, [784, 128, 10])
    params = mlp_init(jax.random.key(0), sizes)
    x, y = pixels(batch, sizes[0]), labels(batch, sizes[-1])

    def loss_one(p, x, y):  # one example: x f32[784], y int32[]
        return xent(mlp_apply(p, x), y)

    f = jax.jit(jax.vmap(jax.grad(loss_one), in_axes=(None, 0, 0)))
    g = jax.block_until_ready(f(params, x, y))
    r.figure("ms_per_call", time_calls(lambda: jax.block_until_ready(f(params, x, y)), o, 1, 1e-3))
    r.check("sum_abs_grad_w0", np.sum(np.abs(np.asarray(g["0"]["w"], dtype=np.float64))))


# ---- W6: Hessian -------------------------------------------------------------------------------


def rosenbrock(x):
    a, b = x[:-1], x[1:]
    return jnp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)


def w6(r, o):
    n = 10 if o.smoke else 100
    x = jnp.asarray(((np.arange(n) % 10) * 0.1 - 0.3).astype(np.float32))
    h = jax.jit(jax.hessian(rosenbrock))  # jacfwd(jacrev(f)): forward over reverse
    hx = h(x).block_until_ready()
    r.figure("us_per_call", time_calls(lambda: h(x).block_until_ready(), o, 10 if o.smoke else 100, 1e-6))
    r.check("sum", np.sum(np.asarray(hx, dtype=np.float64)))
    r.check("h00", hx[0, 0])


# ---- W7: small CNN train step ---------------------------------------------------------------------


def conv(x, w, b):
    return lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + b


def maxpool2(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def cnn_init(key, hw):
    k = jax.random.split(key, 3)
    init = jax.nn.initializers.lecun_normal()
    flat = (hw // 4) * (hw // 4) * 64
    return {
        "0": {"w": init(k[0], (3, 3, 1, 32), F32), "b": jnp.zeros((32,), F32)},
        "3": {"w": init(k[1], (3, 3, 32, 64), F32), "b": jnp.zeros((64,), F32)},
        "7": {"w": init(k[2], (flat, 10), F32), "b": jnp.zeros((10,), F32)},
    }


def cnn_apply(p, x):
    x = maxpool2(jax.nn.relu(conv(x, p["0"]["w"], p["0"]["b"])))
    x = maxpool2(jax.nn.relu(conv(x, p["3"]["w"], p["3"]["b"])))
    x = x.reshape(x.shape[0], -1)
    return x @ p["7"]["w"] + p["7"]["b"]


def w7(r, o):
    batch, hw = (2, 8) if o.smoke else (64, 28)
    params = cnn_init(jax.random.key(0), hw)
    x = pixels(batch, hw * hw).reshape(batch, hw, hw, 1)
    y = labels(batch)

    def loss_fn(p, x, y):
        return jnp.mean(xent(cnn_apply(p, x), y))

    def step(p, x, y):
        loss, g = jax.value_and_grad(loss_fn)(p, x, y)
        return sgd(p, g), loss

    step = jax.jit(step, donate_argnums=0)
    state = {"p": params}

    def call():
        state["p"], loss = step(state["p"], x, y)
        jax.block_until_ready((state["p"], loss))
        return loss

    r.check("loss_first_step", call())
    r.figure("ms_per_step", time_calls(call, o, 1, 1e-3))


# ---- W8: ODE ------------------------------------------------------------------------------------


def lorenz(s):
    x, y, z = s[0], s[1], s[2]
    return jnp.stack([10.0 * (y - x), x * (28.0 - z) - y, x * y - (8.0 / 3.0) * z])


def rk4_step(s, _, dt=0.01):
    k1 = lorenz(s)
    k2 = lorenz(s + (dt / 2) * k1)
    k3 = lorenz(s + (dt / 2) * k2)
    k4 = lorenz(s + dt * k3)
    return s + (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4), None


def w8(r, o):
    steps = 10 if o.smoke else 1000

    def integrate(s0):
        return lax.scan(rk4_step, s0, None, length=steps)[0]

    s0 = jnp.ones((3,), F32)
    fi = jax.jit(integrate)
    fg = jax.jit(jax.grad(lambda s0: integrate(s0)[0]))
    s1 = fi(s0).block_until_ready()
    g = fg(s0).block_until_ready()
    calls = 2 if o.smoke else 10
    r.figure("us_per_integration", time_calls(lambda: fi(s0).block_until_ready(), o, calls, 1e-6))
    r.figure("us_per_gradient", time_calls(lambda: fg(s0).block_until_ready(), o, calls, 1e-6))
    for i, c in enumerate("xyz"):
        r.check(f"final_{c}", s1[i])
    for i, c in enumerate("xyz"):
        r.check(f"dfinal_x_d{c}0", g[i])


# ---- info: which JAX, which devices (bench/run.py --platform cuda asks before the workloads) ----


def info():
    """Prints one JSON line: JAX's version, its default backend and devices (under the process's
    JAX_PLATFORMS), the backend's platform version (the CUDA / driver versions for a GPU), the
    default matmul precision, and the versions of JAX's CUDA packages. status "error" with the
    reason when the backend cannot start (e.g. JAX_PLATFORMS=cuda with a CPU-only jaxlib or no GPU)."""
    import importlib.metadata

    import jaxlib

    d = {"workload": "info", "system": "jax", "status": "ok", "jax": jax.__version__, "jaxlib": jaxlib.__version__,
         "default_matmul_precision": str(jax.config.jax_default_matmul_precision)}
    packages = {}
    for dist in importlib.metadata.distributions():
        name = (dist.metadata["Name"] or "").lower()
        if name.startswith(("jax-cuda", "jax_cuda", "jaxlib", "nvidia-cuda-runtime", "nvidia-cudnn", "nvidia-cublas")):
            packages[name] = dist.version
    d["packages"] = dict(sorted(packages.items()))
    try:
        devices = jax.devices()
        d["backend"] = jax.default_backend()
        d["devices"] = [f"{x.platform}:{x.id} {x.device_kind}" for x in devices]
        try:
            d["platform_version"] = devices[0].client.platform_version
        except Exception as e:  # noqa: BLE001 -- informational only
            d["platform_version"] = f"unknown ({type(e).__name__})"
        # one tiny computation: the backend really runs
        d["check"] = float(jnp.sum(jnp.arange(4, dtype=F32)))
    except Exception as e:  # noqa: BLE001 -- reported in the line
        d["status"] = "error"
        d["reason"] = f"{type(e).__name__}: {e}".rstrip(": ")
        if not any("cuda" in k for k in packages) and "cuda" not in jaxlib.__version__:
            d["hint"] = f"no jax-cuda12/jax-cuda13 plugin is installed: jaxlib {jaxlib.__version__} runs on the CPU only"
    print(json.dumps(d), flush=True)
    return 0 if d["status"] == "ok" else 1


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6, "W7": w7, "W8": w8}
DEFAULT_ITERS = {"W1": 20, "W2": 10, "W3": 10, "W4": 10, "W5": 3, "W6": 20, "W7": 10, "W8": 10}
DEFAULT_WARMUP = {"W5": 1}


def main(argv):
    if argv[:1] == ["info"]:
        return info()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=sorted(WORKLOADS))
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--iters", type=int)
    ap.add_argument("--warmup", type=int)
    o = ap.parse_args(argv)
    if o.iters is None:
        o.iters = 2 if o.smoke else DEFAULT_ITERS[o.workload]
    if o.warmup is None:
        o.warmup = 1 if o.smoke else DEFAULT_WARMUP.get(o.workload, 3)
    o.iters = max(1, o.iters)
    r = Report(o.workload, o)
    try:
        WORKLOADS[o.workload](r, o)
        r.extra("backend", jax.default_backend())  # where it ran (bench/run.py checks it on the GPU)
    except Exception as e:  # noqa: BLE001 -- reported as the workload's error line
        r.d["status"] = "error"
        r.d["reason"] = f"{type(e).__name__}: {e}"
        r.print()
        return 1
    r.print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
