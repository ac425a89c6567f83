import Foundation
import MLD
import Testing
@testable import MLDOpenCL

/// Device-resident steps (`OpenCLResidentDynamics`) against the host path on the same OpenCL
/// backend: the same trajectory to 1e-10 over 100 steps in double precision for every thermostat
/// the device runs, a bit-identical resume from a checkpoint, Langevin refused, and the same
/// statistics over a picosecond in single precision.
@Suite(.serialized, .enabled(if: openCLAvailable && everyDeviceHasFP64, "needs an OpenCL device with fp64 (SKIPPED otherwise)"))
struct ResidentDynamicsTests {
    enum Kind: String, CaseIterable { case massive, global, csvr, none }

    static func settings(_ kind: Kind) -> SimulationSettings {
        var s = SimulationSettings()
        s.every = 10
        switch kind {
        case .massive: break
        case .global: s.massive = false
        case .csvr: s.thermostat = .csvr
        case .none: s.thermostat = .none
        }
        return s
    }

    static func simulation(_ settings: SimulationSettings, precision: OpenCLPrecision, resident: Bool,
                           frame index: Int = 599) throws -> Simulation {
        let run = try WaterData.run.get(), model = try WaterData.nearestModel.get()
        let frame = run.frames[index]
        let species = try model.speciesIndices(elements: frame.elements, species: frame.species).map(Int.init)
        let b = try OpenCLBackend(model: try OpenCLModel(model), species: species, box: frame.box,
                                  precision: precision, skin: 1.0)
        let sim = try Simulation(configuration: frame, backend: b, settings: settings)
        if resident { try sim.makeResident(try OpenCLResidentDynamics(backend: b, masses: sim.masses)) }
        return sim
    }

    static func largest(_ a: [SIMD3<Double>], _ b: [SIMD3<Double>]) -> Double {
        zip(a, b).map { x, y in let d = x - y; return (d * d).sum().squareRoot() }.max() ?? 0
    }

    @Test(arguments: Kind.allCases)
    func matchesTheHostPathOver100Steps(kind: Kind) throws {
        let host = try Self.simulation(Self.settings(kind), precision: .double, resident: false)
        let device = try Self.simulation(Self.settings(kind), precision: .double, resident: true)
        for _ in 0..<100 {
            try host.advance()
            try device.advance()
        }
        try device.synchronize()
        let dq = Self.largest(device.positions, host.positions)
        let vmax = host.velocities.map { ($0 * $0).sum().squareRoot() }.max()!
        let dv = Self.largest(device.velocities, host.velocities) / vmax
        let fmax = host.forces.map { ($0 * $0).sum().squareRoot() }.max()!
        let df = Self.largest(device.forces, host.forces) / fmax
        let dT = abs(device.statistics.sumT - host.statistics.sumT) / host.statistics.sumT
        let dW = abs(device.forceWork - host.forceWork) / max(abs(host.forceWork), 1)
        let dE = abs(device.thermostat.energy - host.thermostat.energy) / max(abs(host.thermostat.energy), 1)
        print(String(format: "resident vs host [%@], 100 steps, double: positions %.2e Å, velocities %.2e, forces %.2e, sum T %.2e, work %.2e, thermostat energy %.2e (relative)",
                     kind.rawValue, dq, dv, df, dT, dW, dE))
        #expect(dq < 1e-10 && dv < 1e-10 && df < 1e-10 && dT < 1e-10 && dW < 1e-10 && dE < 1e-10)
        #expect(device.step == 100 && device.neighbourBuildsSane)
    }

