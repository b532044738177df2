"""A loopback fake of OpenAI's files and batches endpoints (`evalkit run --batch`), shared by the
batch tests and the recipe tests."""
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fakeserver import completion_body


class FakeBatchAPI:
    """files.create / files.content / batches.create / batches.retrieve, answering each request
    line with `responder`; a batch reports in_progress on its first retrieve, then `final`."""

    def __init__(self, responder, final="completed"):
        self.responder, self.final = responder, final
        self.files, self.batches, self.calls = {}, {}, []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _json(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                api.calls.append(("POST", self.path))
                if self.path.endswith("/files"):
                    lines = [json.loads(l) for l in body.decode().splitlines() if l.startswith('{"custom_id"')]
                    fid = f"file-in-{len(api.files)}"
                    api.files[fid] = lines
                    return self._json(200, {"id": fid, "object": "file", "bytes": len(body), "created_at": 0,
                                            "filename": "x.jsonl", "purpose": "batch", "status": "processed"})
                if self.path.endswith("/batches"):
                    req = json.loads(body)
                    bid = f"batch_{len(api.batches)}"
                    api.batches[bid] = {"req": req, "polls": 0}
                    return self._json(200, self._batch(bid))
                self._json(404, {"error": {"message": "no such route"}})

            def do_GET(self):
                api.calls.append(("GET", self.path))
                m = re.search(r"/batches/([\w-]+)$", self.path)
                if m:
                    api.batches[m.group(1)]["polls"] += 1
                    return self._json(200, self._batch(m.group(1)))
                m = re.search(r"/files/([\w-]+)/content$", self.path)
                if m:
                    data = api.files[m.group(1)].encode()
                    self.send_response(200)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    return self.wfile.write(data)
                self._json(404, {"error": {"message": "no such route"}})

            def _batch(self, bid):
                b = api.batches[bid]
                lines = api.files[b["req"]["input_file_id"]]
                status = "in_progress" if b["polls"] < 2 else api.final
                out = {"id": bid, "object": "batch", "endpoint": b["req"]["endpoint"], "completion_window": "24h",
                       "input_file_id": b["req"]["input_file_id"], "created_at": 0, "status": status,
                       "request_counts": {"total": len(lines), "completed": 0 if status == "in_progress" else len(lines),
                                          "failed": 0}}
                if status == "failed":
                    out["errors"] = {"object": "list", "data": [{"code": "invalid", "message": "bad input file"}]}
                if status == "completed":
                    ok, bad = [], []
                    for line in lines:
                        reply = api.responder(line["body"])
                        if "status" in reply:
                            bad.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                                "status_code": reply["status"], "body": {"error": {"message": "context too long"}}}})
                        else:
                            ok.append({"id": "r", "custom_id": line["custom_id"], "error": None, "response": {
                                "status_code": 200, "body": completion_body(reply, line["body"]["model"])}})
                    api.files[f"file-out-{bid}"] = "".join(json.dumps(x) + "\n" for x in ok)
                    api.files[f"file-err-{bid}"] = "".join(json.dumps(x) + "\n" for x in bad)
                    out["output_file_id"], out["error_file_id"] = f"file-out-{bid}", f"file-err-{bid}"
                return out

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *a):
        self.httpd.shutdown()
        self.httpd.server_close()
