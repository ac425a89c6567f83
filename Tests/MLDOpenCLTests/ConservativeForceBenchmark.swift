import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// A benchmark, not a test (no timing is asserted): the cost of conservative against selfish
/// forces for the same parameters, called in turn, on the last CP2K frame (192 atoms) and on it replicated
/// 4 x 4 x 4 (12,288 atoms), for the nearest O:6,H:8 distances and for the mixed model
/// (distances + the labelled angles + 12 angular sums), on the CPU backend and on OpenCL in each
/// precision. Runs only with MLD_OPENCL_BENCH=1:
///   MLD_OPENCL_BENCH=1 swift test -c release -Xswiftc -enable-testing --skip-build --filter ConservativeForceBenchmark
@Suite(.enabled(if: ProcessInfo.processInfo.environment["MLD_OPENCL_BENCH"] == "1" && openCLAvailable,
                "benchmark: runs with MLD_OPENCL_BENCH=1 on a machine with an OpenCL device"))
struct ConservativeForceBenchmark {
    /// Milliseconds per force call of each backend (medians of `calls` calls each after a
    /// warm-up), the backends called in turn so they share the machine's load alike, with
    /// thermal-sized moves of 0.01 Å per round so the lists rebuild at their natural rate.
    static func time(_ backends: [any ForceBackend], _ positions: [SIMD3<Double>], calls: Int) throws -> [Double] {
        var f: [SIMD3<Double>] = []
        var l: [Double]? = nil
        for b in backends { try b.computeForces(positions: positions, forces: &f, losses: &l) }
        var rng = SplitMix64(seed: 1)
        var p = positions
        var times = [[Double]](repeating: [], count: backends.count)
        for _ in 0..<calls {
            for i in p.indices {
                p[i] += SIMD3(Double.random(in: -0.01...0.01, using: &rng), Double.random(in: -0.01...0.01, using: &rng),
                              Double.random(in: -0.01...0.01, using: &rng))
            }
            for (k, b) in backends.enumerated() {
                let start = Date()
                try b.computeForces(positions: p, forces: &f, losses: &l)
                times[k].append(Date().timeIntervalSince(start) * 1e3)
            }
        }
        return times.map { $0.sorted()[$0.count / 2] }
    }

    @Test func conservativeAgainstSelfish() throws {
        let run = try WaterData.run.get()
        let models = [("nearest", try WaterData.nearestModel.get()), ("nearest+labelled+sums", try WaterData.labelledSumsModel.get())]
        print("BENCH model, backend, atoms, selfish ms/call, conservative ms/call, ratio, device bytes/atom selfish, conservative")
        for (name, base) in models {
            for rep in [1, 4] {
                let frame = run.frames[899].replicated(SIMD3(rep, rep, rep))
                let species = try base.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
                let calls = rep == 1 ? 61 : 9
                for b in TestBackend.all {
                    var backends: [any ForceBackend] = []
                    for agents in [AgentKind.selfish, .conservative] {
                        var model = base
                        model.agents = agents
                        switch b {
                        case .cpu: backends.append(try CPUBackend(model: model, species: species, box: frame.box))
                        case let .opencl(p):
                            backends.append(try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box, precision: p))
                        }
                    }
                    let ms = try Self.time(backends, frame.positions, calls: calls)
                    let bytes = backends.map { ($0 as? OpenCLBackend).map { String(Double($0.deviceBytes) / Double(frame.count)) } ?? "-" }
                    print(String(format: "BENCH %@, %@, %d, %.3f, %.3f, %.2f, ", name, b.description, frame.count, ms[0], ms[1], ms[1] / ms[0])
                          + bytes.joined(separator: ", "))
                }
            }
        }
    }
}
