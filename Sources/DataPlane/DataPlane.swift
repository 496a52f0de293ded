// DataPlane: the request pipeline. `Gateway` serves the client APIs (chat completions, messages,
// responses, embeddings, models) through named stages over one request context
// (`Gateway+Pipeline.swift` lists them in order): authenticate, guard, decode, authorize, plan,
// admit, execute, relay, settle. Stages with state of their own are their own types:
// `ContentGuard` (guard), `RouteSelection` (plan), `UpstreamExecutor` (execute: attempts,
// retries, hedging, the fair-share queue), `Settlement` and `RequestObserver` (settle). It owns the live state requests share (routes, deployment
// health, governance, key cache, metrics) and hands the ingress its responder
// (`Gateway.makeServer`); other routes on the same listener come in through `ServedRoutes`.
//
// May import: the domain modules (SwitchyardCore, SwitchyardConfig, WireFormats, Providers,
// Routing, Governance, Storage, Ledger, Observability), Ingress, Hummingbird's core types,
// and the swift-distributed-tracing API (`Tracing`; the exporter behind it is the binary's). Not the control plane: the admin API and the watchers use the data plane, not the
// reverse, and reach its state through `package` members.
