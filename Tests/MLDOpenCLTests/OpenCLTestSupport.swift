import Foundation
import MLD
@testable import MLDOpenCL

/// A tiny seeded generator (SplitMix64) so every random system is repeatable.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Whether an OpenCL device exists here. Suites that need one are `.enabled(if:)` on it; when
/// it is false, `OpenCLAvailabilityTests` prints a loud SKIPPED line so a machine without
/// OpenCL never passes the OpenCL tests silently.
let openCLAvailable: Bool = !OpenCLDeviceInfo.all().isEmpty

/// The precisions the test device offers (double only with fp64).
var testPrecisions: [OpenCLPrecision] {
    guard let d = OpenCLDeviceInfo.all().first else { return [] }
    return d.fp64 ? [.single, .double] : [.single]
}

/// Random positions in a box, a fraction of them moved outside the primary cell.
func randomPositions(_ n: Int, box: Box, rng: inout SplitMix64, outside: Double = 0.1) -> [SIMD3<Double>] {
    (0..<n).map { _ in
        var r = SIMD3(Double.random(in: 0..<1, using: &rng), Double.random(in: 0..<1, using: &rng),
                      Double.random(in: 0..<1, using: &rng)) * box.lengths
        if Double.random(in: 0..<1, using: &rng) < outside {
            r += box.lengths * SIMD3(Double(Int.random(in: -2...2, using: &rng)),
                                     Double(Int.random(in: -2...2, using: &rng)),
                                     Double(Int.random(in: -2...2, using: &rng)))
        }
        return r
    }
}
