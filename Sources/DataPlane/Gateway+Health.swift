import Hummingbird
import Ledger

extension Gateway {
    /// `/readyz`: whether to send this replica traffic. Not while it drains for a shutdown. A
    /// store that does not answer makes it `degraded`, never unready: known keys keep working and
    /// usage goes to the journal, and the store is every replica's, so failing here would take the
    /// whole fleet out of rotation at once. Answered from the store's last known state, without
    /// waiting on the store.
    func readiness() -> Response {
        if shutdown.isDraining {
            return .json(status: .serviceUnavailable, Array(#"{"status":"draining"}"#.utf8))
        }
        if storeHealth.current().reachable {
            return .json(status: .ok, Array(#"{"status":"ready"}"#.utf8))
        }
        return .json(status: .ok, Array(#"{"status":"degraded","store":"unavailable"}"#.utf8))
    }

    /// `/healthz`: the process answers. With `?verbose`, the store's state (probed now, at most
    /// once a second however many ask: `StoreHealth`), and, when `detailed` (the metrics
    /// listener, on a trusted network), the ledger's queue. Its counts are all tenants' traffic,
    /// so the main listener leaves them to the credentialed `/metrics`.
    func health(_ request: Request, detailed: Bool) async -> Response {
        guard request.uri.queryParameters["verbose"] != nil else {
            return .json(status: .ok, Array(#"{"status":"ok"}"#.utf8))
        }
        let store = await storeHealth.refresh()
        var body = #"{"status":"ok","store":""# + (store.reachable ? "ok" : "unavailable") + #"""#
        if detailed, let ledger = usageSink as? LedgerWriter {
            let counters = ledger.statistics
            body +=
                #","ledger":{"pending":\#(ledger.pendingCount),"written":\#(counters.written),"#
                + #""journaled":\#(counters.journaled + counters.spilled),"replayed":\#(counters.replayed)}"#
        }
        return .json(status: .ok, Array((body + "}").utf8))
    }
}
