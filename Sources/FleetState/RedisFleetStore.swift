import Governance
import SwitchyardCore

/// Shared quotas on Redis: each lease step is one `EVAL` of a script in `LeaseScripts`.
public final class RedisFleetStore: FleetQuotaStore {
    static let replicasKey = "switchyard:replicas"
    private let connection: RedisConnection

    public init(url: String, timeoutMilliseconds: Int = 500) throws(RedisError) {
        connection = try RedisConnection(url: url, timeoutMilliseconds: timeoutMilliseconds)
    }

    public func lease(_ call: BudgetLeaseCall) async throws -> BudgetLeaseReply {
        // The counter outlives its period by a day, for late reports and reports of the period.
        let expireAt = (call.period.end.value / 1000) + 86_400_000
        let reply = try await connection.command([
            "EVAL", LeaseScripts.budget, "2", call.key, Self.replicasKey,
            call.replica, String(call.leaseMilliseconds), String(call.limit), call.epoch ?? "",
            call.seed.map(String.init) ?? "", String(call.settled), String(call.held), String(call.need),
            String(call.want), String(call.giveBack), String(expireAt),
        ])
        guard case .array(let values) = reply else { throw RedisError.unexpectedReply("\(reply)") }
        if values.first == .string("missing") { return .missing }
        guard values.count == 7, let granted = values[0].int64, let spent = values[1].int64,
            let leased = values[2].int64, let live = values[3].int64, case .string(let epoch) = values[4],
            let lost = values[5].int64, let lease = values[6].int64
        else { throw RedisError.unexpectedReply("\(reply)") }
        return .granted(
            BudgetLeaseGrant(
                granted: granted, lease: lease, fleetSpent: spent, fleetLeased: leased, liveReplicas: Int(live),
                epoch: epoch, leaseLost: lost == 1))
    }

    public func lease(_ call: RateLeaseCall) async throws -> RateLeaseGrant {
        let reply = try await connection.command([
            "EVAL", LeaseScripts.rate, "2", call.key, Self.replicasKey,
            call.replica, String(call.leaseMilliseconds), String(call.requestsPerMinute ?? 0),
            String(call.tokensPerMinute ?? 0), String(call.needRequests), String(call.wantRequests),
            String(call.giveBackRequests), String(call.needTokens), String(call.wantTokens), String(call.giveBackTokens),
        ])
        guard case .array(let values) = reply, values.count == 5, let requests = values[0].int64,
            let tokens = values[1].int64, let live = values[2].int64, case .string(let requestsLeft) = values[3],
            case .string(let tokensLeft) = values[4]
        else { throw RedisError.unexpectedReply("\(reply)") }
        return RateLeaseGrant(
            requests: requests, tokens: tokens, requestsLeft: Double(requestsLeft) ?? 0, tokensLeft: Double(tokensLeft) ?? 0,
            liveReplicas: Int(live))
    }
}
