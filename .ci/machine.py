"""Print where a test run runs: CPU model, cores, Python, TensorFlow, Keras and oneDNN.

A red CI run then says which machine it was red on (kernels differ between CPUs).
"""

import os
import platform
import sys


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (x86-64: "model name"; ARM: the CPU part)."""
    try:
        with open("/proc/cpuinfo") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return platform.processor() or platform.machine()
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    for key in ("model name", "Model", "Hardware"):
        if fields.get(key):
            return fields[key]
    if "CPU implementer" in fields:
        return f"ARM implementer {fields['CPU implementer']} part {fields.get('CPU part', '?')}"
    return platform.processor() or platform.machine()


def main() -> None:
    import aae_helpers

    aae_helpers.start_tensorflow()  # without TensorFlow's start-up noise
    import keras
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    onednn = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    print(f"CPU:        {cpu_model()} ({platform.machine()})")
    print(f"cores:      {usable} usable of {os.cpu_count()}")
    print(f"Python:     {platform.python_version()} ({sys.executable})")
    print(f"TensorFlow: {tf.__version__}, Keras {keras.__version__}")
    print(f"oneDNN:     {onednn} (TF_ENABLE_ONEDNN_OPTS={'unset' if setting is None else repr(setting)})")


if __name__ == "__main__":
    main()