    /// A run stopped at a checkpoint and continued on a fresh backend ends bit for bit where the
    /// uninterrupted run ends (the distances model: its forces do not depend on the list order).
    @Test(arguments: [Kind.massive, Kind.csvr], [OpenCLPrecision.single, .double])
    func resumeIsBitIdentical(kind: Kind, precision: OpenCLPrecision) throws {
        let straight = try Self.simulation(Self.settings(kind), precision: precision, resident: true)
        for _ in 0..<60 { try straight.advance() }
        try straight.synchronize()

        let first = try Self.simulation(Self.settings(kind), precision: precision, resident: true)
        for _ in 0..<35 { try first.advance() }
        try first.synchronize()
        let ck = Checkpoint(simulation: first, rngState: 0, wallSeconds: 0, trajectoryBytes: 0, thermoBytes: 0)
        let model = try WaterData.nearestModel.get()
        let b = try OpenCLBackend(model: try OpenCLModel(model), species: ck.species, box: ck.box,
                                  precision: precision, skin: 1.0)
        let resumed = try Simulation(checkpoint: ck, backend: b, settings: Self.settings(kind))
        try resumed.makeResident(try OpenCLResidentDynamics(backend: b, masses: resumed.masses))
        for _ in 0..<25 { try resumed.advance() }
        try resumed.synchronize()
        #expect(resumed.step == straight.step)
        #expect(resumed.positions == straight.positions, "positions differ by \(Self.largest(resumed.positions, straight.positions)) Å")
        #expect(resumed.velocities == straight.velocities)
        #expect(resumed.forces == straight.forces)
        #expect(resumed.thermostat.state == straight.thermostat.state)
        #expect(resumed.statistics == straight.statistics)
    }

    @Test func langevinIsRefusedInOneLine() throws {
        var s = SimulationSettings()
        s.thermostat = .langevin
        do {
            _ = try Self.simulation(s, precision: .double, resident: true)
            Issue.record("Langevin ran on the device")
        } catch {
            #expect("\(error)".contains("langevin"))
            #expect(!"\(error)".contains("\n"))
        }
    }

    /// Over 1 ps (2,000 steps, the dynamics defaults, single precision) the resident run and
    /// the host run separate (chaos) but keep the same statistics within their noise (see
    /// `LearnedDynamicsBackendTests` for the bounds).
    @Test func onePicosecondStatisticsAgree() throws {
        var s = SimulationSettings()
        s.every = 10
        let host = try Self.simulation(s, precision: .single, resident: false)
        let device = try Self.simulation(s, precision: .single, resident: true)
        for _ in 0..<2000 {
            try host.advance()
            try device.advance()
        }
        let a = host.statistics, b = device.statistics
        print(String(format: "1 ps, single: host T %.1f +- %.1f K, O-H %.4f +- %.4f Å; resident T %.1f +- %.1f K, O-H %.4f +- %.4f Å",
                     a.meanTemperature, a.temperatureStd, a.meanBond, a.bondStd,
                     b.meanTemperature, b.temperatureStd, b.meanBond, b.bondStd))
        #expect(abs(a.meanTemperature - b.meanTemperature) < 20)
        #expect(abs(a.meanBond - b.meanBond) < 0.003)
        #expect(abs(a.bondStd - b.bondStd) < 0.003)
        #expect(b.minBond > 0.8 && b.maxBond < 1.3)
    }

    /// Per step the resident path moves a few hundred bytes (sums per work-group, status words)
    /// where the host path moves 64 per atom; a massive thermostat adds 32 per atom.
    @Test func bytesMovedPerStep() throws {
        for (kind, perAtomAtMost) in [(Kind.global, 0.0), (Kind.massive, 32.0)] {
            let host = try Self.simulation(Self.settings(kind), precision: .single, resident: false)
            let device = try Self.simulation(Self.settings(kind), precision: .single, resident: true)
            let hb = host.backend as! OpenCLBackend, db = device.backend as! OpenCLBackend
            // Steps 1-9: no output step (every 10), so no positions come back.
            try host.advance(); try device.advance()
            let h0 = hb.bytesMoved, d0 = db.bytesMoved
            for _ in 0..<8 { try host.advance(); try device.advance() }
            let hostPerStep = Double(hb.bytesMoved - h0) / 8, devicePerStep = Double(db.bytesMoved - d0) / 8
            let n = Double(host.positions.count)
            print(String(format: "bytes per step [%@], %d atoms: host path %.0f (%.1f per atom), resident %.0f (%.1f per atom)",
                         kind.rawValue, Int(n), hostPerStep, hostPerStep / n, devicePerStep, devicePerStep / n))
            #expect(hostPerStep >= 64 * n)
            #expect(devicePerStep <= perAtomAtMost * n + 8192)
        }
    }
}

extension Simulation {
    /// The backend rebuilt its lists at least once and not every step.
    var neighbourBuildsSane: Bool { backend.neighbourListBuilds >= 1 && backend.neighbourListBuilds < step }
}
