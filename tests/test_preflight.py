"""`make preflight`: green on what is ready, red with the exact fix on what is not, a summary without secrets."""
import os
import socket
import subprocess
import sys

from workshop import preflight
from workshop.paths import REPO_ROOT
from workshop.procs import free_port
from workshop.training import ARTIFACT, CARD, PROFILE


def test_a_taken_port_turns_red_with_a_fix_and_a_free_one_stays_green():
    free = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        items = preflight.check_ports({taken: ("test socket", "the test's socket", False),
                                       free: ("nothing", "-", False)}, ours=set())
        ours = preflight.check_ports({taken: ("test socket", "-", False)}, ours={taken})
    assert [(i.name, i.status) for i in items] == [(f"port {taken}", "fail"), (f"port {free}", "ok")]
    assert f"sport = :{taken}" in items[0].fix and "the test's socket" in items[0].fix
    assert ours[0].status == "ok" and "workshop's running stack" in ours[0].detail


def test_grafana_port_matters_only_in_docker_mode():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        grafana = {port: preflight.PORTS[3000]}  # Grafana's entry, on a port the test holds
        local = preflight.check_ports(grafana, ours=set(), docker=False)
        docker = preflight.check_ports(grafana, ours=set(), docker=True)
    assert local[0].status == "info" and docker[0].status == "fail"


def test_missing_model_is_red_with_the_command_that_trains_one(tmp_path):
    item = preflight.check_model(tmp_path)
    assert item.status == "fail" and "ensure_model()" in item.fix
    for name in (ARTIFACT, CARD, PROFILE):
        (tmp_path / name).write_text("{}")
    assert preflight.check_model(tmp_path).status == "ok"


def test_this_venv_and_kernel_are_green():
    assert preflight.check_python().status == "ok"
    assert preflight.check_venv().status == "ok", preflight.check_venv()
    assert preflight.check_kernel().status == "ok", preflight.check_kernel()


def test_outside_the_venv_it_says_so_and_still_runs():
    """With the system Python (no .venv packages) preflight still reports, naming the venv as the problem."""
    result = subprocess.run(["/usr/bin/env", "-i", "PATH=/usr/bin:/bin", sys.base_prefix + "/bin/python3",
                             "-m", "workshop.preflight"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "FAIL venv: not running inside the repository's .venv" in result.stdout


def test_report_lists_fixes_and_a_paste_summary_without_environment_values():
    os.environ["PREFLIGHT_SECRET_PROBE"] = "s3cr3t-value-never-printed"
    try:
        result = subprocess.run([sys.executable, "-m", "workshop.preflight"], cwd=REPO_ROOT,
                                capture_output=True, text=True, timeout=120)
    finally:
        del os.environ["PREFLIGHT_SECRET_PROBE"]
    out = result.stdout
    assert "--- paste this to a helper ---" in out and out.rstrip().endswith(("ready for the workshop",
                                                                           "then run `make preflight` again"))
    assert result.returncode == (1 if "\nFAIL " in out else 0)
    summary = out.split("--- paste this to a helper ---")[1]
    assert "s3cr3t" not in out and os.path.expanduser("~") not in summary and str(REPO_ROOT) not in summary
    assert all(line.split()[0] in ("✔", "✘", "●", "fix:") for line in out.split("\n\n")[0].splitlines()[1:])
