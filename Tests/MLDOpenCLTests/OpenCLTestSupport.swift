import Foundation
import MLD
@testable import MLDOpenCL


/// Whether an OpenCL device exists here. Suites that need one are `.enabled(if:)` on it; when
/// it is false, `OpenCLAvailabilityTests` prints a loud SKIPPED line so a machine without
/// OpenCL never passes the OpenCL tests silently.
let openCLAvailable: Bool = !OpenCLDeviceInfo.all().isEmpty

/// `MLD_REQUIRE_OPENCL=1` (set by `make test`): a missing OpenCL platform or device is a test
/// failure (`OpenCLAvailabilityTests`), not a skip.
let openCLRequired: Bool = ProcessInfo.processInfo.environment["MLD_REQUIRE_OPENCL"] == "1"

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
