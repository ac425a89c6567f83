import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// The short learned-dynamics run (1 ps of the bundled water from a CP2K frame, the dynamics
/// defaults) repeated on every backend: the trajectories separate (the dynamics is chaotic), but
/// the mean temperature and the O-H bond statistics must agree within their noise. Noise: with
/// a temperature standard deviation near 25 K and a correlation time near 50 fs, the mean of a
/// 1 ps run carries about 5 K of statistical error, the difference of two runs about 7 K, so
/// runs may differ by 20 K (3 sigma); the mean O-H bond (128 bonds every 10 steps) by 0.003 Å.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct LearnedDynamicsBackendTests {
    struct Outcome { var meanT: Double; var stdT: Double; var bond: Double; var bondStd: Double; var minBond: Double; var maxBond: Double }

    static func simulate(_ backend: TestBackend, steps: Int) throws -> Outcome {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        let frame = run.frames[599]
        let settings = SimulationSettings()
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let b = try backend.make(model, species: species, box: frame.box, skin: settings.skin)
        let sim = try Simulation(configuration: frame, backend: b, settings: settings)
        for _ in 0..<steps { try sim.advance() }
        let s = sim.statistics
        return Outcome(meanT: s.meanTemperature, stdT: s.temperatureStd, bond: s.meanBond, bondStd: s.bondStd,
                       minBond: s.minBond, maxBond: s.maxBond)
    }

    @Test func oneps_statisticsAgreeAcrossBackends() throws {
        let steps = 2000
        let cpu = try Self.simulate(.cpu, steps: steps)
        print(String(format: "dynamics [cpu] %d steps: T %.1f +- %.1f K, O-H %.4f +- %.4f Å (%.3f..%.3f)",
                     steps, cpu.meanT, cpu.stdT, cpu.bond, cpu.bondStd, cpu.minBond, cpu.maxBond))
        for b in TestBackend.openCL {
            let o = try Self.simulate(b, steps: steps)
            print(String(format: "dynamics [%@] %d steps: T %.1f +- %.1f K, O-H %.4f +- %.4f Å (%.3f..%.3f)",
                         b.description, steps, o.meanT, o.stdT, o.bond, o.bondStd, o.minBond, o.maxBond))
            #expect(abs(o.meanT - cpu.meanT) < 20, "\(b): mean temperature \(o.meanT) K vs cpu \(cpu.meanT) K")
            #expect(abs(o.bond - cpu.bond) < 0.003, "\(b): mean O-H \(o.bond) Å vs cpu \(cpu.bond) Å")
            #expect(abs(o.bondStd - cpu.bondStd) < 0.003, "\(b): O-H std \(o.bondStd) Å vs cpu \(cpu.bondStd) Å")
            #expect(o.minBond > 0.8 && o.maxBond < 1.3, "\(b): O-H bonds \(o.minBond)..\(o.maxBond) Å")
            // How close the mean stays to the 300 K target is the thermostat's and the model's
            // business (this quick fit runs near 330 K on every backend); here only a sanity bound.
            #expect(abs(o.meanT - 300) < 60, "\(b): mean temperature \(o.meanT) K")
        }
    }

    /// In double precision the OpenCL run follows the CPU run itself, not only its statistics:
    /// the same model from the same start (the dynamics defaults: 0.5 fs, Nose-Hoover at 300 K)
    /// gives positions that agree to 1e-9 Å after 20 steps (measured on PoCL: see the printed
    /// line; forces agree to 1e-12 relative, and 20 steps cannot amplify that to 1e-9).
    @Test(.enabled(if: testPrecisions.contains(.double), "needs an fp64 OpenCL device"))
    func doublePrecisionTrajectoryFollowsTheCPU() throws {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        let frame = run.frames[599]
        let settings = SimulationSettings()
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        func simulation(_ b: TestBackend) throws -> Simulation {
            try Simulation(configuration: frame, backend: try b.make(model, species: species, box: frame.box, skin: settings.skin),
                           settings: settings)
        }
        func largest(_ a: [SIMD3<Double>], _ b: [SIMD3<Double>]) -> Double {
            zip(a, b).map { x, y in let d = x - y; return max(abs(d.x), abs(d.y), abs(d.z)) }.max()!
        }
        let cpu = try simulation(.cpu), gpu = try simulation(.opencl(.double))
        var worst: [Double] = []
        for _ in 0..<20 {
            try cpu.advance(); try gpu.advance()
            worst.append(largest(cpu.positions, gpu.positions))
        }
        let moved = largest(cpu.positions, frame.positions)
        print(String(format: "trajectory [opencl-double vs cpu]: largest position difference after 1, 5, 10, 20 steps: %.2e %.2e %.2e %.2e Å (atoms moved up to %.3f Å)",
                     worst[0], worst[4], worst[9], worst[19], moved))
        #expect(worst[19] < 1e-9, "positions differ by \(worst[19]) Å after 20 steps")
        // The runs did move (the comparison is not of two copies of the start).
        #expect(moved > 1e-3)
        #expect(largest(cpu.velocities, gpu.velocities) < 1e-9)
    }
}
