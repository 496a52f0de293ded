"""Writes the fixed upstream responses nginx serves in the benchmark: a realistic OpenAI chat
completion (with usage) and a realistic SSE stream of 50 content chunks plus the usage chunk."""

import json
from pathlib import Path

HERE = Path(__file__).parent
BASE = {"id": "chatcmpl-bench", "created": 1795384018, "model": "gpt-4o-mini-2024-07-18", "system_fingerprint": "fp_bench"}
TEXT = ("The capital of France is Paris . It has been the country 's political and cultural centre for centuries , and it "
        "is home to about two million people who live in twenty districts along the Seine river , with many museums , "
        "parks , markets and cafés that visitors enjoy all year").split()[:50]

completion = dict(
    BASE, object="chat.completion",
    choices=[{"index": 0, "message": {"role": "assistant", "content": " ".join(TEXT), "refusal": None, "annotations": []},
              "logprobs": None, "finish_reason": "stop"}],
    usage={"prompt_tokens": 28, "completion_tokens": 50, "total_tokens": 78,
           "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
           "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
    service_tier="default",
)
chunk = dict(BASE, object="chat.completion.chunk")
events = [dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None, "finish_reason": None}], usage=None)]
events += [dict(chunk, choices=[{"index": 0, "delta": {"content": " " + word}, "logprobs": None, "finish_reason": None}], usage=None) for word in TEXT]
events.append(dict(chunk, choices=[{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], usage=None))
events.append(dict(chunk, choices=[], usage={"prompt_tokens": 28, "completion_tokens": 50, "total_tokens": 78}))

(HERE / "completion.json").write_text(json.dumps(completion, separators=(",", ":")))
(HERE / "stream.sse").write_text("".join(f"data: {json.dumps(e, separators=(',', ':'))}\n\n" for e in events) + "data: [DONE]\n\n")
