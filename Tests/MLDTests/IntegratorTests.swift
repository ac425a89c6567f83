import Foundation
import Testing
@testable import MLD

/// Velocity Verlet and the Nose-Hoover chains on systems with known answers.
@Suite struct IntegratorTests {
    func settings(dt: Double, thermostat: SimulationSettings.ThermostatKind = .none,
                  removeCOM: Bool = false) -> SimulationSettings {
        var s = SimulationSettings()
        s.timeStep = dt
        s.thermostat = thermostat
        s.removeCentreOfMass = removeCOM
        s.every = 1_000_000
        return s
    }

    /// Harmonic traps: x(t) = x0 cos(wt) + v0/w sin(wt); velocity Verlet's error is O(dt²).
    @Test func harmonicOscillatorFollowsExactSolution() throws {
        let k = 2.0                                        // eV/Å²
        let atoms = [Element.oxygen, Element.hydrogen]
        let x0: [SIMD3<Double>] = [SIMD3(0.1, -0.05, 0.02), SIMD3(-0.03, 0.08, 0.0)]
        let v0: [SIMD3<Double>] = [SIMD3(0.001, 0.002, -0.001), SIMD3(0.01, -0.02, 0.005)]
        func error(dt: Double) throws -> Double {
            let c = Configuration(atoms: atoms, positions: x0, velocities: v0, box: Box(cubic: 10))
            let sim = try Simulation(configuration: c, backend: HarmonicTrapBackend(k: k, centres: [.zero, .zero]),
                                     settings: settings(dt: dt))
            let T = 50.0                                    // fs
            let steps = Int((T / dt).rounded())
            for _ in 0..<steps { try sim.advance() }
            var worst = 0.0
            for i in 0..<2 {
                let w = (k * Units.forceOverMass / atoms[i].mass).squareRoot()
                let t = Double(steps) * dt
                let exact = x0[i] * cos(w * t) + v0[i] / w * sin(w * t)
                let d = sim.positions[i] - exact
                worst = max(worst, (d * d).sum().squareRoot() / (x0[i] * x0[i]).sum().squareRoot())
            }
            return worst
        }
        let e1 = try error(dt: 0.2), e2 = try error(dt: 0.1)
        #expect(e1 < 0.02)
        #expect(e2 < 0.005)
        let ratio = e1 / e2
        #expect(ratio > 3.3 && ratio < 4.8, "error ratio \(ratio) for halving dt (expected about 4)")
    }

    /// NVE on Lennard-Jones argon (a conservative pair loss): the total energy fluctuates with an
    /// amplitude that scales as dt² and does not drift.
    @Test func nveConservesEnergyWithDtSquaredScaling() throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 60, seed: 1)
        func energySeries(dt: Double, time: Double) throws -> [Double] {
            let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
            let sim = try Simulation(configuration: c, backend: backend, settings: settings(dt: dt, removeCOM: true))
            var e: [Double] = []
            let steps = Int(time / dt)
            for s in 0..<steps {
                try sim.advance()
                if s % max(1, steps / 100) == 0 { e.append(sim.kineticEnergy + (try DynamicsFixtures.potentialEnergy(sim))) }
            }
            return e
        }
        let a = try energySeries(dt: 8, time: 2000), b = try energySeries(dt: 4, time: 2000)
        func spread(_ e: [Double]) -> Double { e.max()! - e.min()! }
        func drift(_ e: [Double]) -> Double {
            let h = e.count / 2
            return abs(e[h...].reduce(0, +) / Double(e.count - h) - e[..<h].reduce(0, +) / Double(h))
        }
        let kinetic = 1.5 * Double(c.count) * Units.boltzmann * 60
        #expect(spread(b) < 2e-3 * kinetic, "energy spread \(spread(b)) eV")
        #expect(drift(b) < 0.25 * spread(b) + 1e-6)
        let ratio = spread(a) / spread(b)
        #expect(ratio > 2.8 && ratio < 5.5, "spread ratio \(ratio) for halving dt (expected about 4)")
    }

    /// The Nose-Hoover chain's extended energy (kinetic + potential + thermostat) is conserved
    /// for a conservative loss, for the global chain and the massive one.
    @Test(arguments: [(false, 1), (false, 3), (true, 3)])
    func noseHooverExtendedEnergyIsConserved(massive: Bool, chain: Int) throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 40, seed: 4)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        var s = settings(dt: 4, thermostat: .noseHoover, removeCOM: true)
        s.temperature = 90
        s.tau = 200
        s.massive = massive
        s.chainLength = chain
        let sim = try Simulation(configuration: c, backend: backend, settings: s)
        var ext: [Double] = [], kin: [Double] = [], therm: [Double] = []
        for _ in 0..<1000 {
            try sim.advance()
            let e = sim.kineticEnergy + (try DynamicsFixtures.potentialEnergy(sim))
            kin.append(sim.kineticEnergy)
            therm.append(sim.thermostat.energy)
            ext.append(e + sim.thermostat.energy)
        }
        // The thermostat did real work (heated from 40 K towards 90 K) ...
        #expect(kin.last! > 1.5 * kin.first!)
        #expect(abs(therm.last!) > 0.05 * kin.last!)
        // ... while the extended energy stayed put.
        let spread = ext.max()! - ext.min()!
        #expect(spread < 2e-3 * abs(therm.last!), "extended energy spread \(spread) eV, thermostat \(therm.last!) eV")
    }

    /// A thermostatted run converges to the target temperature.
    @Test func thermostattedTemperatureConvergesToTarget() throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 20, seed: 9)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        var s = settings(dt: 5, thermostat: .noseHoover, removeCOM: true)
        s.temperature = 80
        s.tau = 100
        let sim = try Simulation(configuration: c, backend: backend, settings: s)
        for _ in 0..<1500 { try sim.advance() }
        var sum = 0.0
        let n = 3000
        for _ in 0..<n { try sim.advance(); sum += sim.temperature }
        let mean = sum / Double(n)
        #expect(abs(mean - 80) < 4, "mean temperature \(mean) K")
    }

    /// Centre-of-mass removal: zero net momentum throughout, 3N - 3 degrees of freedom.
    @Test func centreOfMassStaysPut() throws {
        var c = DynamicsFixtures.argonCrystal(temperature: 60, seed: 6)
        c.velocities = c.velocities!.map { $0 + SIMD3(0.001, 0, 0) }
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        let sim = try Simulation(configuration: c, backend: backend, settings: settings(dt: 5, thermostat: .noseHoover, removeCOM: true))
        #expect(sim.degreesOfFreedom == Double(3 * c.count - 3))
        for _ in 0..<200 { try sim.advance() }
        #expect(sim.centreOfMassDrift < 1e-10)
        let kept = try Simulation(configuration: c, backend: backend, settings: settings(dt: 5, thermostat: .none, removeCOM: false))
        #expect(kept.degreesOfFreedom == Double(3 * c.count))
        for _ in 0..<200 { try kept.advance() }
        #expect(abs(kept.centreOfMassDrift - 0.001 * 1000) < 1e-6)
    }
}
