#!/usr/bin/env python3
"""A throwaway stand-in for Maskin's boot service, for `scripts/lab selftest` only (a lab self-test: it proves
the lab netboots without any Swift code). Serves, on HOST:PORT:
  GET  /boot/ipxe?mac=&uuid=&serial=&arch=  an iPXE script booting the stand-in with talos.config= and dv.callback=
  GET  /boot/config?uuid=&token=            a small YAML machine config, once per uuid (a replay gets 403)
  GET  /boot/assets/vmlinuz|initramfs       the files in ASSETS_DIR
  POST /boot/callback?uuid=&token=&event=   records the callback, 204
Every request is appended to EVENTS (JSON lines: time, kind, query). Usage: HOST PORT ASSETS_DIR EVENTS"""
import http.server
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse

HOST, PORT, ASSETS, EVENTS = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
BASE = f"http://{HOST}:{PORT}"
lock = threading.Lock()
tokens = {}      # uuid -> token
served = set()   # uuids whose config was served


def record(kind, query, **extra):
    with lock, open(EVENTS, "a") as fh:
        fh.write(json.dumps({"time": time.time(), "kind": kind, "query": query, **extra}) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body=b"", ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        return url.path, q

    def do_GET(self):
        path, q = self.route()
        if path == "/boot/ipxe":
            uuid = q.get("uuid", "")
            token = tokens.setdefault(uuid, secrets.token_hex(8))
            record("script", q)
            script = (
                "#!ipxe\n"
                f"echo dvlab fake boot service: deploying {uuid}\n"
                f"kernel {BASE}/boot/assets/vmlinuz talos.platform=metal console=ttyS0 "
                f"talos.config={BASE}/boot/config?uuid={uuid}&token={token} "
                f"dv.callback={BASE}/boot/callback?uuid={uuid}&token={token}&event=install-complete\n"
                f"initrd {BASE}/boot/assets/initramfs\n"
                "boot\n")
            return self.reply(200, script.encode())
        if path == "/boot/config":
            uuid = q.get("uuid", "")
            if tokens.get(uuid) != q.get("token") or uuid in served:
                record("config-refused", q)
                return self.reply(403, b"refused\n")
            served.add(uuid)
            record("config", q)
            body = f"version: v1alpha1\n# dvlab self-test config for {uuid}\nmachine:\n  type: worker\ncluster:\n  clusterName: dvlab\n"
            return self.reply(200, body.encode(), "application/yaml")
        if path.startswith("/boot/assets/"):
            name = os.path.basename(path)
            file = os.path.join(ASSETS, name)
            if name not in ("vmlinuz", "initramfs") or not os.path.isfile(file):
                return self.reply(404, b"no such asset\n")
            record("asset", {"name": name})
            with open(file, "rb") as fh:
                return self.reply(200, fh.read(), "application/octet-stream")
        self.reply(404, b"not found\n")

    do_HEAD = do_GET

    def do_POST(self):
        path, q = self.route()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode(errors="replace") if length else ""
        if path == "/boot/callback" and tokens.get(q.get("uuid", "")) == q.get("token"):
            record("callback", q, body=body)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        record("callback-refused", q, body=body)
        self.reply(403, b"refused\n")

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), fmt % args))


server = http.server.ThreadingHTTPServer((HOST, PORT), Handler)
print(f"fake boot service on {BASE}", flush=True)
server.serve_forever()
