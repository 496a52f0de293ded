import Governance
import SwitchyardCore

/// Shared quotas and deployment slots on Redis: each lease step is one `EVAL` of a script in
/// `LeaseScripts`.
public final class RedisFleetStore: FleetQuotaStore, FleetSlotStore {
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

    public func report(_ call: RunawaySpendCall) async throws -> RunawayFleetSpend {
        var arguments = ["EVAL", LeaseScripts.runaway, "1", call.key, call.replica, String(call.minutes.count)]
        for (minute, nanos) in call.minutes.sorted(by: { $0.key < $1.key }) {
            arguments += [String(minute), String(nanos)]
        }
        let reply = try await connection.command(arguments)
        guard case .array(let values) = reply, values.count.isMultiple(of: 2) else {
            throw RedisError.unexpectedReply("\(reply)")
        }
        var minutes: [Int64: Int64] = [:]
        for index in stride(from: 0, to: values.count, by: 2) {
            guard let minute = values[index].int64, let nanos = values[index + 1].int64 else {
                throw RedisError.unexpectedReply("\(reply)")
            }
            minutes[minute] = nanos
        }
        return RunawayFleetSpend(minutes: minutes)
    }

    public func lease(_ call: SlotLeaseCall) async throws -> SlotLeaseGrant {
        let key = "switchyard:slots:\(call.pool)"
        var arguments = [
            "EVAL", LeaseScripts.slots, "6", key, Self.replicasKey, key + ":queue:interactive", key + ":queue:batch",
            key + ":tags", key + ":members",
            call.replica, String(call.leaseMilliseconds), String(call.limit), String(call.giveBack), String(call.want),
            String(call.need), String(call.held), String(call.busy), call.steppedBefore ? "1" : "0",
            String(call.enqueue.count), String(call.abandoned.count),
        ]
        for waiter in call.enqueue {
            arguments += [
                String(waiter.id), waiter.tenant, waiter.priority == .interactive ? "1" : "2", String(waiter.weight),
            ]
        }
        arguments += call.abandoned.map { String($0) }
        let reply = try await connection.command(arguments)
        guard case .array(let values) = reply, values.count >= 6, let holding = values[0].int64,
            let queued = values[1].int64, let free = values[2].int64, let live = values[3].int64,
            let lost = values[4].int64, let asking = values[5].int64
        else { throw RedisError.unexpectedReply("\(reply)") }
        var granted: [UInt64] = []
        for value in values.dropFirst(6) {
            guard case .string(let id) = value, let parsed = UInt64(id) else {
                throw RedisError.unexpectedReply("\(reply)")
            }
            granted.append(parsed)
        }
        return SlotLeaseGrant(
            holding: Int(holding), granted: granted, queued: Int(queued), free: Int(free), liveReplicas: Int(live),
            lost: lost == 1, othersAsking: asking == 1)
    }
}
