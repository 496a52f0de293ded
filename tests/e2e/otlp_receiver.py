"""An OTLP/HTTP receiver for the tracing and metrics tests: decodes the official protobuf
messages (PyPI's opentelemetry-proto) posted to /v1/traces and /v1/metrics, and serves the
spans it got as JSON at GET /spans (DELETE /spans forgets them) and the last metrics push (with
its headers) at GET /metrics-pushed. Binds 127.0.0.1 only.

    python otlp_receiver.py PORT
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

SPANS = []
PUSHES = []
PUSH_HEADERS = []  # the last metrics push's headers (names lowercased)
LOCK = threading.Lock()
KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def value(any_value):
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(pairs):
    return {pair.key: value(pair.value) for pair in pairs}


def metric_json(metric):
    """One metric as JSON: its kind, and its points with their attributes."""
    kind = metric.WhichOneof("data")
    data = getattr(metric, kind)
    points = []
    for point in data.data_points:
        entry = {"attributes": attributes(point.attributes), "start": point.start_time_unix_nano,
                 "time": point.time_unix_nano}
        if kind == "histogram":
            entry.update(count=point.count, sum=point.sum, bucket_counts=list(point.bucket_counts),
                         explicit_bounds=list(point.explicit_bounds))
        else:
            entry["value"] = getattr(point, point.WhichOneof("value"))
        points.append(entry)
    result = {"name": metric.name, "description": metric.description, "unit": metric.unit, "kind": kind,
              "points": points}
    if kind in ("sum", "histogram"):
        result["temporality"] = data.aggregation_temporality
    if kind == "sum":
        result["monotonic"] = data.is_monotonic
    return result


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/metrics":
            request = ExportMetricsServiceRequest()
            request.ParseFromString(raw)
            pushed = []
            for resource_metrics in request.resource_metrics:
                resource = attributes(resource_metrics.resource.attributes)
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        pushed.append({**metric_json(metric), "resource": resource,
                                       "scope": scope_metrics.scope.name})
            with LOCK:
                PUSHES.append(pushed)
                PUSH_HEADERS[:] = [{name.lower(): value for name, value in self.headers.items()}]
            return self.reply(200, ExportMetricsServiceResponse().SerializeToString(), "application/x-protobuf")
        if self.path != "/v1/traces":
            return self.reply(404, b"{}", "application/json")
        request = ExportTraceServiceRequest()
        request.ParseFromString(raw)
        received = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append({
                        "trace_id": span.trace_id.hex(), "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex(), "name": span.name,
                        "kind": KINDS.get(span.kind, str(span.kind)), "attributes": attributes(span.attributes),
                        "events": [{"name": event.name, "attributes": attributes(event.attributes)}
                                   for event in span.events],
                        "status": span.status.code, "flags": span.flags, "trace_state": span.trace_state,
                        "start": span.start_time_unix_nano,
                        "end": span.end_time_unix_nano, "resource": resource,
                    })
        with LOCK:
            SPANS.extend(received)
        self.reply(200, ExportTraceServiceResponse().SerializeToString(), "application/x-protobuf")

    def do_GET(self):
        if self.path == "/metrics-pushed":
            with LOCK:
                body = json.dumps({"pushes": len(PUSHES), "last": PUSHES[-1] if PUSHES else [],
                                   "headers": PUSH_HEADERS[0] if PUSH_HEADERS else {}}).encode()
            return self.reply(200, body, "application/json")
        if self.path != "/spans":
            return self.reply(404, b"{}", "application/json")
        with LOCK:
            body = json.dumps(SPANS).encode()
        self.reply(200, body, "application/json")

    def do_DELETE(self):
        with LOCK:
            SPANS.clear()
        self.reply(200, b"[]", "application/json")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
