# The FinOps benchmarks' gateway (bench/finops.sh, bench/console.sh): three deployments
# (one self-hosted, with hourly capacity), a mid-month price cut and a provider contract.
# `config URL` writes $WORK/switchyard.yaml for the store at URL; EXTRA_CONFIG is appended.
config() {
  cat > "$WORK/switchyard.yaml" <<YAML
storage:
  url: "$1"
  journal: "$WORK/journal.ndjson"
providers:
  - {name: openai, kind: openai, base_url: "https://api.openai.com/v1", region: us-east-1}
  - {name: anthropic, kind: anthropic, base_url: "https://api.anthropic.com/v1"}
  - {name: gpu, kind: openai, base_url: "http://127.0.0.1:18080/v1", region: on-prem}
deployments:
  - name: gpt-mini
    provider: openai
    model: gpt-4o-mini
    prices:
      - {input_per_mtok: 0.15, output_per_mtok: 0.60, cached_input_per_mtok: 0.075}
      - {effective_from: "2026-10-16", input_per_mtok: 0.10, output_per_mtok: 0.40, cached_input_per_mtok: 0.05}
  - {name: claude-haiku, provider: anthropic, model: claude-haiku-4-5}
  - name: llama-local
    provider: gpu
    model: llama
    price: {input_per_mtok: 0, output_per_mtok: 0}
    capacity: {cost_per_hour: 2.40, slots: 4}
routes:
  - {name: chat, targets: [gpt-mini, claude-haiku]}
  - {name: local, targets: [llama-local]}
commitments:
  - {name: anthropic-2026, provider: anthropic, start: 2026-01-01, end: 2027-01-01, committed_spend: 5000, discount_rate: 0.2}
${EXTRA_CONFIG:-}
YAML
}
