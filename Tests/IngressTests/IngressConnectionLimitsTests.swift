import NIOCore
import Testing

@testable import Ingress

/// The caps the ingress applies at accept: one address cannot take more than its share, and
/// nobody more than the total; a closed connection gives its slot back.
@Suite struct IngressConnectionLimitsTests {
    @Test func anAddressIsCappedAndOthersStillGetIn() {
        let limits = IngressConnectionLimits(caps: .init(total: 5, perAddress: 2))
        #expect(limits.admit(address: "10.0.0.1") == nil)
        #expect(limits.admit(address: "10.0.0.1") == nil)
        #expect(limits.admit(address: "10.0.0.1") == .perAddress)
        #expect(limits.admit(address: "10.0.0.2") == nil)
        limits.release(address: "10.0.0.1")
        #expect(limits.admit(address: "10.0.0.1") == nil)
        let snapshot = limits.snapshot
        #expect(snapshot.open == 3 && snapshot.addresses == 2 && snapshot.refusedPerAddress == 1)
    }

    @Test func theTotalCapHoldsAcrossAddressesAndFreesOnRelease() {
        let limits = IngressConnectionLimits(caps: .init(total: 3, perAddress: 3))
        for address in ["a", "b", "c"] { #expect(limits.admit(address: address) == nil) }
        #expect(limits.admit(address: "d") == .total)
        limits.release(address: "b")
        #expect(limits.admit(address: "d") == nil)
        for address in ["a", "c", "d"] { limits.release(address: address) }
        #expect(limits.snapshot.open == 0 && limits.snapshot.addresses == 0 && limits.snapshot.refusedTotal == 1)
    }

    /// IPv6 clients count per /64 (what one host is usually given), IPv4-mapped ones as IPv4.
    @Test func anIPv6ClientIsItsSlash64() throws {
        let one = try SocketAddress(ipAddress: "2001:db8:1:2:aaaa::1", port: 1)
        let sameNetwork = try SocketAddress(ipAddress: "2001:db8:1:2:ffff:1:2:3", port: 2)
        let otherNetwork = try SocketAddress(ipAddress: "2001:db8:1:3::1", port: 1)
        #expect(IngressConnectionLimits.client(of: one) == "2001:db8:1:2::/64")
        #expect(IngressConnectionLimits.client(of: sameNetwork) == IngressConnectionLimits.client(of: one))
        #expect(IngressConnectionLimits.client(of: otherNetwork) != IngressConnectionLimits.client(of: one))
        #expect(IngressConnectionLimits.client(of: try SocketAddress(ipAddress: "::ffff:10.1.2.3", port: 1)) == "10.1.2.3")
        #expect(IngressConnectionLimits.client(of: try SocketAddress(ipAddress: "10.1.2.3", port: 1)) == "10.1.2.3")
    }
}
