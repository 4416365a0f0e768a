"""Plumbing for the end-to-end widget test: Debian's Chromium, a private JupyterLab server, page helpers.

Used by tests/test_browser_widgets.py, which serves a copy of notebooks/. Nothing here changes a
notebook: the server runs with autosave off, and the test checks afterwards that every notebook
file is byte-for-byte unchanged.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")   # Debian's package; Playwright's own browser download is not used
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# JupyterLab user settings for the test server: no autosave (the notebooks on disk must not change),
# no news or update check (no pop-up over the notebook, no request to the internet), and every cell
# attached to the DOM (the default 'contentVisibility' windowing may leave off-screen cells unrendered).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


# ---- Chromium ----------------------------------------------------------------------------
def _run(command, timeout):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return done.returncode == 0, (done.stdout + done.stderr)[-2000:]


def ensure_chromium():
    """Path of Debian's chromium, installed with apt-get when missing; None and why when that cannot be."""
    if CHROMIUM.exists():
        return CHROMIUM, ""
    apt = shutil.which("apt-get")
    if apt is None:
        return None, f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium"
    prefix = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            return None, f"{CHROMIUM} is missing and installing it needs root (no sudo)"
        prefix = ["sudo", "-n"]
    install = prefix + [apt, "install", "-y", "chromium"]
    ok, log = _run(install, timeout=1200)
    if not ok:                          # stale package lists: update them once and try again
        _run(prefix + [apt, "update"], timeout=600)
        ok, log = _run(install, timeout=1200)
    if not ok:
        return None, f"`apt-get install -y chromium` failed:\n{log}"
    if not CHROMIUM.exists():
        return None, f"`apt-get install -y chromium` ran but left no {CHROMIUM}:\n{log}"
    return CHROMIUM, ""


def chromium_version(path):
    ok, text = _run([str(path), "--version"], timeout=60)
    lines = [line for line in text.splitlines() if line.startswith("Chromium")]
    return lines[0].strip() if ok and lines else text.strip()


