"""Runs the workloads of WORKLOADS.md in jx and JAX side by side and writes the report.

    <venv>/bin/python bench/run.py --build-dir build [--rounds 3] [--only W1,W3] [--out bench/results]
    python bench/run.py --platform cuda [--build-dir build] [--only W1,W2,W3,W7]

Started by scripts/bench.sh (which prepares the venv and builds jx with -DJX_BUILD_BENCH=ON).
It measures the machine's limits (bench_limits: triad bandwidth, oneDNN sgemm), then runs every
workload in rounds, alternating jx and JAX processes (jx first in even rounds, JAX first in odd
ones); each process warms up and times --iters samples, and the figure is the median of all
samples of all rounds. W5 (compile latency) is a first call, so it runs in more rounds of fresh
processes. Writes <out>/latest.md, <out>/latest.json (every sample) and <out>/ratios.png.

--platform cuda: the same workloads on the GPU, jx with JX_PLATFORM=cuda, JAX with
JAX_PLATFORMS=cuda (or gpu, whichever starts), into bench/results/gpu/ (the CPU results are not
touched). The limits are bench_cuda_limits's (device-to-device copy bandwidth, cuBLAS sgemm);
W2's target is a fraction of the copy bandwidth. Stops at once, exit status 2, when jx has no
CUDA device (the reason is jx's); when JAX has no GPU backend it says so and runs jx alone.
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAX_SCRIPT = os.path.join(ROOT, "bench", "jax", "workloads.py")

# (workload, jx program, description)
WORKLOADS = [
    ("W1", "bench_w1_dispatch", "dispatch: jitted x*2+1, x f32[8]"),
    ("W2", "bench_w2_elementwise", "fused elementwise: jitted tanh(x)*y + exp(-x*x), f32[16Mi]"),
    ("W3", "bench_w3_mlp", "MLP 784-1024-1024-10 train step, batch 256, SGD, jitted, params donated"),
    ("W4", "bench_w4_per_example", "per-example grads: jit(vmap(grad)), MLP 784-128-10, batch 128"),
    ("W5", "bench_w5_compile", "compile latency: first call of W3's step minus a steady call"),
    ("W6", "bench_w6_hessian", "jit(hessian(rosenbrock)), 100 dims"),
    ("W7", "bench_w7_cnn", "CNN train step (2 conv3x3 + pool, dense 10), x f32[64,28,28,1]"),
    ("W8", "bench_w8_ode", "RK4 Lorenz, 1000 steps via scan, and grad wrt the initial state"),
]

# (workload, figure, unit, target op, target) -- ratios are jx / JAX unless op is "frac>=".
FIGURES = [
    ("W1", "us_per_call", "µs", "<=", 0.1),
    ("W2", "ms", "ms", "frac>=", 0.8),
    ("W3", "ms_per_step", "ms", "<=", 1.0),
    ("W4", "ms_per_call", "ms", "<=", 1.0),
    ("W5", "compile_ms", "ms", "<=", 0.3),
    ("W6", "us_per_call", "µs", "<=", 1.0),
    ("W7", "ms_per_step", "ms", "<=", 1.0),
    ("W8", "us_per_integration", "µs", "<=", 1.0),
    ("W8", "us_per_gradient", "µs", "<=", 1.0),
]

# The GPU targets (issue 9): W1 no slower than JAX, W2 at least 0.85 of the device-to-device copy
# bandwidth, W3 and W7 no slower than JAX. The other workloads are measured, with no target.
GPU_FIGURES = [
    ("W1", "us_per_call", "µs", "<=", 1.0),
    ("W2", "ms", "ms", "frac>=", 0.85),
    ("W3", "ms_per_step", "ms", "<=", 1.0),
    ("W4", "ms_per_call", "ms", None, None),
    ("W5", "compile_ms", "ms", None, None),
    ("W6", "us_per_call", "µs", None, None),
    ("W7", "ms_per_step", "ms", "<=", 1.0),
    ("W8", "us_per_integration", "µs", None, None),
    ("W8", "us_per_gradient", "µs", None, None),
]

LABELS = {"ms": "ms per call", "us_per_call": "µs per call", "us_per_integration": "µs per integration",
          "us_per_gradient": "µs per gradient", "compile_ms": "compile ms"}

# Arithmetic per step, from WORKLOADS.md (for the floor column: GFLOP / measured sgemm rate).
GFLOP = {"W3": 2.45, "W7": 1.5}
W2_BYTES = 3 * 4 * (16 << 20)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_json(cmd, env, timeout):
    """Runs one program; returns its JSON result line (a dict), or an error dict."""
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"status": "error", "reason": f"timed out after {timeout} s"}
    except OSError as e:
        return {"status": "error", "reason": f"could not start {cmd[0]}: {e}"}
    wall = time.perf_counter() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-5:]
        return {"status": "error", "reason": f"exit {p.returncode}, no result line: " + " | ".join(tail)}
    try:
        res = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        return {"status": "error", "reason": f"bad result line: {e}"}
    res["wall_s"] = wall
    if p.returncode != 0 and res.get("status") == "ok":
        res["status"] = "error"
        res["reason"] = f"exit {p.returncode}"
    return res


class Runner:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_dir)
        self.bin = os.path.join(self.build, "bench")
        ncores = len(os.sched_getaffinity(0))
        self.threads = ncores
        base = dict(os.environ)
        # jx: its kernels and oneDNN share one OpenMP pool; use every core.
        self.env_jx = dict(base, JX_NUM_THREADS=str(ncores), OMP_NUM_THREADS=str(ncores))
        # no on-disk object cache: every process compiles from scratch, as JAX's does by default
        self.env_jx.pop("JX_CACHE_DIR", None)
        self.env_jx.pop("JX_PLATFORM", None)
        # JAX: XLA's CPU client sizes its intra-op pool to the cores it may run on (all of them);
        # no XLA thread flags are set. Quiet logs, CPU only, no x64.
        self.env_jax = dict(base, JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="2")
        for k in ("JAX_ENABLE_X64", "XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR", "JAX_DEFAULT_MATMUL_PRECISION"):
            self.env_jax.pop(k, None)
        self.env_jax["OMP_NUM_THREADS"] = str(ncores)
        self.platform = args.platform
        self.jax_python = args.jax_python or sys.executable
        self.jax_unavailable = None  # why JAX cannot run on the platform (GPU mode), or None
        self.cuda_extra = {}  # bench_cuda_limits's extras from the preflight (GPU mode)
        if self.platform == "cuda":
            # jit and eager operations on cuda:0; arrays from jx::array are placed there
            self.env_jx["JX_PLATFORM"] = "cuda"
            self.env_jax["JAX_PLATFORMS"] = "cuda"  # or "gpu": jax_probe() keeps the one that starts
            if args.jax_matmul_precision != "default":
                self.env_jax["JAX_DEFAULT_MATMUL_PRECISION"] = args.jax_matmul_precision

    def jx_cmd(self, prog, extra=()):
        return [os.path.join(self.bin, prog), *extra]

    def jax_cmd(self, w, extra=()):
        return [self.jax_python, JAX_SCRIPT, w, *extra]

    def cuda_preflight(self):
        """GPU mode: None when jx can use a CUDA device, else why not (from bench_cuda_limits)."""
        prog = os.path.join(self.bin, "bench_cuda_limits")
        if not os.path.exists(prog):
            return (f"{prog} not found: build the bench programs into {self.build} first "
                    "(cmake -DJX_BUILD_BENCH=ON, target bench_all; scripts/bench.sh does)")
        r = run_json([prog, "--smoke", "--iters", "1", "--warmup", "0"], self.env_jx, 120)
        self.cuda_extra = r.get("extra", {})
        if r.get("status") == "ok":
            return None
        if r.get("status") == "unavailable":
            return r.get("reason", "no CUDA device")  # "no CUDA device: <jx::cuda_unavailable_reason()>"
        return f"the CUDA device does not work (bench_cuda_limits --smoke): {r.get('reason', r.get('status'))}"

    def jax_probe(self):
        """GPU mode: asks JAX (workloads.py info) for its GPU backend under JAX_PLATFORMS=cuda, then
        =gpu; keeps the first that starts. Returns the info line, and sets jax_unavailable when
        neither does."""
        reasons = []
        for plat in ("cuda", "gpu"):
            env = dict(self.env_jax, JAX_PLATFORMS=plat)
            r = run_json([self.jax_python, JAX_SCRIPT, "info"], env, 300)
            if r.get("status") == "ok" and r.get("backend") in ("gpu", "cuda"):
                self.env_jax["JAX_PLATFORMS"] = plat
                r["jax_platforms"] = plat
                return r
            if r.get("status") == "ok":
                reasons.append(f"JAX_PLATFORMS={plat}: JAX's backend is {r.get('backend')}, not a GPU")
            else:
                reasons.append(f"JAX_PLATFORMS={plat}: {r.get('reason', r.get('status'))}")
            info = r
            if r.get("hint"):  # no CUDA plugin at all: "gpu" cannot start either
                reasons.append(r["hint"])
                break
        self.jax_unavailable = f"JAX ({self.jax_python}) has no CUDA backend: " + "; ".join(reasons)
        info["status"] = "unavailable"
        info["reason"] = self.jax_unavailable
        return info

    def limits(self):
        if self.platform == "cuda":
            prog = "bench_cuda_limits"
            keys = ("d2d_gbs", "d2d_w2_gbs", "sgemm_gflops")
            log("GPU limits (bench_cuda_limits: device-to-device copy of 1 GiB and of W2's size, cuBLAS sgemm 4096^3)")
        else:
            prog = "bench_limits"
            keys = ("triad_gbs", "sgemm_gflops")
            log("machine limits (bench_limits: triad 64 MiB x3, oneDNN sgemm 2048^3)")
        samples = {k: [] for k in keys}
        extra = {}
        reason = None
        for _ in range(self.args.limit_rounds):
            r = run_json(self.jx_cmd(prog, self.iter_args()), self.env_jx, self.args.timeout)
            if r.get("status") != "ok":
                reason = r.get("reason")
                break
            for k in samples:
                if k in r["samples"] or self.platform != "cuda":
                    samples[k] += r["samples"][k]
            extra = r.get("extra", {})
        samples = {k: v for k, v in samples.items() if v or self.platform != "cuda"}
        if reason:
            return {"status": "error", "reason": reason}
        return {"status": "ok", "samples": samples, "figures": {k: statistics.median(v) for k, v in samples.items()},
                "extra": extra}

    def iter_args(self):
        return ["--smoke"] if self.args.smoke else []

    def workload(self, w, prog):
        rounds = self.args.rounds
        if w == "W5":
            rounds = self.args.compile_rounds
        out = {}
        for system in ("jx", "jax"):
            out[system] = {"status": "ok", "samples": {}, "extra": [], "check": {}, "rounds": 0, "wall_s": 0.0}
        if self.jax_unavailable:
            out["jax"]["status"] = "unavailable"
            out["jax"]["reason"] = self.jax_unavailable
        for rnd in range(rounds):
            order = ("jx", "jax") if rnd % 2 == 0 else ("jax", "jx")
            for system in order:
                acc = out[system]
                if acc["status"] != "ok":
                    continue
                # A slow system stops early once it has spent its time budget on this workload
                # and has at least 10 samples of every figure.
                enough = acc["samples"] and min(len(v) for v in acc["samples"].values()) >= 10
                if w != "W5" and enough and acc["wall_s"] >= self.args.budget:
                    continue
                if system == "jx":
                    r = run_json(self.jx_cmd(prog, self.iter_args()), self.env_jx, self.args.timeout)
                else:
                    r = run_json(self.jax_cmd(w, self.iter_args()), self.env_jax, self.args.timeout)
                acc["wall_s"] += r.get("wall_s", 0.0)
                if self.platform == "cuda" and r.get("status") == "ok":
                    # the figures count only if the work ran on the GPU
                    where = r.get("extra", {}).get("device" if system == "jx" else "backend")
                    if where is not None and not str(where).startswith(("cuda", "gpu")):
                        r["status"] = "error"
                        r["reason"] = f"ran on {where}, not on the GPU"
                if r.get("status") != "ok":
                    acc["status"] = r.get("status", "error")
                    acc["reason"] = r.get("reason", "")
                    log(f"  {w} {system}: {acc['status']}: {acc['reason'][:200]}")
                    continue
                acc["rounds"] += 1
                for k, v in r["samples"].items():
                    acc["samples"].setdefault(k, []).extend(v)
                acc["extra"].append(r.get("extra", {}))
                acc["check"] = r.get("check", {})
                if system == "jax":
                    acc["jax_version"] = r.get("extra", {}).get("jax")
        for system in ("jx", "jax"):
            acc = out[system]
            acc["figures"] = {k: statistics.median(v) for k, v in acc["samples"].items()}
            # per-process numbers (first call, peak memory): median over the rounds
            keys = {k for e in acc["extra"] for k, v in e.items() if isinstance(v, (int, float))}
            acc["extra_median"] = {k: statistics.median([e[k] for e in acc["extra"] if k in e]) for k in keys}
            figs = ", ".join(f"{k} {v:.4g}" for k, v in acc["figures"].items())
            if acc["status"] == "ok":
                log(f"  {w} {system}: {figs} ({plural(acc['rounds'], 'round')}, {acc['wall_s']:.1f} s)")
        return out


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_info(build):
    info = {}
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = model or platform.processor()
    info["cores"] = len(os.sched_getaffinity(0))
    flags = sh(["grep", "-m1", "-o", "avx512f", "/proc/cpuinfo"])
    info["avx512"] = bool(flags)
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["memory_gib"] = round(kb / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    info["kernel"] = platform.release()
    commit = sh(["git", "rev-parse", "--short=10", "HEAD"])
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"])
    info["jx_commit"] = commit + (" (with uncommitted changes)" if dirty else "")
    info["jx_commit_date"] = sh(["git", "log", "-1", "--format=%cd", "--date=iso"])
    try:
        import jax
        import jaxlib

        info["jax"] = jax.__version__
        info["jaxlib"] = jaxlib.__version__
    except ImportError as e:  # GPU mode: the JAX processes may use another Python (--jax-python)
        info["jax"] = info["jaxlib"] = f"not importable by {sys.executable} ({e})"
    info["python"] = platform.python_version()
    llvm = ""
    for exe in ("/usr/lib/llvm-19/bin/llvm-config", shutil.which("llvm-config-19") or "", shutil.which("llvm-config") or ""):
        if exe and os.path.exists(exe):
            llvm = sh([exe, "--version"])
            if llvm:
                break
    info["llvm"] = llvm or "unknown"
    cxx = ""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_CXX_COMPILER:"):
                    cxx = line.split("=", 1)[1].strip()
    except OSError:
        pass
    info["compiler"] = sh([cxx, "--version"]).splitlines()[0] if cxx and sh([cxx, "--version"]) else cxx
    return info


def fmt(v, unit=""):
    if v is None:
        return "—"
    if abs(v) >= 100:
        s = f"{v:.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    elif abs(v) >= 1:
        s = f"{v:.2f}"
    else:
        s = f"{v:.3g}"
    return f"{s} {unit}".strip()


def evaluate(results, limits):
    """One row per figure: values, ratio, target, met."""
    rows = []
    triad = limits.get("figures", {}).get("triad_gbs") if limits.get("status") == "ok" else None
    for w, fig, unit, op, target in FIGURES:
        res = results.get(w)
        row = {"workload": w, "figure": fig, "unit": unit, "op": op, "target": target}
        if res is None:
            row["state"] = "not run"
            row["reason"] = "not selected (--only)"
            rows.append(row)
            continue
        jx, jax = res["jx"], res["jax"]
        if jx["status"] != "ok" or jax["status"] != "ok" or fig not in jx["figures"] or fig not in jax["figures"]:
            bad = jx if jx["status"] != "ok" else jax
            if bad["status"] == "ok":
                row["state"] = "error"
                row["reason"] = f"no figure {fig}"
            else:
                row["state"] = bad["status"]
                row["reason"] = ("jx: " if bad is jx else "JAX: ") + bad.get("reason", "")
            row["jx"] = jx["figures"].get(fig) if jx["status"] == "ok" else None
            row["jax"] = jax["figures"].get(fig) if jax["status"] == "ok" else None
            rows.append(row)
            continue
        row["state"] = "ok"
        row["jx"], row["jax"] = jx["figures"][fig], jax["figures"][fig]
        row["ratio"] = row["jx"] / row["jax"] if row["jax"] else None
        if op == "frac>=":
            # each program's own GB/s samples (2 reads + 1 write of its array size)
            row["jx_gbs"] = jx["figures"].get("gbs", 0.0)
            row["jax_gbs"] = jax["figures"].get("gbs", 0.0)
            if triad:
                row["jx_frac"] = row["jx_gbs"] / triad
                row["jax_frac"] = row["jax_gbs"] / triad
                row["met"] = row["jx_frac"] >= target
            else:
                row["met"] = None
        else:
            row["met"] = row["ratio"] is not None and row["ratio"] <= target
        rows.append(row)
    return rows


def floor_text(w, limits):
    if limits.get("status") != "ok":
        return "—"
    f = limits["figures"]
    if w == "W2":
        return fmt(W2_BYTES / (f["triad_gbs"] * 1e9) * 1e3, "ms")
    if w in GFLOP:
        return fmt(GFLOP[w] / f["sgemm_gflops"] * 1e3, "ms")
    return "—"


def plural(n, word):
    return f"{n} {word}" + ("" if n == 1 else "s")


def samples_text(results, w, fig):
    res = results.get(w)
    if not res:
        return "—"
    n = [len(res[s]["samples"].get(fig, [])) for s in ("jx", "jax")]
    r = [res[s]["rounds"] for s in ("jx", "jax")]
    return f"{n[0]} / {n[1]} ({r[0]} / {r[1]} proc.)"


def load_text(results, w):
    res = results.get(w)
    return f"{res['load']:.1f}" if res and "load" in res else "—"


def write_report(path, run):
    info, limits, results, rows = run["machine"], run["limits"], run["results"], run["rows"]
    st, loads = run["settings"], run["loads"]
    L = []
    L.append("# jx vs JAX: benchmark results")
    L.append("")
    L.append(f"Written by `scripts/bench.sh` on {run['finished']} ({run['minutes']:.1f} min). "
             "Workloads: `../shared/bench/WORKLOADS.md`; programs: `bench/w*.cpp` (jx) and "
             "`bench/jax/workloads.py` (JAX); driver: `bench/run.py`.")
    if st["smoke"]:
        L.append("")
        L.append("**Smoke run (tiny sizes): these figures mean nothing.**")
    busy = max(loads) > info["cores"] + 0.5
    if busy:
        L.append("")
        L.append(f"**The machine was busy during this run** (1-minute load average {loads[0]:.1f} at the start, "
                 f"{loads[1]:.1f} at the end, on {info['cores']} cores): other processes competed for the cores, so "
                 "the absolute figures, and the limits measured below, are far from what an idle machine gives, and "
                 "the ratios say more about how each system copes with contended cores than about its speed.")
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append(f"- CPU: {info['cpu']}, {info['cores']} cores available"
             + (" (AVX-512)" if info.get("avx512") else "") + (f", {info['memory_gib']} GiB memory" if "memory_gib" in info else ""))
    L.append(f"- Load average (1 min) before / after the run: {loads[0]:.2f} / {loads[1]:.2f} "
             "(the machine is shared; a load above the core count means other work competed for the cores)")
    L.append(f"- jx commit {info['jx_commit']} ({info['jx_commit_date']}), {info['compiler']}, LLVM {info['llvm']}"
             + (f", oneDNN {limits['extra'].get('onednn')}" if limits.get("status") == "ok" else ""))
    L.append(f"- JAX {info['jax']} / jaxlib {info['jaxlib']} (CPU, from PyPI), Python {info['python']}, Linux {info['kernel']}")
    L.append(f"- Threads: both systems use all {st['threads']} cores. jx: `JX_NUM_THREADS={st['threads']}` and "
             f"`OMP_NUM_THREADS={st['threads']}` (jx's kernels and oneDNN share one OpenMP pool). JAX: XLA's CPU "
             "client sizes its thread pool to the cores the process may use (all of them); no `XLA_FLAGS` are set, "
             "`JAX_PLATFORMS=cpu`, default float32.")
    L.append(f"- Method: each workload runs in up to {plural(st['rounds'], 'round')} of one jx process and one "
             "JAX process, alternating which goes first; a system whose processes have taken more than "
             f"{st['budget']:.0f} s on a workload runs no further rounds once it has 10 samples (the samples "
             f"column says how many it got). W5 runs {plural(st['compile_rounds'], 'round')} of fresh processes, "
             "jx without an on-disk object cache (`JX_CACHE_DIR` unset), as JAX has none by default. Each process "
             "warms up (3 calls), then times its samples, forcing every result ready; the figure is the median of all "
             "samples of all rounds. Microsecond workloads time each sample as the mean of a batch of calls (W1: up "
             "to 1000, W6: up to 100, W8: up to 10; fewer when a call is slow: as many as fit in 50 ms).")
    L.append("")
    L.append("## Machine limits (measured in this run)")
    L.append("")
    if limits.get("status") == "ok":
        f = limits["figures"]
        L.append(f"- Triad bandwidth (a = b + s·c, three 64 MiB float arrays, OpenMP on all cores, 2 reads + 1 write): "
                 f"**{f['triad_gbs']:.1f} GB/s** (W2 floor {W2_BYTES / (f['triad_gbs'] * 1e9) * 1e3:.2f} ms)")
        L.append(f"- oneDNN sgemm 2048³: **{f['sgemm_gflops']:.0f} GFLOP/s** (W3 floor {GFLOP['W3'] / f['sgemm_gflops'] * 1e3:.2f} ms "
                 f"for {GFLOP['W3']} GFLOP, W7 floor {GFLOP['W7'] / f['sgemm_gflops'] * 1e3:.2f} ms for {GFLOP['W7']} GFLOP)")
        L.append("- For orientation (WORKLOADS.md, an idle 2-core AVX-512 machine of this kind): triad ≈ 44–48 GB/s, "
                 "sgemm ≈ 460 GFLOP/s.")
    else:
        L.append(f"- not measured: {limits.get('reason')}")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Ratio = jx / JAX (time: lower is better). W2's target is on the fraction of the triad bandwidth. "
             "Floor: the workload's bytes or FLOPs at the measured triad bandwidth or sgemm rate. Load: the "
             "1-minute load average when the workload started.")
    L.append("")
    L.append("| id | figure | jx | JAX | jx / JAX | target | met | floor | samples jx / JAX | load |")
    L.append("|----|--------|----|-----|----------|--------|-----|-------|------------------|------|")
    for row in rows:
        w, fig, unit = row["workload"], row["figure"], row["unit"]
        target = (f"≥ {row['target']} of triad" if row["op"] == "frac>=" else f"≤ {row['target']}")
        name = LABELS.get(fig, fig.replace("_", " "))
        if row["state"] != "ok":
            state = "**pending**" if row["state"] == "pending" else f"**{row['state']}**"
            L.append(f"| {w} | {name} | {fmt(row.get('jx'), unit) if row.get('jx') is not None else state} | "
                     f"{fmt(row.get('jax'), unit) if row.get('jax') is not None else '—'} | — | {target} | {state} | {floor_text(w, limits)} | {samples_text(results, w, fig)} | {load_text(results, w)} |")
            continue
        met = {True: "yes", False: "no", None: "—"}[row["met"]]
        if row["op"] == "frac>=":
            jxs = f"{fmt(row['jx'], unit)}, {row['jx_gbs']:.1f} GB/s" + (f" ({row['jx_frac']:.2f} of triad)" if "jx_frac" in row else "")
            jaxs = f"{fmt(row['jax'], unit)}, {row['jax_gbs']:.1f} GB/s" + (f" ({row['jax_frac']:.2f} of triad)" if "jax_frac" in row else "")
        else:
            jxs, jaxs = fmt(row["jx"], unit), fmt(row["jax"], unit)
        L.append(f"| {w} | {name} | {jxs} | {jaxs} | {row['ratio']:.3g} | {target} | {met} | {floor_text(w, limits)} | {samples_text(results, w, fig)} | {load_text(results, w)} |")
    # W3 memory
    w3 = results.get("W3")
    if w3:
        mj = w3["jx"]["extra_median"].get("peak_rss_mib") if w3["jx"]["status"] == "ok" else None
        ma = w3["jax"]["extra_median"].get("peak_rss_mib") if w3["jax"]["status"] == "ok" else None
        ratio = f"{mj / ma:.3g}" if mj and ma else "—"
        L.append(f"| W3 | peak resident memory of the process | {fmt(mj, 'MiB')} | {fmt(ma, 'MiB')} | {ratio} | — | — | — | {w3['jx']['rounds']} / {w3['jax']['rounds']} processes | {load_text(results, 'W3')} |")
        fj = w3["jx"]["extra_median"].get("first_call_ms") if w3["jx"]["status"] == "ok" else None
        fa = w3["jax"]["extra_median"].get("first_call_ms") if w3["jax"]["status"] == "ok" else None
        ratio = f"{fj / fa:.3g}" if fj and fa else "—"
        L.append(f"| W3 | first call (trace + compile + run) | {fmt(fj, 'ms')} | {fmt(fa, 'ms')} | {ratio} | — | — | — | {w3['jx']['rounds']} / {w3['jax']['rounds']} processes | {load_text(results, 'W3')} |")
    L.append("")
    notes = [r for r in rows if r["state"] != "ok"]
    if notes:
        L.append("Not measured:")
        L.append("")
        seen = set()
        for r in notes:
            key = (r["workload"], r.get("reason"))
            if key in seen:
                continue
            seen.add(key)
            L.append(f"- {r['workload']} ({r['state']}): {r.get('reason', '')[:400]}")
        L.append("")
    L.append("![jx / JAX ratios](ratios.png)")
    L.append("")
    L.append("## Answers (the same computation in both systems?)")
    L.append("")
    L.append("Check values from the last run of each program. W1, W2, W6 and W8 use identical inputs, so their "
             "values should agree to float32 rounding (W8's Lorenz trajectory is chaotic: over 10 time units float32 "
             "rounding differences grow, so only the first digits agree). W3, W4 and W7 initialize parameters with "
             "each system's own random generator, so their losses and gradients agree only roughly.")
    append_answers_and_workloads(L, results)
    with open(path, "w") as f:
        f.write("\n".join(L))


def append_answers_and_workloads(L, results):
    """The check-value table of both systems and the workload list, closing a report."""
    L.append("")
    L.append("| id | value | jx | JAX |")
    L.append("|----|-------|----|-----|")
    for w, _, _ in WORKLOADS:
        res = results.get(w)
        if not res:
            continue
        keys = list(res["jx"]["check"].keys() or res["jax"]["check"].keys())
        for k in keys:
            a, b = res["jx"]["check"].get(k), res["jax"]["check"].get(k)
            L.append(f"| {w} | {k} | {'—' if a is None else f'{a:.7g}'} | {'—' if b is None else f'{b:.7g}'} |")
    L.append("")
    L.append("## Workloads")
    L.append("")
    for w, prog, desc in WORKLOADS:
        L.append(f"- {w}: {desc} (`{prog}`, `workloads.py {w}`)")
    L.append("")


def write_chart(path, rows, limits, title, ceiling="triad bandwidth"):
    """The ratios chart; rows without a target (GPU mode: W4-W6, W8) are gray and have no tick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    time_rows = [r for r in rows if r["op"] != "frac>="]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [3, 1]})
    labels = [f"{r['workload']} {LABELS.get(r['figure'], r['figure'].replace('_', ' '))}" for r in time_rows]
    ys = list(range(len(time_rows)))[::-1]
    for y, r in zip(ys, time_rows):
        if r["state"] == "ok" and r.get("ratio"):
            color = {True: "tab:green", False: "tab:red"}.get(r["met"], "tab:gray")
            ax.barh(y, r["ratio"], color=color, height=0.6)
            ax.text(r["ratio"] * 1.08, y, f"{r['ratio']:.3g}", va="center", fontsize=9)
        else:
            ax.text(1.0, y, r["state"], va="center", ha="center", fontsize=9, color="gray", style="italic",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1}, zorder=3)
        if r["target"] is not None:
            ax.plot([r["target"], r["target"]], [y - 0.4, y + 0.4], color="black", lw=2)
    ax.set_yticks(ys)
    ax.set_yticklabels(labels, fontsize=9)
    ax.set_xscale("log")
    ax.axvline(1.0, color="gray", lw=0.8, ls="--")
    ratios = [r["ratio"] for r in time_rows if r.get("ratio")]
    lo = min([0.05] + [x / 2 for x in ratios])
    hi = max([2.0] + [x * 3 for x in ratios])
    ax.set_xlim(lo, hi)
    ax.set_xlabel("jx time / JAX time (log; lower is better; black tick = target)")
    ax.set_title("jx / JAX")

    w2 = next((r for r in rows if r["op"] == "frac>="), None)
    if w2 and w2.get("jx_frac") is not None:
        fracs = [w2["jx_frac"], w2.get("jax_frac")]  # no JAX figure in GPU mode without JAX's GPU backend
        colors = ["tab:green" if w2["met"] else "tab:red", "tab:blue"]
        for x, v in enumerate(fracs):
            if v is None:
                ax2.text(x, 0.05, "not run", ha="center", fontsize=9, color="gray", style="italic")
                continue
            ax2.bar([x], [v], color=colors[x])
            ax2.text(x, v + 0.02, f"{v:.2f}", ha="center", fontsize=9)
        ax2.axhline(w2["target"], color="black", lw=2)
        ax2.set_ylim(0, max([1.1] + [v + 0.15 for v in fracs if v is not None]))
    else:
        ax2.text(0.5, 0.5, w2["state"] if w2 else "not run", ha="center", va="center", transform=ax2.transAxes,
                 color="gray", style="italic")
    ax2.set_xticks([0, 1])
    ax2.set_xticklabels(["jx", "JAX"])
    ax2.set_title(f"W2: fraction of {ceiling}\n(higher is better; line = target)", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(run, out):
    """Writes latest.md and ratios.png of a run (the dict saved in latest.json); returns the rows."""
    if run["settings"].get("platform") == "cuda":
        return render_gpu(run, out)
    rows = evaluate(run["results"], run["limits"])
    run["rows"] = rows
    write_report(os.path.join(out, "latest.md"), run)
    info = run["machine"]
    title = f"jx {info['jx_commit']} vs JAX {info['jax']} on {info['cpu']} ({info['cores']} cores), {run['finished']}"
    if run["settings"]["smoke"]:
        title += " (SMOKE RUN: meaningless figures)"
    if max(run["loads"]) > info["cores"] + 0.5:
        title += f"\nbusy machine: load average {max(run['loads']):.1f} on {info['cores']} cores"
    write_chart(os.path.join(out, "ratios.png"), rows, run["limits"], title)
    return rows


# ---- GPU mode (--platform cuda) ------------------------------------------------------------------


def gpu_info(limits_extra):
    """The GPU as jx's runtime sees it (bench_cuda_limits's extras), plus nvidia-smi's view."""
    g = {k: limits_extra[k] for k in ("gpu", "compute_capability", "sm_count", "memory_gib", "device_count",
                                      "cuda_driver_api", "nvrtc", "sgemm_unavailable") if k in limits_extra}
    smi = shutil.which("nvidia-smi")
    if smi:
        out = sh([smi, "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                  "--format=csv,noheader"])
        if out:
            first = [x.strip() for x in out.splitlines()[0].split(",")]
            keys = ("smi_name", "driver", "smi_memory", "max_sm_clock", "power_limit")
            g.update({k: v for k, v in zip(keys, first)})
            g["smi_gpus"] = len(out.splitlines())
    return g


def evaluate_gpu(results, limits):
    """GPU rows: as evaluate(), against GPU_FIGURES; W2 is compared with the device-to-device copy
    bandwidth; a row whose JAX side did not run keeps jx's figure (state "jx only")."""
    rows = []
    figs = limits.get("figures", {}) if limits.get("status") == "ok" else {}
    d2d = figs.get("d2d_gbs")
    for w, fig, unit, op, target in GPU_FIGURES:
        res = results.get(w)
        row = {"workload": w, "figure": fig, "unit": unit, "op": op, "target": target}
        if res is None:
            row["state"] = "not run"
            row["reason"] = "not selected (--only)"
            rows.append(row)
            continue
        jx, jax = res["jx"], res["jax"]
        row["jx"] = jx["figures"].get(fig) if jx["status"] == "ok" else None
        row["jax"] = jax["figures"].get(fig) if jax["status"] == "ok" else None
        if row["jx"] is None:
            row["state"] = jx["status"] if jx["status"] != "ok" else "error"
            row["reason"] = "jx: " + (jx.get("reason", "") if jx["status"] != "ok" else f"no figure {fig}")
            rows.append(row)
            continue
        row["met"] = None
        if op == "frac>=":
            # each program's own GB/s samples: 2 reads + 1 write of its array size, as the copy's
            # GB/s count its read and its write
            row["jx_gbs"] = jx["figures"].get("gbs", 0.0)
            if d2d:
                row["jx_frac"] = row["jx_gbs"] / d2d
                row["met"] = row["jx_frac"] >= target
            if row["jax"] is not None:
                row["jax_gbs"] = jax["figures"].get("gbs", 0.0)
                if d2d:
                    row["jax_frac"] = row["jax_gbs"] / d2d
        if row["jax"] is None:
            row["state"] = "jx only"
            row["ratio"] = None
            row["reason"] = "JAX: " + (jax.get("reason", "") if jax["status"] != "ok" else f"no figure {fig}")
        else:
            row["state"] = "ok"
            row["ratio"] = row["jx"] / row["jax"] if row["jax"] else None
            if op == "<=":
                row["met"] = row["ratio"] is not None and row["ratio"] <= target
        rows.append(row)
    return rows


def gpu_floor_text(w, limits):
    f = limits.get("figures", {}) if limits.get("status") == "ok" else {}
    if w == "W2" and f.get("d2d_gbs"):
        return fmt(W2_BYTES / (f["d2d_gbs"] * 1e9) * 1e3, "ms")
    if w in GFLOP and f.get("sgemm_gflops"):
        return fmt(GFLOP[w] / f["sgemm_gflops"] * 1e3, "ms")
    return "—"


def write_gpu_report(path, run):
    info, gpu, jaxi = run["machine"], run["gpu"], run["jax"]
    limits, results, rows, st, loads = run["limits"], run["results"], run["rows"], run["settings"], run["loads"]
    L = []
    L.append("# jx vs JAX on the GPU: benchmark results")
    L.append("")
    L.append(f"Written by `bench/run.py --platform cuda` on {run['finished']} ({run['minutes']:.1f} min). "
             "Workloads: `../shared/bench/WORKLOADS.md`; programs: `bench/w*.cpp` (jx, with `JX_PLATFORM=cuda`) and "
             "`bench/jax/workloads.py` (JAX); GPU limits: `bench/cuda_limits.cpp`; driver: `bench/run.py`. "
             "The CPU results are in `bench/results/latest.md`.")
    if st["smoke"]:
        L.append("")
        L.append("**Smoke run (tiny sizes): these figures mean nothing.**")
    if jaxi.get("status") != "ok":
        L.append("")
        L.append(f"**JAX did not run on the GPU**: {jaxi.get('reason', '')}. Only jx's figures were measured; the "
                 "ratios to JAX are missing, W2's fraction of the copy bandwidth is not.")
    L.append("")
    L.append("## Machine")
    L.append("")
    name = gpu.get("gpu", gpu.get("smi_name", "unknown GPU"))
    L.append(f"- GPU: **{name}**" + (f", compute capability {gpu['compute_capability']}" if "compute_capability" in gpu else "")
             + (f", {gpu['sm_count']:.0f} SMs" if "sm_count" in gpu else "")
             + (f", {gpu['memory_gib']:.0f} GiB" if "memory_gib" in gpu else "")
             + (f" ({gpu['device_count']:.0f} devices; device 0 is used)" if gpu.get("device_count", 1) > 1 else ""))
    drv = []
    if "driver" in gpu:
        drv.append(f"NVIDIA driver {gpu['driver']}")
    if "cuda_driver_api" in gpu:
        drv.append(f"CUDA {gpu['cuda_driver_api']} (the driver's API version)")
    if "nvrtc" in gpu:
        drv.append(f"NVRTC {gpu['nvrtc']} (jx's kernel compiler)")
    if "max_sm_clock" in gpu:
        drv.append(f"max SM clock {gpu['max_sm_clock']}, power limit {gpu.get('power_limit', '?')}")
    L.append("- " + ("; ".join(drv) if drv else "driver versions unknown (no nvidia-smi)"))
    L.append(f"- Host: {info['cpu']}, {info['cores']} cores; load average (1 min) before / after the run: "
             f"{loads[0]:.2f} / {loads[1]:.2f}")
    L.append(f"- jx commit {info['jx_commit']} ({info['jx_commit_date']}), {info['compiler']}, LLVM {info['llvm']}")
    if jaxi.get("status") == "ok":
        pk = ", ".join(f"{k} {v}" for k, v in jaxi.get("packages", {}).items())
        L.append(f"- JAX {jaxi['jax']} / jaxlib {jaxi['jaxlib']} on {', '.join(jaxi.get('devices', []))} "
                 f"(`JAX_PLATFORMS={jaxi.get('jax_platforms')}`; platform: {str(jaxi.get('platform_version', '?')).replace(chr(10), ' ')})"
                 + (f"; packages: {pk}" if pk else ""))
    else:
        L.append(f"- JAX {jaxi.get('jax', '?')}: no GPU backend ({jaxi.get('reason', '')})")
    prec = st.get("jax_matmul_precision", "default")
    L.append(f"- Precision: float32 everywhere. jx's matmuls are cuBLAS sgemm in full float32 (no TF32). JAX's float32 "
             "matmuls and convolutions may use TF32 on recent GPUs by default; here "
             + (f"`JAX_DEFAULT_MATMUL_PRECISION={prec}`" if prec != "default" else "JAX's default precision was kept")
             + f" (JAX reported `{jaxi.get('default_matmul_precision', '?')}` in its own process, which had the same "
             "environment).")
    L.append(f"- Method: as on the CPU (`bench/results/latest.md`): each workload runs in up to "
             f"{plural(st['rounds'], 'round')} of one jx process and one JAX process, alternating which goes first, "
             f"W5 in {plural(st['compile_rounds'], 'round')} of fresh processes (jx without `JX_CACHE_DIR`); each "
             "process creates its inputs on the GPU outside the timed region, warms up, then times its samples, every "
             "call ending with a `block_until_ready` of everything it returns (so each call includes one wait for the "
             "device); the figure is the median of all samples. jx's result lines record the device of their "
             "outputs and JAX's its backend; a process that did not run on the GPU counts as an error.")
    L.append("")
    L.append("## GPU limits (measured in this run)")
    L.append("")
    if limits.get("status") == "ok":
        f = limits["figures"]
        if "d2d_gbs" in f:
            L.append(f"- Device-to-device copy of 1 GiB (`cuMemcpyDtoDAsync` through jx's runtime, then a "
                     f"synchronize; GB/s counting the bytes read plus the bytes written): **{f['d2d_gbs']:.0f} GB/s** "
                     f"(W2 floor {W2_BYTES / (f['d2d_gbs'] * 1e9) * 1e3:.3f} ms for its {W2_BYTES / 1e6:.0f} MB)")
        if "d2d_w2_gbs" in f:
            L.append(f"- The same at W2's size (96 MiB copied, as many bytes moved as one W2 call), one synchronize "
                     f"per copy: {f['d2d_w2_gbs']:.0f} GB/s (for orientation: the per-call wait W2 also pays)")
        if "sgemm_gflops" in f:
            L.append(f"- cuBLAS sgemm 4096³ (float32, no TF32): **{f['sgemm_gflops']:.0f} GFLOP/s** (W3 floor "
                     f"{GFLOP['W3'] / f['sgemm_gflops'] * 1e3:.3f} ms for {GFLOP['W3']} GFLOP, W7 floor "
                     f"{GFLOP['W7'] / f['sgemm_gflops'] * 1e3:.3f} ms for {GFLOP['W7']} GFLOP)")
        elif "sgemm_unavailable" in gpu:
            L.append(f"- cuBLAS sgemm: not measured ({gpu['sgemm_unavailable']})")
    else:
        L.append(f"- not measured: {limits.get('reason')}")
    L.append("")
    L.append("## Results")
    L.append("")
    L.append("Ratio = jx / JAX (time: lower is better). Targets on the GPU: W1 ≤ 1.0 (dispatch no slower than "
             "JAX's), W2 ≥ 0.85 of the device-to-device copy bandwidth (W2's GB/s count its 2 reads + 1 write, the "
             "copy's its read + write), W3 and W7 ≤ 1.0; the other workloads have no GPU target. Floor: the "
             "workload's bytes or FLOPs at the measured copy bandwidth or sgemm rate.")
    L.append("")
    L.append("| id | figure | jx | JAX | jx / JAX | target | met | floor | samples jx / JAX | load |")
    L.append("|----|--------|----|-----|----------|--------|-----|-------|------------------|------|")
    for row in rows:
        w, fig, unit = row["workload"], row["figure"], row["unit"]
        if row["op"] is None:
            target = "—"
        elif row["op"] == "frac>=":
            target = f"≥ {row['target']} of copy"
        else:
            target = f"≤ {row['target']}"
        name = LABELS.get(fig, fig.replace("_", " "))
        if row["state"] not in ("ok", "jx only"):
            state = f"**{row['state']}**"
            L.append(f"| {w} | {name} | {state} | {fmt(row['jax'], unit) if row.get('jax') is not None else '—'} | — | "
                     f"{target} | {state} | {gpu_floor_text(w, limits)} | {samples_text(results, w, fig)} | "
                     f"{load_text(results, w)} |")
            continue
        met = {True: "yes", False: "no", None: "—"}[row["met"]]
        jxs, jaxs = fmt(row["jx"], unit), fmt(row.get("jax"), unit)
        if row["op"] == "frac>=":
            jxs += f", {row['jx_gbs']:.0f} GB/s" + (f" ({row['jx_frac']:.2f} of copy)" if "jx_frac" in row else "")
            if row.get("jax") is not None:
                jaxs += f", {row['jax_gbs']:.0f} GB/s" + (f" ({row['jax_frac']:.2f} of copy)" if "jax_frac" in row else "")
        if row.get("jax") is None:
            jaxs = "not run"
        ratio = f"{row['ratio']:.3g}" if row.get("ratio") else "—"
        L.append(f"| {w} | {name} | {jxs} | {jaxs} | {ratio} | {target} | {met} | {gpu_floor_text(w, limits)} | "
                 f"{samples_text(results, w, fig)} | {load_text(results, w)} |")
    w3 = results.get("W3")
    if w3:
        fj = w3["jx"]["extra_median"].get("first_call_ms") if w3["jx"]["status"] == "ok" else None
        fa = w3["jax"]["extra_median"].get("first_call_ms") if w3["jax"]["status"] == "ok" else None
        ratio = f"{fj / fa:.3g}" if fj and fa else "—"
        L.append(f"| W3 | first call (trace + compile + run) | {fmt(fj, 'ms')} | {fmt(fa, 'ms')} | {ratio} | — | — | — | "
                 f"{w3['jx']['rounds']} / {w3['jax']['rounds']} processes | {load_text(results, 'W3')} |")
    L.append("")
    notes = [r for r in rows if r["state"] != "ok"]
    if notes:
        L.append("Not measured:")
        L.append("")
        seen = set()
        for r in notes:
            key = (r["workload"], r.get("reason"))
            if key in seen:
                continue
            seen.add(key)
            L.append(f"- {r['workload']} ({r['state']}): {r.get('reason', '')[:400]}")
        L.append("")
    if run.get("chart"):
        L.append("![jx / JAX ratios on the GPU](ratios.png)")
        L.append("")
    L.append("## Answers (the same computation in both systems?)")
    L.append("")
    L.append("Check values from the last run of each program (as in the CPU report: W1, W2, W6 and W8 agree to "
             "float32 rounding, W8 only in its first digits; W3, W4 and W7 start from each system's own random "
             "parameters).")
    append_answers_and_workloads(L, results)
    with open(path, "w") as f:
        f.write("\n".join(L))


def render_gpu(run, out):
    rows = evaluate_gpu(run["results"], run["limits"])
    run["rows"] = rows
    info, gpu = run["machine"], run["gpu"]
    title = (f"jx {info['jx_commit']} vs JAX {run['jax'].get('jax', '?')} on {gpu.get('gpu', 'a GPU')}, "
             f"{run['finished']}")
    if run["settings"]["smoke"]:
        title += " (SMOKE RUN: meaningless figures)"
    try:
        write_chart(os.path.join(out, "ratios.png"), rows, run["limits"], title, ceiling="copy bandwidth")
        run["chart"] = True
    except ImportError as e:  # no matplotlib in the Python that runs this (the GPU machine may lack it)
        log(f"no chart: {e}")
        run["chart"] = False
    write_gpu_report(os.path.join(out, "latest.md"), run)
    return rows


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build"))
    ap.add_argument("--platform", choices=("cpu", "cuda"), default="cpu",
                    help="cpu (default), or cuda: both systems on the GPU (jx: JX_PLATFORM=cuda; JAX: "
                         "JAX_PLATFORMS=cuda), results in bench/results/gpu")
    ap.add_argument("--out", default=None, help="where to write the report (default bench/results, or "
                                                "bench/results/gpu with --platform cuda)")
    ap.add_argument("--jax-python", default="", help="the Python that runs the JAX processes (default: this one)")
    ap.add_argument("--jax-matmul-precision", default="highest",
                    help="--platform cuda: JAX_DEFAULT_MATMUL_PRECISION of the JAX processes (default highest: "
                         "full float32, as jx's cuBLAS calls; 'default' keeps JAX's own, TF32 on recent GPUs)")
    ap.add_argument("--rounds", type=int, default=3, help="jx/JAX process pairs per workload (default 3)")
    ap.add_argument("--compile-rounds", type=int, default=10, help="fresh-process pairs for W5 (default 10)")
    ap.add_argument("--limit-rounds", type=int, default=2, help="runs of bench_limits (default 2)")
    ap.add_argument("--only", default="", help="comma-separated workloads, e.g. W1,W3")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per process (default 300)")
    ap.add_argument("--budget", type=float, default=40.0,
                    help="seconds per system and workload after which no further rounds start once it has "
                         "10 samples (default 40)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes everywhere (tests the driver only)")
    ap.add_argument("--render", metavar="JSON", help="only rewrite latest.md and ratios.png in --out from a saved "
                                                     "latest.json")
    args = ap.parse_args(argv)
    if args.render:
        with open(args.render) as f:
            run = json.load(f)
        if args.out is None:
            gpu = run["settings"].get("platform") == "cuda"
            args.out = os.path.join(ROOT, "bench", "results", *(["gpu"] if gpu else []))
        os.makedirs(args.out, exist_ok=True)
        render(run, args.out)
        return 0
    if args.out is None:
        args.out = os.path.join(ROOT, "bench", "results", *(["gpu"] if args.platform == "cuda" else []))
    args.rounds = max(1, args.rounds)
    args.compile_rounds = max(1, args.compile_rounds)
    args.limit_rounds = max(1, args.limit_rounds)

    started = time.time()
    load0 = os.getloadavg()[0]
    runner = Runner(args)
    jaxi = None
    if args.platform == "cuda":
        # first of all: can jx use a GPU here? (stops at once where there is none)
        why = runner.cuda_preflight()
        if why:
            print(f"jx bench --platform cuda: {why}", file=sys.stderr, flush=True)
            return 2
        jaxi = runner.jax_probe()
        if runner.jax_unavailable:
            log(f"{runner.jax_unavailable}")
            log("  the JAX columns are not measured: jx runs alone (--jax-python names another Python)")
        else:
            log(f"JAX {jaxi['jax']} on {', '.join(jaxi.get('devices', []))} (JAX_PLATFORMS={jaxi['jax_platforms']}, "
                f"default matmul precision {jaxi.get('default_matmul_precision')})")
    info = machine_info(runner.build)
    log(f"{info['cpu']}, {info['cores']} cores; jx {info['jx_commit']}; JAX {info['jax']}; LLVM {info['llvm']}")
    limits = runner.limits()
    if limits["status"] == "ok" and args.platform == "cuda":
        f = limits["figures"]
        log(f"  device-to-device copy {f['d2d_gbs']:.0f} GB/s (read + write), at W2's size {f['d2d_w2_gbs']:.0f} GB/s"
            + (f", cuBLAS sgemm {f['sgemm_gflops']:.0f} GFLOP/s" if "sgemm_gflops" in f else
               f", sgemm not measured: {limits['extra'].get('sgemm_unavailable', '?')}"))
    elif limits["status"] == "ok":
        log(f"  triad {limits['figures']['triad_gbs']:.1f} GB/s, sgemm {limits['figures']['sgemm_gflops']:.0f} GFLOP/s")
    else:
        log(f"  limits: {limits['reason']}")
    only = {w.strip().upper() for w in args.only.split(",") if w.strip()}
    results = {}
    for w, prog, desc in WORKLOADS:
        if only and w not in only:
            continue
        log(f"{w}: {desc}")
        load = os.getloadavg()[0]
        results[w] = runner.workload(w, prog)
        results[w]["load"] = load
    load1 = os.getloadavg()[0]
    run = {
        "machine": info,
        "limits": limits,
        "results": results,
        "settings": {"rounds": args.rounds, "compile_rounds": args.compile_rounds, "budget": args.budget,
                     "threads": runner.threads, "smoke": args.smoke},
        **({} if args.platform != "cuda" else {"gpu": gpu_info(limits.get("extra") or runner.cuda_extra), "jax": jaxi}),
        "loads": [load0, load1],
        "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "minutes": (time.time() - started) / 60,
    }
    if args.platform == "cuda":
        run["settings"].update(platform="cuda", jax_matmul_precision=args.jax_matmul_precision,
                               jax_platforms=runner.env_jax.get("JAX_PLATFORMS"))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(run, f, indent=1)
    rows = render(run, args.out)
    log(f"wrote {args.out}/latest.md, latest.json and ratios.png ({run['minutes']:.1f} min)")
    if args.platform == "cuda":
        print_gpu_summary(rows, runner)
        return 0
    for r in rows:
        if r["state"] == "ok":
            extra = f", jx {r['jx_frac']:.2f} of triad" if "jx_frac" in r else ""
            print(f"{r['workload']} {r['figure']}: jx {fmt(r['jx'], r['unit'])}  JAX {fmt(r['jax'], r['unit'])}  "
                  f"ratio {r['ratio']:.3g}{extra}  target {r['op'].replace('frac', '')} {r['target']}: "
                  f"{'met' if r['met'] else 'not met'}")
        else:
            print(f"{r['workload']} {r['figure']}: {r['state']} {r.get('reason', '')[:160]}")
    return 0


def print_gpu_summary(rows, runner):
    for r in rows:
        if r["state"] not in ("ok", "jx only"):
            print(f"{r['workload']} {r['figure']}: {r['state']} {r.get('reason', '')[:160]}")
            continue
        parts = [f"jx {fmt(r['jx'], r['unit'])}", f"JAX {fmt(r['jax'], r['unit']) if r.get('jax') is not None else 'not run'}"]
        if r.get("ratio"):
            parts.append(f"ratio {r['ratio']:.3g}")
        if "jx_frac" in r:
            parts.append(f"jx {r['jx_frac']:.2f} of the copy bandwidth")
        if r["op"] is not None:
            verdict = {True: "met", False: "not met", None: "unknown"}[r["met"]]
            parts.append(f"target {r['op'].replace('frac', '')} {r['target']}: {verdict}")
        print(f"{r['workload']} {r['figure']}: " + "  ".join(parts))
    if runner.jax_unavailable:
        print(f"note: {runner.jax_unavailable}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
