// ControlPlane: what operators use while the data plane serves. `AdminAPI` is the admin HTTP API
// (tenants, keys, governance, kill switches, audit, reports) and `/metrics` on the main listener;
// the watchers are long-running services that keep the data plane's state current (governance and
// kill switches written by other replicas, provider health probes, commitment checks, audit
// checkpoints). `CostReporting` builds the FinOps reports the admin API and the CLI serve.
//
// May import: DataPlane (its `package` members), the domain modules, Hummingbird's core types,
// swift-log and swift-service-lifecycle. Never imported by DataPlane.
