import NIOCore
import Synchronization

/// How many client connections the `IngressServer` holds at once, in all and per client address,
/// decided at accept time: a connection over either cap is closed before it reads a byte, so one
/// client's flood of idle connections cannot use up the process's descriptors and starve everyone.
///
/// Behind a load balancer every client shares its address: raise `perAddress` there.
public final class IngressConnectionLimits: Sendable {
    public struct Caps: Sendable, Equatable {
        public var total: Int
        public var perAddress: Int

        public init(total: Int = 10_000, perAddress: Int = 1_000) {
            self.total = total
            self.perAddress = perAddress
        }
    }

    public enum Refusal: Sendable {
        case total, perAddress
    }

    private struct State {
        var open = 0
        var byAddress: [String: Int] = [:]
        var refusedTotal = 0
        var refusedPerAddress = 0
        var acceptBackoffs = 0
    }

    public let caps: Caps
    private let state = Mutex(State())

    public init(caps: Caps = Caps()) {
        self.caps = caps
    }

    /// The client a connection counts against: its IPv4 address, or the /64 network of an IPv6
    /// address (one host is routinely given a whole /64, so counting single IPv6 addresses would
    /// give it 2^64 allowances). An IPv4-mapped IPv6 address counts as its IPv4 address.
    static func client(of address: SocketAddress?) -> String {
        guard case .v6(let v6) = address else { return address?.ipAddress ?? "unknown" }
        let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
            return bytes[12..<16].map(String.init).joined(separator: ".")
        }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    /// Takes a slot for a connection from `address`, or says which cap refuses it.
    func admit(address: String) -> Refusal? {
        state.withLock { state in
            if state.open >= caps.total {
                state.refusedTotal += 1
                return .total
            }
            let fromAddress = state.byAddress[address, default: 0]
            if fromAddress >= caps.perAddress {
                state.refusedPerAddress += 1
                return .perAddress
            }
            state.open += 1
            state.byAddress[address] = fromAddress + 1
            return nil
        }
    }

    /// Gives back the slot of a connection from `address` that has closed.
    func release(address: String) {
        state.withLock { state in
            state.open -= 1
            let left = state.byAddress[address, default: 1] - 1
            state.byAddress[address] = left > 0 ? left : nil
        }
    }

    /// Counts an accept that failed (out of descriptors, or of kernel memory) and was retried later.
    func recordAcceptBackoff() {
        state.withLock { $0.acceptBackoffs += 1 }
    }

    public struct Snapshot: Sendable, Equatable {
        public var open: Int
        public var addresses: Int
        public var refusedTotal: Int
        public var refusedPerAddress: Int
        public var acceptBackoffs: Int
    }

    public var snapshot: Snapshot {
        state.withLock { state in
            Snapshot(
                open: state.open, addresses: state.byAddress.count, refusedTotal: state.refusedTotal,
                refusedPerAddress: state.refusedPerAddress, acceptBackoffs: state.acceptBackoffs)
        }
    }
}

/// A connection refused at accept time by `IngressConnectionLimits`; NIO closes it.
struct IngressConnectionRefused: Error {
    var refusal: IngressConnectionLimits.Refusal
}
