import Foundation
import Testing
@testable import MLD

/// The fused velocity Verlet step (`Simulation+FusedStep.swift`): the same dynamics as the plain
/// passes it replaced, and the same bits whatever the thread count.
@Suite struct FusedStepTests {
    /// 11³ fcc cells of argon: 5,324 atoms, several blocks of the fused passes.
    static let crystal = DynamicsFixtures.argonCrystal(cells: 11, temperature: 80, seed: 31)

    func settings(massive: Bool) -> SimulationSettings {
        var s = SimulationSettings()
        s.timeStep = 5
        s.temperature = 70
        s.tau = 100
        s.massive = massive
        s.every = 5
        return s
    }

    func simulation(massive: Bool, threads: Int) throws -> Simulation {
        let c = Self.crystal
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box, threads: threads)
        let sim = try Simulation(configuration: c, backend: backend, settings: settings(massive: massive))
        sim.blocks = AtomBlocks(atoms: c.count, threads: threads)
        return sim
    }

    @Test(arguments: [false, true])
    func threadCountDoesNotChangeABit(massive: Bool) throws {
        let one = try simulation(massive: massive, threads: 1)
        let two = try simulation(massive: massive, threads: 2)
        #expect(one.blocks.count == (5324 + AtomBlocks.size - 1) / AtomBlocks.size && one.blocks.count > 2)
        #expect(!one.blocks.parallel && two.blocks.parallel)
        for _ in 0..<12 { try one.advance(); try two.advance() }
        #expect(one.positions == two.positions)
        #expect(one.velocities == two.velocities)
        #expect(one.forces == two.forces)
        #expect(one.thermostat == two.thermostat)
        #expect(one.forceWork == two.forceWork)
        #expect(one.kineticEnergy == two.kineticEnergy)
        #expect(one.statistics == two.statistics)
    }

    /// The step as separate plain passes (thermostat half step, centre-of-mass removal, kick,
    /// drift, forces, net-force removal, kick, thermostat half step, removal), one atom after the
    /// other: the fused step must follow it to rounding.
    @Test(arguments: [false, true])
    func fusedStepFollowsThePlainPasses(massive: Bool) throws {
        let sim = try simulation(massive: massive, threads: 2)
        let c = Self.crystal
        let s = settings(massive: massive)
        let backend = try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
        let m = sim.masses, M = m.reduce(0, +)
        let accel = m.map { Units.forceOverMass / $0 }
        var q = sim.positions, v = sim.velocities, f = sim.forces
        var thermostat = try Thermostat(settings: s, atoms: c.count, degreesOfFreedom: sim.degreesOfFreedom)
        func removeMomentum(_ v: inout [SIMD3<Double>]) {
            var p = SIMD3<Double>()
            for i in 0..<v.count { p += m[i] * v[i] }
            for i in 0..<v.count { v[i] -= p / M }
        }
        let dt = s.timeStep
        for _ in 0..<12 {
            thermostat.halfStep(velocities: &v, masses: m, dt: dt)
            if massive { removeMomentum(&v) }
            VelocityVerlet.kick(&v, forces: f, accel: accel, h: 0.5 * dt)
            VelocityVerlet.drift(&q, velocities: v, h: dt)
            var l: [Double]? = nil
            try backend.computeForces(positions: q, forces: &f, losses: &l)
            let net = f.reduce(SIMD3<Double>(), +)
            for i in 0..<f.count { f[i] -= m[i] * (net / M) }
            VelocityVerlet.kick(&v, forces: f, accel: accel, h: 0.5 * dt)
            thermostat.halfStep(velocities: &v, masses: m, dt: dt)
            if massive { removeMomentum(&v) }
            try sim.advance()
        }
        var dq = 0.0, dv = 0.0, vmax = 0.0
        for i in 0..<q.count {
            dq = max(dq, (sim.positions[i] - q[i]).max(), (q[i] - sim.positions[i]).max())
            dv = max(dv, (sim.velocities[i] - v[i]).max(), (v[i] - sim.velocities[i]).max())
            vmax = max(vmax, abs(v[i].x), abs(v[i].y), abs(v[i].z))
        }
        #expect(dq < 1e-11, "positions differ by \(dq) Å")
        #expect(dv < 1e-10 * vmax, "velocities differ by \(dv) Å/fs")
        var ke = 0.0
        for i in 0..<v.count { ke += m[i] * (v[i] * v[i]).sum() }
        ke *= 0.5 * Units.massVelocitySquared
        #expect(abs(sim.kineticEnergy - ke) < 1e-10 * ke)
    }
}
