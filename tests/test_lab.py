"""JupyterLab smoke test: the `make lab` command starts headless, lists the notebooks over its REST API, lands
students on the student edition, starts the workshop kernel for a student notebook and runs a cell in it
over the kernel websocket, as the browser does; then everything is stopped.
"""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests
import websocket  # websocket-client: a dependency of jupyter_server

from workshop.lab import START_DIR, lab_command
from workshop.paths import APP_DIR, NOTEBOOKS_DIR
from workshop.procs import free_port, stop_process
from workshop.student_edition import CWD_LINES


@pytest.fixture()
def lab(tmp_path):
    port, token = free_port(), uuid.uuid4().hex
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}  # no clash with a running lab
    log = open(tmp_path / "lab.log", "w")
    process = subprocess.Popen(lab_command(port=port, token=token, browser=False), env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"token {token}"}
    deadline = time.monotonic() + 90
    try:
        while True:
            assert process.poll() is None, (tmp_path / "lab.log").read_text()[-2000:]
            try:
                if requests.get(f"{base}/api/status", headers=headers, timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
            time.sleep(0.25)
        yield base, headers, process
    finally:
        stop_process(process)
        log.close()


def execute(base: str, headers: dict, kernel_id: str, code: str, timeout: float = 60) -> tuple[str, dict]:
    """Run code in a kernel through the server's websocket (Jupyter messaging protocol); (stdout, reply)."""
    session = uuid.uuid4().hex
    ws = websocket.create_connection(f"{base.replace('http', 'ws', 1)}/api/kernels/{kernel_id}/channels"
                                     f"?session_id={session}", header=[f"{k}: {v}" for k, v in headers.items()],
                                     timeout=timeout)
    try:
        msg_id = uuid.uuid4().hex
        ws.send(json.dumps({
            "header": {"msg_id": msg_id, "username": "test", "session": session, "msg_type": "execute_request",
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        stdout, reply, idle = [], None, False
        while reply is None or not idle:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["header"]["msg_type"]
            if kind == "stream" and msg["content"]["name"] == "stdout":
                stdout.append(msg["content"]["text"])
            elif kind == "execute_reply":
                reply = msg["content"]
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                idle = True
        return "".join(stdout), reply
    finally:
        ws.close()


@pytest.mark.slow
def test_lab_lists_notebooks_runs_a_student_kernel_and_stops(lab):
    base, headers, process = lab

    # students land on the student edition
    landing = requests.get(f"{base}/", headers=headers, allow_redirects=False, timeout=10)
    assert landing.status_code in (301, 302) and landing.headers["Location"].startswith(f"/lab/tree/{START_DIR}")
    root = requests.get(f"{base}/api/contents", headers=headers, timeout=10).json()
    names = {item["name"] for item in root["content"]}
    lessons = sorted(p.name for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert START_DIR in names and set(lessons) <= names
    student = requests.get(f"{base}/api/contents/{START_DIR}", headers=headers, timeout=10).json()
    assert sorted(i["name"] for i in student["content"] if i["name"].endswith(".ipynb")) == lessons
    first = requests.get(f"{base}/api/contents/{START_DIR}/{lessons[0]}", headers=headers, timeout=10).json()
    assert first["type"] == "notebook" and first["content"]["cells"]

    # open a student notebook as the browser does: a session starts the workshop kernel in its folder
    opened = requests.post(f"{base}/api/sessions", headers=headers, timeout=60, json={
        "path": f"{START_DIR}/{lessons[0]}", "type": "notebook", "name": "", "kernel": {"name": "python3"}})
    assert opened.status_code == 201, opened.text
    kernel_id = opened.json()["kernel"]["id"]
    code = ("import os\nfrom pathlib import Path\nprint(os.getcwd())\n" + "\n".join(CWD_LINES) +
            "\nprint(os.getcwd())\nprint(Path('../app/main.py').resolve())\nimport workshop, sklearn\n")
    stdout, reply = execute(base, headers, kernel_id, code)
    assert reply["status"] == "ok", reply
    before, after, app_main = stdout.split()
    assert before == str(NOTEBOOKS_DIR / START_DIR)    # JupyterLab starts the kernel next to the notebook ...
    assert after == str(NOTEBOOKS_DIR)                  # ... the student edition's first lines move it
    assert app_main == str(APP_DIR / "main.py")         # so `%%writefile ../app/main.py` hits the real app/

    # a bare kernel through /api/kernels (what a console opens) runs the workshop's Python too
    bare = requests.post(f"{base}/api/kernels", headers=headers, json={"name": "python3"}, timeout=60)
    assert bare.status_code == 201, bare.text
    stdout, reply = execute(base, headers, bare.json()["id"], "import sys\nprint(sys.prefix)")
    assert reply["status"] == "ok" and stdout.strip() == str(Path(sys.prefix))
    assert requests.delete(f"{base}/api/kernels/{bare.json()['id']}", headers=headers, timeout=30).status_code == 204

    # stop everything: the session and its kernel, then the server
    assert requests.delete(f"{base}/api/sessions/{opened.json()['id']}", headers=headers, timeout=30).status_code == 204
    assert requests.get(f"{base}/api/kernels", headers=headers, timeout=10).json() == []
    requests.post(f"{base}/api/shutdown", headers=headers, timeout=10)
    assert process.wait(timeout=30) is not None
