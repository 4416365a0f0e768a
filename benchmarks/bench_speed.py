"""Training throughput of every trainer against a minimal fused raw-TensorFlow reference.

Usage: .venv/bin/python benchmarks/bench_speed.py [--models aae vae] [--rounds 5] [--steps 20]
                                                   [--variants plain,spe10,...] [--quick]

For each model it builds the trainer (aae_helpers.trainers, article architecture, batch 100,
Adam 1e-3 / beta_1 0.9, 4000 synthetic digits) in every requested variant and the reference of
benchmarks/reference.py, then times them alternately, round by round, so that load from other
jobs on the machine hits all of them alike. Each timing runs `--steps` training steps and leaves
out the first compiled call (iterator start, callbacks): images/s = timed steps * batch size /
wall seconds, median over rounds. "CPU ms/step" is the process CPU time per step (all threads),
median over rounds: less sensitive to other jobs, so the table also gives the ratio by CPU time.
The machine's float32 matmul peak is measured in the same run, after every round: chains of
(100x1000 @ 1000x1000) and (1000x1000 @ 1000x1000) matmuls in a tf.function; the peak used is
the larger of the two medians over rounds.

Variants (joined with "+", e.g. "keras+spe1"; "ref" prefixes a variant of the reference):
  plain     the trainer as the notebooks compile it: compile()'s defaults, no XLA for the step,
            Adam as one XLA kernel per phase (adam="xla"), steps_per_execution="auto" (here 10
            steps per compiled call)
  spe<N>    compile(steps_per_execution=N): N steps per compiled call (identical numbers)
  keras     compile(adam="keras"): Keras' own Adam, op by op (identical numbers);
            "keras+spe1" is the trainers' default before adam="xla" and "auto" steps
  fused     compile(adam="fused"): TensorFlow's fused Adam kernel (last bits differ)
  xla       compile(jit_compile=True): the whole step through XLA (last bits differ)
  bf16      keras.mixed_precision policy "mixed_bfloat16" while building (losses in float32)
  shared    (reference only) adversarial models: encode each batch once for the discriminator
            and generator phases (identical numbers); the trainers encode in both phases, as the
            algorithm reads
  unshared  adversarial models: encode in both phases (the trainers always do)
  ref       the reference; it encodes in both phases as the trainers do, so "ref" does the plain
            trainer's arithmetic; it runs one step per call unless given spe<N>.
            ref+opsadam: Keras' Adam op by op instead of the fused kernel; ref+xla, ref+spe10,
            ref+shared, ref+unshared: as above.
Variants that come out the same for a model (e.g. "shared" for the AAE) are measured once.

FLOPs per training step are counted from the layer shapes (reference.MLP.flops): a matmul of a
(m x k) batch by a (k x n) weight is 2*m*k*n FLOPs forward; the backward pass adds 2*m*k*n for the
weight gradient of every trained layer and 2*m*k*n for the input gradient of every layer whose
input needs a gradient (not the images; yes for a decoder fed by a trained encoder or for the
discriminator in the generator phase). So a trained layer costs ~3x its forward pass, the first
layer of a trained stack 2x, a forward-only pass 1x. Biases, activations, losses and Adam are not
counted. The count is the arithmetic the phases need, the same for trainer and reference (bf16
variants count the same FLOPs, done in bfloat16; "shared" variants count the encoder pass saved).

Writes the tables as JSON to benchmarks/results/speed.json (or --json PATH).
"""

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from reference import REFERENCES  # noqa: E402

from aae_helpers.data import MnistData, labelled_subset  # noqa: E402
from aae_helpers.trainers import TRAINERS  # noqa: E402
from aae_helpers.trainers.base import AUTO_STEPS_PER_EXECUTION  # noqa: E402

BATCH = 100
STEPS_PER_CALL_AUTO = AUTO_STEPS_PER_EXECUTION  # what "auto" picks for --steps a multiple of it
ADVERSARIAL = ("aae", "supervised-aae", "semi-supervised-aae")
DEFAULT_VARIANTS = "plain,keras+spe1,spe1,unshared,fused,bf16,ref+spe10,ref+opsadam"


def synthetic_digits(count, seed=0):
    rng = np.random.default_rng(seed)
    return MnistData(rng.random((count, 784), dtype=np.float32), rng.integers(0, 10, count),
                     rng.random((200, 784), dtype=np.float32), rng.integers(0, 10, 200), "synthetic")


