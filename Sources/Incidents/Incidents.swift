// Incidents: anomalies in the gateway's own traffic, found and explained off the request path.
//
// Owns: `TrafficRecorder` (the request path's one update per request: a per-window cell per
// combination of route, deployment, provider, tenant and agent), `Baseline` (a robust rolling
// band per series and metric: median and MAD), `AnomalyDetector` (per window: every series'
// metrics against their bands), `Attribution` (where a deviation concentrates) and `IncidentBook`
// (incidents opened, merged by cause, updated, resolved; the mitigations they ask for);
// `RunHealth` (agent runs' loops, stalls and cost acceleration, per window, from the recorder's
// `RunActivity`) and `IncidentDocument` (the JSON shape of run and drift incidents).
//
// Pure logic and in-memory state: storage, the admin API, webhooks and the actions themselves
// are the control plane's (`IncidentWatcher`).
//
// May import: SwitchyardCore, Synchronization.
