import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// A benchmark, not a test (no timing is asserted): force evaluations per second of every
/// backend on the last CP2K frame replicated 1, 2, 4 and 8 times along each axis (192 to
/// 98,304 atoms), with the per-step transfer time and device memory of OpenCL. Runs only with
/// MLD_OPENCL_BENCH=1:
///   MLD_OPENCL_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter OpenCLForceBenchmark
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MLD_OPENCL_BENCH"] == "1" && openCLAvailable,
                "benchmark: runs with MLD_OPENCL_BENCH=1 on a machine with an OpenCL device"))
struct OpenCLForceBenchmark {
    @Test func forceEvaluationsPerSecond() throws {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        let frame = run.frames[899]
        let s0 = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        print("BENCH backend, atoms, ms per force call, atom-evaluations/s, list builds, OpenCL transfer ms/call, kernel ms/call, device bytes/atom")
        for rep in [1, 2, 4, 8] {
            var positions: [SIMD3<Double>] = [], species: [Int] = []
            for x in 0..<rep { for y in 0..<rep { for z in 0..<rep {
                let shift = frame.box.lengths * SIMD3(Double(x), Double(y), Double(z))
                positions += frame.positions.map { $0 + shift }
                species += s0
            } } }
            let box = Box(frame.box.lengths * Double(rep))
            for b in TestBackend.all {
                let backend = try b.make(model, species: species, box: box)
                var f: [SIMD3<Double>] = []
                var l: [Double]? = nil
                try backend.computeForces(positions: positions, forces: &f, losses: &l)   // warm-up
                let (t0, k0) = ((backend as? OpenCLBackend)?.transferSeconds ?? 0, (backend as? OpenCLBackend)?.kernelSeconds ?? 0)
                var rng = SplitMix64(seed: 1)
                var p = positions
                let calls = rep >= 8 ? 10 : 40
                let start = Date()
                for _ in 0..<calls {
                    // Thermal-sized moves (0.01 Å per call): rebuilds at their natural rate.
                    for i in p.indices {
                        p[i] += SIMD3(Double.random(in: -0.01...0.01, using: &rng), Double.random(in: -0.01...0.01, using: &rng),
                                      Double.random(in: -0.01...0.01, using: &rng))
                    }
                    try backend.computeForces(positions: p, forces: &f, losses: &l)
                }
                let dt = Date().timeIntervalSince(start) / Double(calls)
                var extra = ", -, -, -"
                if let o = backend as? OpenCLBackend {
                    extra = String(format: ", %.3f, %.3f, %.0f", (o.transferSeconds - t0) / Double(calls) * 1e3,
                                   (o.kernelSeconds - k0) / Double(calls) * 1e3, Double(o.deviceBytes) / Double(positions.count))
                }
                print(String(format: "BENCH %@, %d, %.3f, %.3g, %d", b.description, positions.count, dt * 1e3,
                             Double(positions.count) / dt, backend.neighbourListBuilds) + extra + " (\(backend.deviceName))")
            }
        }
    }
}
