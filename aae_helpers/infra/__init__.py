"""How runs are trained, saved and reported, around the tutorial's models: training with
checkpoints and divergence checks (training), what lands on disk and how it survives kills and
full disks (checkpoints), the `aae` command line (cli), its report and figures (report, figures),
fast mode and environment switches (runtime), TensorBoard logs (tensorboard)."""