def parse_variant(text):
    """'spe10+fused' -> {'reference': False, 'steps': 10, 'adam': 'fused', ...}; steps None is
    the trainer's default ("auto") and one step per call for the reference."""
    options = {"reference": False, "steps": None, "xla": False, "bf16": False, "adam": "xla",
               "opsadam": False, "shared": None}
    for part in text.split("+"):
        if part == "ref":
            options["reference"] = True
        elif part == "plain":
            pass
        elif part.startswith("spe") and part[3:].isdigit() and int(part[3:]) > 0:
            options["steps"] = int(part[3:])
        elif part in ("xla", "bf16", "opsadam"):
            options[part] = True
        elif part in ("keras", "fused"):
            options["adam"] = part
        elif part in ("shared", "unshared"):
            options["shared"] = part == "shared"
        else:
            raise SystemExit(f"unknown variant part {part!r} in {text!r}; see --help")
    if options["reference"] and (options["bf16"] or options["adam"] != "xla"):
        raise SystemExit(f"{text}: the reference has no bf16 variant and uses the fused Adam already "
                         "(ref+opsadam: Keras' Adam op by op)")
    if options["opsadam"] and not options["reference"]:
        raise SystemExit(f"{text}: opsadam is a variant of the reference (the trainers do it already)")
    return options


def resolve(name, options):
    """The options with `shared` made explicit for this model: only the reference can share codes."""
    if options["shared"] and not options["reference"]:
        raise SystemExit("'shared' is a variant of the reference (ref+shared): the trainers encode in "
                         "both adversarial phases, as the algorithm reads")
    return dict(options, shared=bool(options["shared"]) and name in ADVERSARIAL)


def same_numbers(name, options):
    """Does this variant train to the same numbers as the plain trainer (checked bit for bit)?"""
    if options["adam"] == "fused" or options["xla"]:
        return "last bits differ"
    if options["bf16"]:
        return "no (bfloat16)"
    return "identical"


# ---- runners: build once, then time `steps` steps per call ------------------------------------
class StepClock(keras.callbacks.Callback):
    """(wall, process CPU) seconds at the end of every compiled call."""

    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_end(self, batch, logs=None):
        self.times.append((time.perf_counter(), time.process_time()))


class TrainerRunner:
    def __init__(self, name, options, data):
        self.options, self.shared = options, options["shared"]
        policy = keras.mixed_precision.global_policy()
        if options["bf16"]:
            keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            self.trainer = TRAINERS[name](seed=0)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        self.trainer.compile(learning_rate=1e-3, beta_1=0.9, jit_compile=options["xla"],
                             steps_per_execution=options["steps"] or "auto", adam=options["adam"])
        self.dataset = self.trainer.make_dataset(data, BATCH)
        self.trainer.fit(self.dataset, steps_per_epoch=options["steps"] or STEPS_PER_CALL_AUTO, epochs=1,
                         verbose=0)  # trace

    def time(self, steps):
        """(wall, CPU) seconds per step over `steps` steps, leaving out the first compiled call."""
        clock = StepClock()
        self.trainer.fit(self.dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[clock])
        done = (len(clock.times) - 1) * self.trainer.steps_per_execution
        return tuple((clock.times[-1][i] - clock.times[0][i]) / done for i in (0, 1))


class ReferenceRunner:
    def __init__(self, name, options, data):
        self.options, self.shared = options, options["shared"]
        images, labels = data.x_train, data.y_train
        extra = {}
        if name == "baseline-classifier":
            images, labels = labelled_subset(data, 100, seed=0)
        if name == "semi-supervised-aae":
            labelled, labelled_labels = labelled_subset(data, 100, seed=0)
            extra = dict(labelled_images=labelled, labelled_labels=labelled_labels)
        self.reference = REFERENCES[name](images, labels, batch_size=BATCH, jit_compile=options["xla"],
                                          steps_per_call=options["steps"] or 1, shared=self.shared,
                                          fused_adam=not options["opsadam"], **extra)
        self.reference.run(options["steps"] or 1)  # trace

    def time(self, steps):
        per_call = self.options["steps"] or 1
        self.reference.run(per_call)
        wall, cpu = time.perf_counter(), time.process_time()
        self.reference.run(steps - per_call)
        return ((time.perf_counter() - wall) / (steps - per_call),
                (time.process_time() - cpu) / (steps - per_call))


_FLOPS = {}


