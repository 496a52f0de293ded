import Synchronization

/// A small, fast, seedable generator (Steele, Lea & Flood's SplitMix64).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15
    var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// The output function: a bijection, so distinct states give distinct outputs.
    public static func mix(_ state: UInt64) -> UInt64 {
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Uniform random numbers for choices that must be fair, not secret (weighted routing, retry
/// jitter, the random part of request ids): one SplitMix64 shared by all threads, its state
/// an atomic counter seeded once from the system's generator. Why not `SystemRandomNumberGenerator`:
/// on Linux every draw is a `getrandom` system call, two per request on the hot path.
/// Keys and other secrets keep using the system generator (`RandomIdentifier.base62`).
public enum SharedRandom {
    private static let state = Atomic<UInt64>(UInt64.random(in: .min ... .max))

    public static func next() -> UInt64 {
        SplitMix64.mix(state.wrappingAdd(SplitMix64.increment, ordering: .relaxed).newValue)
    }

    /// A number in [0, 1) with 53 random bits.
    public static func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }
}
