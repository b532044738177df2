"""A loopback fake of OpenAI's files and fine-tuning endpoints, with recorded job data, and a
training file: shared by the fine-tuning job tests and the CLI tests."""
import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import TEST_DATA

DATA = TEST_DATA / "finetune"
JOB_ID = "ftjob-Kq2e3Xb7"


def recorded(name):
    return json.loads((DATA / name).read_text())


class FineTuningFake:
    """Files and fine-tuning endpoints, OpenAI (/v1/...) and Azure (/openai/...?api-version=) paths.
    Created jobs go queued -> running -> succeeded over successive retrieves."""

    def __init__(self):
        self.requests = []
        self.jobs = {JOB_ID: recorded("job_ftjob-e3.json")}
        self.polls = {}
        self.files = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _route(self):
                path = self.path.split("?")[0]
                return re.sub(r"^/(v1|openai)", "", path), self.path

            def do_GET(self):
                path, full = self._route()
                fake.requests.append({"method": "GET", "path": full})
                self._send(*fake.get(path))

            def do_POST(self):
                path, full = self._route()
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                fake.requests.append({"method": "POST", "path": full, "headers": dict(self.headers), "body": body})
                self._send(*fake.post(path, body, self.headers.get("content-type", "")))

            def _send(self, status, payload):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/octet-stream" if isinstance(payload, bytes)
                                 else "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def get(self, path):
        m = re.fullmatch(r"/fine_tuning/jobs/([\w-]+)(/events|/checkpoints)?", path)
        if m and m.group(1) not in self.jobs:
            return 404, {"error": {"message": f"Could not find fine-tune: {m.group(1)}", "type": "invalid_request_error"}}
        if m and m.group(2) == "/events":
            return 200, recorded("events_ftjob-e3.json") if m.group(1) == JOB_ID else \
                {"object": "list", "data": [], "has_more": False}
        if m and m.group(2) == "/checkpoints":
            return 200, recorded("checkpoints_ftjob-e3.json") if m.group(1) == JOB_ID else \
                {"object": "list", "data": [], "has_more": False}
        if m:
            return 200, self.advance(m.group(1))
        m = re.fullmatch(r"/files/([\w-]+)/content", path)
        if m and m.group(1) == "file-result-e3":
            return 200, (DATA / "result_file_ftjob-e3.b64").read_bytes()
        return 404, {"error": {"message": f"no route {path}"}}

    def advance(self, job_id):
        job = self.jobs[job_id]
        if job["status"] in ("queued", "running"):
            self.polls[job_id] = self.polls.get(job_id, 0) + 1
            if self.polls[job_id] >= 2:
                job["status"] = "running"
            if self.polls[job_id] >= 3:
                job["status"] = "succeeded"
                job["fine_tuned_model"] = f"ft:{job['model']}:acme::{job_id[-6:]}"
                job["trained_tokens"] = 10_000 * job["hyperparameters"]["n_epochs"]
        return job

    def post(self, path, body, content_type):
        if path == "/files":
            name = re.search(rb'filename="([^"]+)"', body).group(1).decode()
            purpose = re.search(rb'name="purpose"\r\n\r\n([^\r]+)', body).group(1).decode()
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = {"name": name, "purpose": purpose, "body": body}
            return 200, {"id": file_id, "object": "file", "bytes": len(body), "created_at": 0, "filename": name,
                         "purpose": purpose, "status": "processed"}
        if path == "/fine_tuning/jobs":
            params = json.loads(body)
            job = copy.deepcopy(recorded("job_ftjob-e3.json"))
            job_id = f"ftjob-grid{len(self.jobs)}"
            hp = params["method"]["supervised"]["hyperparameters"]
            job.update(id=job_id, status="queued", fine_tuned_model=None, trained_tokens=None, result_files=[],
                       model=params["model"], training_file=params["training_file"],
                       validation_file=params.get("validation_file"), seed=params.get("seed", 7),
                       hyperparameters={"n_epochs": hp.get("n_epochs", 3), "batch_size": hp.get("batch_size", 1),
                                        "learning_rate_multiplier": hp.get("learning_rate_multiplier", 2.0)})
            job["method"] = {"type": "supervised", "supervised": {"hyperparameters": dict(job["hyperparameters"])}}
            self.jobs[job_id] = job
            return 200, job
        return 404, {"error": {"message": f"no route {path}"}}


def training_file(tmp_path, functions=None):
    short = functions or [{"type": "function", "function": {"name": "get_price",
                                                           "parameters": {"type": "object", "properties": {}}}}]
    lines = []
    for i in range(100):
        answer = {"role": "assistant", "content": "Which company do you mean?"} if i % 4 == 0 else \
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {
                "name": "get_price", "arguments": json.dumps({"symbol": f"T{i}"})}}]}
        lines.append({"messages": [{"role": "user", "content": f"Price of company {i}?"}, answer], "tools": short})
    path = tmp_path / "data" / "train.jsonl"
    path.parent.mkdir(exist_ok=True)
    path.write_text("".join(json.dumps(l) + "\n" for l in lines))
    return path