def flops_per_step(name, shared):
    """Analytic FLOPs of one step, from a reference of the same shapes (see the docstring)."""
    if (name, shared) not in _FLOPS:
        images, labels = np.zeros((BATCH, 784), np.float32), np.zeros(BATCH, np.int32)
        extra = dict(labelled_images=images, labelled_labels=labels) if name == "semi-supervised-aae" else {}
        _FLOPS[name, shared] = REFERENCES[name](images, labels, batch_size=BATCH, shared=shared,
                                                **extra).flops_per_step()
    return _FLOPS[name, shared]


# ---- the matmul peak ---------------------------------------------------------------------------
def make_peak_probe(repeats=10):
    shapes = {"100x1000@1000x1000": (100, 1000, 1000), "1000x1000@1000x1000": (1000, 1000, 1000)}
    probes = {}
    for label, (m, k, n) in shapes.items():
        a = tf.Variable(tf.random.uniform((m, k)))
        b = tf.Variable(tf.random.uniform((k, n)))
        count = repeats * (10 if m == 100 else 1)

        @tf.function
        def chain(a=a, b=b, count=count):
            total = tf.zeros((a.shape[0], b.shape[1]))
            for _ in tf.range(count):
                total += tf.matmul(a, b)  # independent products: no fusion across iterations
            return total

        chain()
        probes[label] = (chain, 2 * m * k * n * count)
    return probes


def measure_peak(probes):
    """{shape: GFLOP/s} of one timing of each probe."""
    out = {}
    for label, (function, flops) in probes.items():
        started = time.perf_counter()
        function().numpy()
        out[label] = flops / (time.perf_counter() - started) / 1e9
    return out


# ---- the benchmark -----------------------------------------------------------------------------
def benchmark_model(name, variants, data, rounds, steps, probes, peaks, skipped):
    runners, seen = {}, {}
    for variant in variants:
        options = resolve(name, parse_variant(variant))
        if name not in ADVERSARIAL:
            variant = "+".join(p for p in variant.split("+") if p not in ("shared", "unshared")) or "plain"
        key = tuple(sorted(options.items()))
        if key in seen:  # e.g. "shared" is the plain AAE already
            continue
        seen[key] = variant
        runner_class = ReferenceRunner if options["reference"] else TrainerRunner
        try:
            runners[variant] = runner_class(name, options, data)
        except Exception as error:  # noqa: BLE001 - report the variant as not available, go on
            if variant in ("plain", "ref"):
                raise
            lines = [line.strip(" \x1b[0m") for line in str(error).splitlines() if line.strip()]
            detail = next((line for line in lines if "does not match" in line), lines[0] if lines else "")
            skipped[variant] = f"{type(error).__name__}: {detail}"[:300]
            print(f"# {name} {variant}: skipped ({skipped[variant]})", file=sys.stderr, flush=True)
    timings = {variant: [] for variant in runners}
    for _ in range(rounds):
        for variant, runner in runners.items():
            timings[variant].append(runner.time(steps))
        for label, value in measure_peak(probes).items():
            peaks.setdefault(label, []).append(value)
    rows = {}
    for variant, runner in runners.items():
        wall = statistics.median(t[0] for t in timings[variant])
        cpu = statistics.median(t[1] for t in timings[variant])
        flops = flops_per_step(name, runner.shared)
        rows[variant] = {"images_per_s": BATCH / wall, "ms_per_step": 1e3 * wall,
                         "cpu_ms_per_step": 1e3 * cpu, "gflop_per_step": flops / 1e9,
                         "gflop_per_s": flops / wall / 1e9, "shared_codes": runner.shared,
                         "same_numbers_as_plain": "-" if runner.options["reference"]
                         else same_numbers(name, runner.options),
                         "rounds_ms": [round(1e3 * t[0], 2) for t in timings[variant]]}
    del runners
    gc.collect()
    keras.backend.clear_session()
    return rows