# ---- JupyterLab --------------------------------------------------------------------------
def free_loopback_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid):
    """PIDs of every process below pid (Linux /proc); kernels run in their own sessions."""
    children = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:   # a zombie counts as gone
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class LabServer:
    """`python -m jupyterlab` from this venv on 127.0.0.1:PORT with a random token, in its own process group."""

    def __init__(self, root_dir, workdir, env_overrides, startup_timeout=120):
        self.root_dir, self.workdir = Path(root_dir), Path(workdir)
        self.port, self.token = free_loopback_port(), secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}"
        settings, workspaces = self.workdir / "lab-settings", self.workdir / "lab-workspaces"
        for name, values in LAB_SETTINGS.items():
            (settings / name).parent.mkdir(parents=True, exist_ok=True)
            (settings / name).write_text(json.dumps(values))
        for folder in ("config", "runtime", "data", "lab-workspaces"):
            (self.workdir / folder).mkdir(exist_ok=True)
        env = {**os.environ, **env_overrides,
               "JUPYTER_TOKEN": self.token,                       # not on the command line (ps)
               "JUPYTER_CONFIG_DIR": str(self.workdir / "config"),  # ignore ~/.jupyter
               "JUPYTER_RUNTIME_DIR": str(self.workdir / "runtime"),
               "JUPYTER_DATA_DIR": str(self.workdir / "data"),      # only the venv's kernels and extensions
               "PYTHONUNBUFFERED": "1"}
        self.command = [
            sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}", "--ServerApp.terminals_enabled=False",
            "--LabApp.expose_app_in_browser=True",              # window.jupyterapp: run cells by command
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={workspaces}",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly"]
        self.log_path = self.workdir / "jupyterlab.log"
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(self.command, cwd=self.root_dir, env=env, stdin=subprocess.DEVNULL,
                                        stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_until_up(startup_timeout)
        except BaseException:
            self.stop()
            raise

    def log_tail(self, chars=4000):
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def api(self, path, method="GET"):
        request = urllib.request.Request(f"{self.url}{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_until_up(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                self.api("/api/status")
                self.api("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} within {timeout} s:\n{self.log_tail()}")

    def lab_url(self, notebook):
        # ?reset: a fresh layout, so the notebook opened before is not reopened (and its kernel not restarted)
        return f"{self.url}/lab/tree/{notebook}?reset&token={self.token}"

    def shutdown_kernels(self):
        try:
            for kernel in self.api("/api/kernels") or []:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except (urllib.error.URLError, OSError, ValueError):
            pass

    def stop(self, keep_log=None):
        """Shut the kernels down, SIGTERM the server's process group, SIGKILL whatever is left (kernels too).

        The server's log is copied to `keep_log` (a path) when given; the temporary folder is removed."""
        pid = self.process.pid
        try:
            if self.process.poll() is None:
                self.shutdown_kernels()
                family = _descendants(pid)           # kernels sit in their own sessions: note them now
                try:
                    os.killpg(pid, signal.SIGTERM)   # the server stops its kernels on SIGTERM
                except ProcessLookupError:
                    pass
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    pass
                for other in [pid] + family:
                    deadline = time.monotonic() + 5
                    while _alive(other) and time.monotonic() < deadline:
                        time.sleep(0.1)
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                for other in family:
                    if _alive(other):
                        try:
                            os.kill(other, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                self.process.wait(timeout=10)
        finally:
            self._log.close()
            if keep_log is not None:
                Path(keep_log).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(self.log_path, keep_log)
            shutil.rmtree(self.workdir, ignore_errors=True)


def start_lab_server(root_dir, env_overrides):
    workdir = Path(tempfile.mkdtemp(prefix="aae-browser-lab-"))
    return LabServer(root_dir, workdir, env_overrides)


# ---- in-page JavaScript --------------------------------------------------------------------
KERNEL_IDLE_JS = "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'"

# Start running cells 0 .. `last` (the set-up, training - loaded from runs/ when saved - and the explorers,
# not the exercises after them) through JupyterLab's own Run commands; window.aaeRun.done turns true
# when the kernel has run them all (Python polls it, with a timeout).
RUN_UP_TO_JS = """(last) => {
    const app = window.jupyterapp;
    const panel = app.shell.currentWidget;
    window.aaeRun = {done: false, ok: null, error: null};
    (async () => {
        await panel.context.ready;
        await panel.sessionContext.ready;
        await app.commands.execute('notebook:clear-all-cell-outputs');  // nothing stored passes for a result
        panel.content.activeCellIndex = last;
        const above = await app.commands.execute('notebook:run-all-above');
        panel.content.activeCellIndex = last;
        const cell = await app.commands.execute('notebook:run-cell');
        return above !== false && cell !== false;
    })().then((ok) => { window.aaeRun = {done: true, ok, error: null}; },
              (error) => { window.aaeRun = {done: true, ok: false, error: String(error)}; });
}"""

# Code cells of the open notebook: index, execution count and the errors in their outputs.
CELL_REPORT_JS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const report = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        const errors = [];
        for (let k = 0; k < cell.outputs.length; k++) {
            const output = cell.outputs.get(k).toJSON();
            if (output.output_type === 'error') errors.push(`${output.ename}: ${output.evalue}`);
        }
        report.push({index: i, count: cell.executionCount, errors});
    }
    return report;
}"""

# SHA-256 of the bytes an <img> shows (its blob: or data: URL), so 'changed' means a new picture.
IMAGE_DIGEST_JS = """async (img) => {
    if (!img.src || !img.complete || img.naturalWidth === 0) return null;
    const bytes = await (await fetch(img.src)).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}"""

SHUTDOWN_KERNEL_JS = """async () => {
    const panel = window.jupyterapp.shell.currentWidget;
    if (panel && panel.sessionContext) await panel.sessionContext.shutdown();
}"""
