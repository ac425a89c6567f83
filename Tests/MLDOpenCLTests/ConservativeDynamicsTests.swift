import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// NVE dynamics of a conservative model (nearest O:6,H:8, fitted conservatively) from CP2K frame
/// 599 on the OpenCL backend against the same run on the CPU backend: 200 steps of 0.5 fs, short
/// enough that rounding differences of 1e-12 in the forces have not yet grown into separate
/// trajectories. The energy ledger (kinetic + U, and the work of the forces against -dU) must
/// follow the CPU's; the net force on the system must vanish at every step.
@Suite(.enabled(if: openCLAvailable, "needs an OpenCL device (SKIPPED otherwise, see OpenCLAvailabilityTests)"))
struct ConservativeDynamicsTests {
    struct Ledger { var conserved: [Double]; var work: Double; var positions: [SIMD3<Double>]; var net: Double }

    static func nve(_ backend: TestBackend, steps: Int) throws -> Ledger {
        let run = try WaterData.run.get(), model = try ConservativeParityTests.fittedNearest.get()
        let frame = run.frames[599]
        var settings = SimulationSettings()
        settings.thermostat = .none
        settings.every = 1      // the losses (U) of every step
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let b: any ForceBackend
        switch backend {
        case .cpu: b = try CPUBackend(model: model, species: species, box: frame.box, skin: settings.skin)
        case let .opencl(p): b = try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box,
                                                   precision: p, skin: settings.skin)
        }
        let sim = try Simulation(configuration: frame, backend: b, settings: settings)
        sim.conservativeForces = true
        var conserved = [sim.conservedEnergy], net = 0.0
        for _ in 0..<steps {
            try sim.advance()
            conserved.append(sim.conservedEnergy)
            net = max(net, (sim.netForce * sim.netForce).sum().squareRoot())
        }
        return Ledger(conserved: conserved, work: sim.nonConservativeWork, positions: sim.positions, net: net)
    }

    @Test func nveFollowsTheCPUBackend() throws {
        let steps = 200
        let cpu = try Self.nve(.cpu, steps: steps)
        let drift = { (l: Ledger) in l.conserved.map { abs($0 - l.conserved[0]) }.max()! }
        print(String(format: "conservative NVE [cpu] %d steps: conserved energy within %.3g eV, non-conservative work %.3g eV, net force %.3g eV/Å",
                     steps, drift(cpu), cpu.work, cpu.net))
        for b in TestBackend.openCL {
            let o = try Self.nve(b, steps: steps)
            let dE = zip(o.conserved, cpu.conserved).map { abs($0 - $1) }.max()!
            let dq = zip(o.positions, cpu.positions).map { (($0 - $1) * ($0 - $1)).sum().squareRoot() }.max()!
            print(String(format: "conservative NVE [%@] %d steps: conserved energy within %.3g eV, non-conservative work %.3g eV, net force %.3g eV/Å; against cpu: energy %.3g eV, positions %.3g Å",
                         b.description, steps, drift(o), o.work, o.net, dE, dq))
            #expect(dE < 1e-6, "\(b): conserved energy differs from the cpu run by \(dE) eV")
            #expect(dq < 1e-6, "\(b): positions differ from the cpu run by \(dq) Å")
            #expect(abs(o.work - cpu.work) < 1e-6)
            #expect(o.net < 1e-10, "\(b): net force \(o.net) eV/Å")
        }
    }
}