def bf16_flags():
    """The CPU's native bfloat16 instruction sets (Linux), e.g. ['amx_bf16', 'avx512_bf16']."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"avx512_bf16", "amx_bf16", "avx_vnni_bf16"})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n", 2)[2])
    parser.add_argument("--models", nargs="+", default=list(TRAINERS), choices=list(TRAINERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20, help="training steps per timing")
    parser.add_argument("--variants", default=DEFAULT_VARIANTS,
                        help=f"comma-separated (default {DEFAULT_VARIANTS}); plain and ref always run")
    parser.add_argument("--quick", action="store_true", help="a tiny run (a smoke test, not a measurement)")
    parser.add_argument("--json", default=str(HERE / "results" / "speed.json"))
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if args.quick:
        args.rounds, args.steps = 1, 2 * STEPS_PER_CALL_AUTO
        variants = ["plain", "ref"]
    variants = ["plain", "ref"] + [v for v in variants if v not in ("plain", "ref")]
    for variant in variants:
        parse_variant(variant)
    steps_needed = math.lcm(*(parse_variant(v)["steps"] or STEPS_PER_CALL_AUTO for v in variants))
    if args.steps % steps_needed or args.steps < 2 * steps_needed:
        raise SystemExit(f"--steps must be a multiple of {steps_needed}, at least twice it")

    data = synthetic_digits(4000)
    probes = make_peak_probe(1 if args.quick else 10)
    peaks, results, skipped = {}, {}, {}
    for name in args.models:
        started = time.perf_counter()
        skipped[name] = {}
        results[name] = benchmark_model(name, variants, data, args.rounds, args.steps, probes, peaks,
                                        skipped[name])
        print(f"# {name}: measured in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    peak_by_shape = {label: statistics.median(values) for label, values in peaks.items()}
    peak = max(peak_by_shape.values())

    lines = ["Matmul peak (float32, median over rounds): "
             + ", ".join(f"{label} {value:.0f} GFLOP/s" for label, value in peak_by_shape.items())
             + f"; peak used below: {peak:.0f} GFLOP/s.", "",
             "| model | trainer img/s | reference img/s | ratio trainer/ref | ratio by CPU time "
             "| trainer GFLOP/s | ref GFLOP/s | trainer % peak | ref % peak |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        t, r = rows["plain"], rows["ref"]
        lines.append(f"| {name} | {t['images_per_s']:.0f} | {r['images_per_s']:.0f} "
                     f"| {t['images_per_s'] / r['images_per_s']:.2f} "
                     f"| {r['cpu_ms_per_step'] / t['cpu_ms_per_step']:.2f} | {t['gflop_per_s']:.1f} "
                     f"| {r['gflop_per_s']:.1f} | {100 * t['gflop_per_s'] / peak:.0f}% "
                     f"| {100 * r['gflop_per_s'] / peak:.0f}% |")
    lines += ["", "| model | variant | ms/step | CPU ms/step | img/s | GFLOP/step | GFLOP/s | % peak "
              "| x plain trainer | x reference | numbers vs plain |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, rows in results.items():
        for variant, row in rows.items():
            lines.append(f"| {name} | {variant} | {row['ms_per_step']:.1f} | {row['cpu_ms_per_step']:.1f} "
                         f"| {row['images_per_s']:.0f} | {row['gflop_per_step']:.2f} "
                         f"| {row['gflop_per_s']:.1f} | {100 * row['gflop_per_s'] / peak:.0f}% "
                         f"| {row['images_per_s'] / rows['plain']['images_per_s']:.2f} "
                         f"| {row['images_per_s'] / rows['ref']['images_per_s']:.2f} "
                         f"| {row['same_numbers_as_plain']} |")
    for name, variants_skipped in skipped.items():
        for variant, why in variants_skipped.items():
            lines.append(f"\n{name} {variant}: not measured ({why})")
    lines.append(f"\nCPU bfloat16 instructions: {bf16_flags() or 'none (no avx512_bf16 / amx_bf16)'}")
    table = "\n".join(lines)
    print(table, flush=True)

    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"settings": {"rounds": args.rounds, "steps": args.steps, "batch_size": BATCH,
                           "variants": variants, "quick": args.quick},
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "tensorflow": tf.__version__, "keras": keras.__version__,
                          "cpu_bf16_flags": bf16_flags(), "load_average_at_end": os.getloadavg()},
              "matmul_peak_gflop_per_s": peak_by_shape, "peak_used_gflop_per_s": peak,
              "matmul_peak_rounds_gflop_per_s": {k: [round(v, 1) for v in vs] for k, vs in peaks.items()},
              "skipped": skipped,
              "results": {name: {variant: dict(row, ratio_to_reference=row["images_per_s"]
                                               / rows["ref"]["images_per_s"],
                                               fraction_of_peak=row["gflop_per_s"] / peak)
                                 for variant, row in rows.items()} for name, rows in results.items()},
              "table_markdown": table}
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
