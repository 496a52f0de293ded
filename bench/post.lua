-- wrk script: a realistic chat completion request; prints latency percentiles as one JSON line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if os.getenv("BENCH_KEY") then wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY") end
wrk.body = os.getenv("BENCH_BODY") or
  '{"model":"bench","messages":[{"role":"system","content":"You are a concise assistant."},{"role":"user","content":"What is the capital of France? Answer in two sentences."}],"max_tokens":64,"temperature":0.2}'

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"errors":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}\n',
    summary.requests, summary.duration, errors,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
