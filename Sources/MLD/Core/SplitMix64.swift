import Foundation

/// SplitMix64 (Steele, Lea and Flood 2014): a small, fast, seeded generator whose whole state is
/// one UInt64 (saved in checkpoints). Used wherever mld needs repeatable random numbers.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func nextUniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Three independent standard normal numbers (Box-Muller).
    @inline(__always)
    public mutating func nextNormal3() -> SIMD3<Double> {
        let r1 = (-2 * log(1 - nextUniform())).squareRoot(), t1 = 2 * .pi * nextUniform()
        let r2 = (-2 * log(1 - nextUniform())).squareRoot(), t2 = 2 * .pi * nextUniform()
        return SIMD3(r1 * cos(t1), r1 * sin(t1), r2 * cos(t2))
    }
}
