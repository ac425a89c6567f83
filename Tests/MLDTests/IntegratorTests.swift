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
    /// for a conservative loss, for the global chain and the massive one (chain 1, massive: the
    /// default).
    @Test(arguments: [(false, 1), (false, 3), (true, 1), (true, 3)])
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

    /// CSVR and Langevin on Lennard-Jones argon (256 atoms, N_dof = 765) hold the target
    /// temperature with the canonical fluctuation: mean T within 3 %, std T within 20 % of
    /// T sqrt(2 / N_dof) (a Nose-Hoover or Berendsen-like thermostat at this tau would not give
    /// the latter on its own; a wrong noise amplitude or dof count moves both).
    @Test(arguments: [SimulationSettings.ThermostatKind.csvr, .langevin])
    func stochasticThermostatSamplesCanonicalTemperature(kind: SimulationSettings.ThermostatKind) throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 30, seed: 21)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        var s = settings(dt: 5, thermostat: kind, removeCOM: true)
        s.temperature = 60
        s.tau = kind == .csvr ? 50 : 100
        s.seed = 3
        let sim = try Simulation(configuration: c, backend: backend, settings: s)
        for _ in 0..<600 { try sim.advance() }
        var sum = 0.0, sum2 = 0.0
        let n = 6000
        for _ in 0..<n {
            try sim.advance()
            let T = sim.temperature
            sum += T; sum2 += T * T
        }
        let mean = sum / Double(n), std = (sum2 / Double(n) - mean * mean).squareRoot()
        let canonical = 60 * (2 / sim.degreesOfFreedom).squareRoot()
        print(String(format: "\(kind.rawValue): mean T %.2f K (target 60), std T %.3f K, canonical %.3f K (ratio %.3f), COM drift %.2e Å",
                     mean, std, canonical, std / canonical, sim.centreOfMassDrift))
        #expect(abs(mean - 60) < 0.03 * 60, "mean temperature \(mean) K")
        #expect(abs(std / canonical - 1) < 0.2, "std T \(std) K, canonical \(canonical) K")
        #expect(sim.centreOfMassDrift < 1e-9, "centre of mass moved \(sim.centreOfMassDrift) Å")
    }

    /// CSVR's extended energy (kinetic + potential + heat counter) is conserved for a conservative
    /// loss while the thermostat heats 40 -> 90 K, and so is Langevin's with its heat counter
    /// (BAOAB's error in it is the integrator's): spread below 1e-3 of the heat exchanged.
    @Test(arguments: [SimulationSettings.ThermostatKind.csvr, .langevin])
    func stochasticExtendedEnergyIsConserved(kind: SimulationSettings.ThermostatKind) throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 40, seed: 4)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        var s = settings(dt: 4, thermostat: kind, removeCOM: true)
        s.temperature = 90
        s.tau = 200
        let sim = try Simulation(configuration: c, backend: backend, settings: s)
        let e0 = sim.kineticEnergy + (try DynamicsFixtures.potentialEnergy(sim)) + sim.thermostat.energy
        var ext: [Double] = [], kin: [Double] = [], therm: [Double] = []
        for _ in 0..<1000 {
            try sim.advance()
            let e = sim.kineticEnergy + (try DynamicsFixtures.potentialEnergy(sim))
            kin.append(sim.kineticEnergy)
            therm.append(sim.thermostat.energy)
            ext.append(e + sim.thermostat.energy)
        }
        #expect(kin.last! > 1.5 * kin.first!)
        #expect(abs(therm.last!) > 0.05 * kin.last!)
        let spread = ext.max()! - ext.min()!, drift = abs(ext.last! - e0)
        print(String(format: "\(kind.rawValue): extended energy spread %.3e eV, drift %.3e eV over 1000 steps of 4 fs; heat counter %.4f eV, kinetic %.4f eV",
                     spread, drift, therm.last!, kin.last!))
        let bound = 1e-3
        #expect(spread < bound * abs(therm.last!), "extended energy spread \(spread) eV, thermostat \(therm.last!) eV")
    }

    /// A stochastic thermostat's time constant must be a positive finite number of fs.
    @Test(arguments: [SimulationSettings.ThermostatKind.csvr, .langevin])
    func stochasticThermostatRefusesBadTau(kind: SimulationSettings.ThermostatKind) throws {
        let c = DynamicsFixtures.argonCrystal(temperature: 40, seed: 4)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        for tau in [0, -5, .nan, .infinity] as [Double] {
            var s = settings(dt: 4, thermostat: kind, removeCOM: true)
            s.tau = tau
            do {
                _ = try Simulation(configuration: c, backend: backend, settings: s)
                Issue.record("tau \(tau) accepted")
            } catch let MLDError.usage(line) {
                #expect(line.contains("tau") && line.contains(kind.rawValue) && !line.contains("\n"), "\(line)")
            }
        }
    }

    /// The CSVR propagator on its own: the kinetic energy it draws has the canonical mean and
    /// variance (Gamma(N_f / 2, kT) for any starting value), and Marsaglia-Tsang's gamma deviates
    /// have the right moments for small and large shapes.
    @Test func csvrKineticEnergyIsGammaDistributed() {
        for nf in [2.0, 765.0] {
            var t = CSVRThermostat(degreesOfFreedom: nf, temperature: 100, tau: 10, seed: 7)
            let kT = Units.boltzmann * 100
            var k = 5 * nf * kT, sum = 0.0, sum2 = 0.0
            let n = 40_000
            for step in 0..<(n + 200) {
                k *= pow(t.halfStep(kinetic: k, dt: 20), 2)
                if step >= 200 { sum += k; sum2 += k * k }
            }
            let mean = sum / Double(n), variance = sum2 / Double(n) - mean * mean
            #expect(abs(mean / (0.5 * nf * kT) - 1) < 0.03, "N_f \(nf): mean K \(mean)")
            #expect(abs(variance / (0.5 * nf * kT * kT) - 1) < 0.08, "N_f \(nf): variance \(variance)")
        }
        var g = MLD.SplitMix64(seed: 5)
        for a in [0.5, 1.0, 3.7, 382.0] {
            var s = 0.0, s2 = 0.0
            let n = 50_000
            for _ in 0..<n { let x = g.nextGamma(shape: a); s += x; s2 += x * x }
            let m = s / Double(n), v = s2 / Double(n) - m * m
            #expect(abs(m / a - 1) < 0.02 && abs(v / a - 1) < 0.05, "shape \(a): mean \(m), variance \(v)")
        }
    }
}
