import Foundation
import Testing
@testable import MLD

/// A test backend whose forces have a curl: F = -k (q - c) + s ez x (q - c). The rotational part
/// is not the gradient of anything, like selfish agents' forces; the losses are the trap's energy.
final class SwirlBackend: ForceBackend {
    let name = "swirl"
    let deviceName = "test"
    let neighbourListBuilds = 0
    let k: Double, s: Double
    init(k: Double, s: Double) { self.k = k; self.s = s }
    func computeForces(positions: [SIMD3<Double>], forces: inout [SIMD3<Double>], losses: inout [Double]?) throws {
        forces = positions.map { q in -k * q + s * SIMD3(-q.y, q.x, 0) }
        if losses != nil { losses = positions.map { 0.5 * k * ($0 * $0).sum() } }
    }
}

/// thermo.csv's energies: U, the work of the forces and the conserved quantity.
@Suite struct EnergyLedgerTests {
    static func settings() -> SimulationSettings {
        var s = SimulationSettings()
        s.timeStep = 0.2
        s.thermostat = .none
        s.removeCentreOfMass = false
        s.every = 1
        s.maxTemperature = 1e12      // two atoms: the temperature of a few eV is huge
        s.maxDisplacement = 100
        return s
    }

    static let atoms = [Element.oxygen, Element.hydrogen]
    static let x0: [SIMD3<Double>] = [SIMD3(0.1, -0.05, 0.02), SIMD3(-0.03, 0.08, 0.0)]
    static let v0: [SIMD3<Double>] = [SIMD3(0.001, 0.002, -0.001), SIMD3(0.01, -0.02, 0.005)]

    /// Conservative forces: kinetic + U is conserved to the integration error, and the work of
    /// the forces is -dU (the non-conservative work stays at the integration error).
    @Test func conservativeForcesConserveKineticPlusPotential() throws {
        let c = Configuration(atoms: Self.atoms, positions: Self.x0, velocities: Self.v0, box: Box(cubic: 10))
        let sim = try Simulation(configuration: c, backend: HarmonicTrapBackend(k: 2, centres: [.zero, .zero]),
                                 settings: Self.settings())
        sim.conservativeForces = true
        let e0 = sim.conservedEnergy
        var worst = 0.0, scale = 0.0
        for _ in 0..<2000 {
            try sim.advance()
            worst = max(worst, abs(sim.conservedEnergy - e0))
            scale = max(scale, sim.potentialEnergy)
        }
        #expect(scale > 1e-3)
        // Velocity Verlet's energy error at dt = 0.2 fs is about 1e-3 of U here.
        #expect(worst < 1e-2 * scale, "conserved energy moved by \(worst) eV (U up to \(scale) eV)")
        #expect(abs(sim.nonConservativeWork) < 1e-2 * scale)
    }

    /// Forces with a curl do work that U does not account for: it shows in
    /// nonconservative_work_eV, and conserved_eV (kinetic + U - that work) stays constant.
    @Test func nonConservativeWorkIsAccountedFor() throws {
        let c = Configuration(atoms: Self.atoms, positions: Self.x0, velocities: Self.v0, box: Box(cubic: 10))
        let sim = try Simulation(configuration: c, backend: SwirlBackend(k: 2, s: 0.1), settings: Self.settings())
        sim.conservativeForces = false
        let e0 = sim.conservedEnergy
        let naive0 = sim.kineticEnergy + sim.potentialEnergy
        var worst = 0.0
        for _ in 0..<2000 {
            try sim.advance()
            worst = max(worst, abs(sim.conservedEnergy - e0))
        }
        let naiveDrift = abs(sim.kineticEnergy + sim.potentialEnergy - naive0)
        #expect(abs(sim.nonConservativeWork) > 10 * worst, "work \(sim.nonConservativeWork) eV, conserved moved \(worst) eV")
        #expect(naiveDrift > 10 * worst, "kinetic + U moved \(naiveDrift) eV, conserved \(worst) eV")
    }

    /// The ledger goes into the checkpoint: a resumed simulation continues the same numbers.
    @Test func ledgerSurvivesACheckpoint() throws {
        let c = Configuration(atoms: Self.atoms, positions: Self.x0, velocities: Self.v0, box: Box(cubic: 10))
        let a = try Simulation(configuration: c, backend: SwirlBackend(k: 2, s: 0.5), settings: Self.settings())
        for _ in 0..<300 { try a.advance() }
        let ck = try Checkpoint(contentsOf: {
            let p = DynamicsFixtures.temporaryDirectory("ledger") + "/ck.bin"
            try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Checkpoint(simulation: a, rngState: 0, wallSeconds: 0, trajectoryBytes: 0, thermoBytes: 0).write(to: p)
            return p
        }())
        let b = try Simulation(checkpoint: ck, backend: SwirlBackend(k: 2, s: 0.5), settings: Self.settings())
        #expect(b.energyLedger == a.energyLedger)
        for _ in 0..<200 { try a.advance(); try b.advance() }
        #expect(a.forceWork == b.forceWork && a.startPotential == b.startPotential)
        #expect(a.conservedEnergy == b.conservedEnergy)
    }
}
