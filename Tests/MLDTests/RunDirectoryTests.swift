import Foundation
import Testing
@testable import MLD

/// Run directories: resume, interruption and blow-ups.
@Suite struct RunDirectoryTests {
    static let start = DynamicsFixtures.argonCrystal(cells: 4, temperature: 60, seed: 12)

    func settings(_ kind: SimulationSettings.ThermostatKind = .noseHoover) -> SimulationSettings {
        var s = SimulationSettings()
        s.thermostat = kind
        s.timeStep = 5
        s.temperature = 70
        s.tau = 100
        s.every = 10
        s.checkpointEvery = 20
        return s
    }

    func record(_ s: SimulationSettings, _ sim: Simulation) -> RunRecord {
        RunRecord(settings: s, model: .init(path: "argon-lj", sha256: SHA256.hex(Array("lj".utf8))),
                  start: .init(source: "fcc", frame: 0, velocities: "Maxwell-Boltzmann"),
                  backend: sim.backend.name, device: sim.backend.deviceName, atoms: sim.positions.count,
                  elements: sim.elements.map(\.symbol), degreesOfFreedom: sim.degreesOfFreedom, targetSteps: 60)
    }

    func backend(_ c: Configuration) throws -> CPUBackend {
        try CPUBackend(potential: DynamicsFixtures.argonLJ, species: c.species, box: c.box)
    }

    /// A fresh run to `steps`, optionally stopped early at `stopAt`.
    func freshRun(_ path: String, steps: Int, stopAt: Int? = nil,
                  thermostat: SimulationSettings.ThermostatKind = .noseHoover) throws -> (Simulation, RunDirectory, RunDirectory.Outcome) {
        let s = settings(thermostat)
        let sim = try Simulation(configuration: Self.start, backend: try backend(Self.start), settings: s)
        let dir = try RunDirectory(creating: path, record: record(s, sim), simulation: sim, rng: MLD.SplitMix64(seed: 1))
        let outcome = try dir.run(sim, until: steps, stop: stopAt.map { StopRequest(atStep: $0) })
        return (sim, dir, outcome)
    }

    func resume(_ path: String, until steps: Int) throws -> Simulation {
        let dir = try RunDirectory(resuming: path)
        let ck = dir.checkpointData!
        let sim = try Simulation(checkpoint: ck, backend: try backend(Self.start), settings: dir.record.settings)
        #expect(try dir.run(sim, until: steps) == .completed)
        return sim
    }

    /// A run directory at `path` whose files reach step 50 but whose checkpoint is that of
    /// step 40, as if the process had been killed after writing past its last checkpoint.
    func crashedAfterCheckpoint(_ path: String, thermostat: SimulationSettings.ThermostatKind = .noseHoover) throws {
        _ = try freshRun(path, steps: 40, thermostat: thermostat)
        let ck40 = try Data(contentsOf: URL(fileURLWithPath: path + "/checkpoint.bin"))
        _ = try resume(path, until: 50)
        #expect(try Checkpoint(contentsOf: path + "/checkpoint.bin").step == 50)
        try ck40.write(to: URL(fileURLWithPath: path + "/checkpoint.bin"))
    }

    /// The bytes of a file.
    func bytes(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) }

    /// thermo.csv without the wall-clock column.
    /// thermo.csv's rows without the wall-clock column.
    func thermoRows(_ path: String) throws -> [String] {
        let lines = try String(contentsOfFile: path + "/thermo.csv", encoding: .utf8).split(separator: "\n")
        guard let wall = lines.first?.split(separator: ",").firstIndex(of: "wall_s") else { return lines.map(String.init) }
        return lines.map { line in
            var f = line.split(separator: ",", omittingEmptySubsequences: false)
            f.remove(at: wall)
            return f.joined(separator: ",")
        }
    }

    @Test func resumedRunIsBitIdentical() throws {
        let a = DynamicsFixtures.temporaryDirectory("full"), b = DynamicsFixtures.temporaryDirectory("split")
        let c = DynamicsFixtures.temporaryDirectory("crash")
        defer { for p in [a, b, c] { try? FileManager.default.removeItem(atPath: p) } }
        let (full, _, _) = try freshRun(a, steps: 60)

        // Stopped at step 30 (checkpoint there), then resumed to 60.
        let (_, _, outcome) = try freshRun(b, steps: 60, stopAt: 30)
        #expect(outcome == .interrupted("stop requested at step 30"))
        let resumed = try resume(b, until: 60)
        #expect(resumed.positions == full.positions)
        #expect(resumed.velocities == full.velocities)
        #expect(resumed.thermostat == full.thermostat)
        #expect(try thermoRows(b) == thermoRows(a))
        #expect(try String(contentsOfFile: b + "/trajectory.xyz", encoding: .utf8)
                == String(contentsOfFile: a + "/trajectory.xyz", encoding: .utf8))

        // A run that died after its last checkpoint (step 40) but had written up to step 50:
        // resuming cuts the extra rows and frames, then continues with no gap or duplicate.
        try crashedAfterCheckpoint(c)
        let again = try resume(c, until: 60)
        #expect(again.positions == full.positions)
        let steps = try thermoRows(c).dropFirst().map { Int($0.split(separator: ",")[0])! }
        #expect(steps == Array(stride(from: 0, through: 60, by: 10)))
        #expect(try ExtendedXYZ.read(c + "/trajectory.xyz").map { $0.step! } == Array(stride(from: 0, through: 60, by: 10)))
    }

    /// A checkpoint written at step 0 continues exactly like the run that was not interrupted
    /// (the centre-of-mass velocity is removed once, at the fresh start, not again on resume).
    @Test func resumeFromStepZeroCheckpointIsBitIdentical() throws {
        let a = DynamicsFixtures.temporaryDirectory("full0"), b = DynamicsFixtures.temporaryDirectory("split0")
        defer { for p in [a, b] { try? FileManager.default.removeItem(atPath: p) } }
        let (full, _, _) = try freshRun(a, steps: 40)
        let (_, _, outcome) = try freshRun(b, steps: 40, stopAt: 0)
        #expect(outcome == .interrupted("stop requested at step 0"))
        #expect(try Checkpoint(contentsOf: b + "/checkpoint.bin").step == 0)
        let resumed = try resume(b, until: 40)
        #expect(resumed.velocities == full.velocities)
        #expect(resumed.positions == full.positions)
        #expect(try thermoRows(b) == thermoRows(a))
        #expect(try String(contentsOfFile: b + "/trajectory.xyz", encoding: .utf8)
                == String(contentsOfFile: a + "/trajectory.xyz", encoding: .utf8))
    }

    /// A blow-up whose state holds NaNs still leaves run.json in its final state ("failed").
    @Test func blowUpWithNonFiniteStateEndsTheRecord() throws {
        let p = DynamicsFixtures.temporaryDirectory("nan")
        defer { try? FileManager.default.removeItem(atPath: p) }
        var c = Self.start
        c.velocities![3] = SIMD3(.nan, 0, 0)
        let s = settings()
        let sim = try Simulation(configuration: c, backend: try backend(c), settings: s)
        let dir = try RunDirectory(creating: p, record: record(s, sim), simulation: sim, rng: MLD.SplitMix64(seed: 1))
        #expect(throws: MLDError.self) { _ = try dir.run(sim, until: 100) }
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p + "/run.json"))) as! [String: Any]
        #expect((obj["status"] as? String)?.hasPrefix("failed: step") == true, "\(obj["status"] ?? "none")")
        // And it still reads back as a record.
        _ = try RunRecord.decoder.decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: p + "/run.json")))
    }

    @Test func interruptedRunLeavesReadableFiles() throws {
        let p = DynamicsFixtures.temporaryDirectory("stop")
        defer { try? FileManager.default.removeItem(atPath: p) }
        let (sim, _, outcome) = try freshRun(p, steps: 100, stopAt: 25)
        #expect(outcome == .interrupted("stop requested at step 25"))
        let frames = try ExtendedXYZ.read(p + "/trajectory.xyz")
        #expect(frames.map { $0.step! } == [0, 10, 20])
        #expect(frames[0].velocities != nil)
        let rows = try thermoRows(p)
        #expect(rows.first == "step,time_fs,kinetic_eV,temperature_K,loss_Ar_eV,thermostat_eV,com_drift_A,out_of_range,potential_eV,conserved_eV,nonconservative_work_eV")
        #expect(rows.count == 4)
        let ck = try Checkpoint(contentsOf: p + "/checkpoint.bin")
        #expect(ck.step == 25 && ck.positions == sim.positions)
        let rec = try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: p + "/run.json")))
        #expect(rec.status.hasPrefix("interrupted at step 25"))
        #expect(rec.stepsDone == 25)
    }

    /// Two atoms 1.2 Å apart blow up; the error names step and atom; the files stay readable.
    @Test func blowUpStopsWithStepAndAtom() throws {
        let p = DynamicsFixtures.temporaryDirectory("boom")
        defer { try? FileManager.default.removeItem(atPath: p) }
        var c = Self.start
        c.positions[1] = c.positions[0] + SIMD3(1.2, 0, 0)
        var s = settings()
        s.every = 1
        let sim = try Simulation(configuration: c, backend: try backend(c), settings: s)
        let dir = try RunDirectory(creating: p, record: record(s, sim), simulation: sim, rng: MLD.SplitMix64(seed: 1))
        do {
            _ = try dir.run(sim, until: 100)
            Issue.record("expected a blow-up")
        } catch let MLDError.simulation(step, problem) {
            #expect(step >= 1 && step <= 5)
            #expect(problem.contains("atom 0") || problem.contains("atom 1"), "\(problem)")
        }
        let frames = try ExtendedXYZ.read(p + "/trajectory.xyz")
        #expect(frames.count >= 1)
        let rec = try JSONDecoder().decode(RunRecord.self, from: Data(contentsOf: URL(fileURLWithPath: p + "/run.json")))
        #expect(rec.status.hasPrefix("failed: step"))
        _ = try Checkpoint(contentsOf: p + "/checkpoint.bin")
    }

    /// SHA-256 comes from swift-crypto; the digests are the FIPS 180-4 ones the hand-written
    /// implementation gave, so checkpoints written before still verify: the fixture's trailer
    /// was computed by that implementation.
    @Test func sha256MatchesFIPSAndOlderCheckpoints() throws {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var million = SHA256.Hasher()
        let a = [UInt8](repeating: 0x61, count: 1000)
        for _ in 0..<1000 { million.update(a) }
        #expect(million.hex == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0" && million.count == 1_000_000)
        // The digest so far can be read in the middle without disturbing what follows.
        var h = SHA256.Hasher()
        h.update(Array("ab".utf8))
        #expect(h.hex == SHA256.hex(Array("ab".utf8)))
        h.update(Array("c".utf8))
        #expect(h.hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let ck = try Checkpoint(contentsOf: fixtures + "/checkpoint-v3-hand-sha256.bin")
        #expect(ck.step == 40 && ck.positions == [SIMD3(1, 2, 3), SIMD3(4, 5.5, 6)] && ck.energyLedger == [0.25, -1.5])
        #expect(ck.thermostatState == [0.1, -0.2] && ck.rngState == 12345)
        // And a flipped bit in it is still refused.
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixtures + "/checkpoint-v3-hand-sha256.bin")))
        bytes[bytes.count - 100] ^= 1
        let damaged = try temporaryDirectory() + "/ck.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))
        #expect(throws: MLDError.self) { _ = try Checkpoint(contentsOf: damaged) }
    }

    @Test func checkpointRoundTripsAndRejectsDamage() throws {
        // The incremental SHA-256 agrees with the one-shot one (and the FIPS 180-4 example).
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let text = [UInt8]((0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        var h = SHA256.Hasher()
        for piece in [0..<1, 1..<64, 64..<65, 65..<200, 200..<1000] { h.update(text[piece]) }
        #expect(h.hex == SHA256.hex(text) && h.count == 1000)
        let p = DynamicsFixtures.temporaryDirectory("ck")
        defer { try? FileManager.default.removeItem(atPath: p) }
        let (sim, _, _) = try freshRun(p, steps: 20)
        let ck = try Checkpoint(contentsOf: p + "/checkpoint.bin")
        #expect(ck.positions == sim.positions && ck.forces == sim.forces && ck.step == 20)
        var data = try Data(contentsOf: URL(fileURLWithPath: p + "/checkpoint.bin"))
        data.removeLast(8)
        try data.write(to: URL(fileURLWithPath: p + "/bad.bin"))
        #expect(throws: MLDError.self) { _ = try Checkpoint(contentsOf: p + "/bad.bin") }
    }

    @Test func existingRunIsNotOverwritten() throws {
        let p = DynamicsFixtures.temporaryDirectory("twice")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 10)
        #expect(throws: MLDError.self) { _ = try freshRun(p, steps: 10) }
    }

    /// CSVR and Langevin draw random numbers every step: a run stopped at step 30 and resumed, and
    /// a run killed after writing past its last checkpoint, continue bit for bit (the generator's
    /// state is in the checkpoint).
    @Test(arguments: [SimulationSettings.ThermostatKind.csvr, .langevin])
    func stochasticResumeIsBitIdentical(kind: SimulationSettings.ThermostatKind) throws {
        let a = DynamicsFixtures.temporaryDirectory("full"), b = DynamicsFixtures.temporaryDirectory("split")
        let c = DynamicsFixtures.temporaryDirectory("crash")
        defer { for p in [a, b, c, c + "-40"] { try? FileManager.default.removeItem(atPath: p) } }
        let (full, _, _) = try freshRun(a, steps: 60, thermostat: kind)
        #expect(full.thermostat.name == kind.rawValue)
        #expect(full.thermostat.energy != 0)

        let (_, _, outcome) = try freshRun(b, steps: 60, stopAt: 30, thermostat: kind)
        #expect(outcome == .interrupted("stop requested at step 30"))
        let ck = try Checkpoint(contentsOf: b + "/checkpoint.bin")
        #expect(ck.thermostat == kind.rawValue && ck.thermostatState.count == 3)
        let resumed = try resume(b, until: 60)
        #expect(resumed.positions == full.positions)
        #expect(resumed.velocities == full.velocities)
        #expect(resumed.thermostat == full.thermostat)
        #expect(try thermoRows(b) == thermoRows(a))

        // Killed after step 50 with the checkpoint of step 40: the generator goes back to step 40 too.
        try crashedAfterCheckpoint(c, thermostat: kind)
        let again = try resume(c, until: 60)
        #expect(again.positions == full.positions)
        #expect(again.thermostat == full.thermostat)
        #expect(try thermoRows(c) == thermoRows(a))

        // A different seed gives a different trajectory (the numbers are really drawn).
        var s = settings(kind)
        s.seed = 2
        let other = try Simulation(configuration: Self.start, backend: try backend(Self.start), settings: s)
        for _ in 0..<10 { try other.advance() }
        let same = try Simulation(configuration: Self.start, backend: try backend(Self.start), settings: settings(kind))
        for _ in 0..<10 { try same.advance() }
        #expect(other.velocities != same.velocities)
    }

    /// A checkpoint is only continued with the thermostat that wrote it: one line naming both.
    @Test func resumeWithAnotherThermostatIsRefused() throws {
        let p = DynamicsFixtures.temporaryDirectory("other")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 20, thermostat: .csvr)
        let ck = try Checkpoint(contentsOf: p + "/checkpoint.bin")
        for other in [settings(.langevin), settings(.noseHoover), settings(.none)] {
            do {
                _ = try Simulation(checkpoint: ck, backend: try backend(Self.start), settings: other)
                Issue.record("\(other.thermostat) accepted a csvr checkpoint")
            } catch let MLDError.usage(line) {
                #expect(line.contains("csvr") && line.contains(Thermostat.name(for: other)) && !line.contains("\n"), "\(line)")
            }
        }
        _ = try Simulation(checkpoint: ck, backend: try backend(Self.start), settings: settings(.csvr))
    }

    /// Version-1 checkpoints (no thermostat name) are still read; unknown versions are refused.
    @Test func versionOneCheckpointIsRead() throws {
        let p = DynamicsFixtures.temporaryDirectory("v1")
        defer { try? FileManager.default.removeItem(atPath: p) }
        let (sim, _, _) = try freshRun(p, steps: 20)
        let v1 = try Checkpoint(contentsOf: try Self.rewritten(p + "/checkpoint.bin", to: p + "/v1.bin", version: 1) {
            $0.thermostat = nil
        })
        #expect(v1.thermostat == nil && v1.positions == sim.positions && v1.thermostatState == sim.thermostat.state)
        #expect(v1.trajectorySHA256 == nil && v1.thermoSHA256 == nil)
        let again = try Simulation(checkpoint: v1, backend: try backend(Self.start), settings: settings())
        #expect(again.thermostat == sim.thermostat)
        let v2 = try Checkpoint(contentsOf: try Self.rewritten(p + "/checkpoint.bin", to: p + "/v2.bin", version: 2))
        #expect(v2.thermostat == sim.thermostat.name && v2.velocities == sim.velocities && v2.trajectorySHA256 == nil)
        do {
            _ = try Checkpoint(contentsOf: try Self.rewritten(p + "/checkpoint.bin", to: p + "/v5.bin", version: 5))
            Issue.record("version 5 accepted")
        } catch let MLDError.input(_, _, problem) {
            #expect(problem.contains("version 5"), "\(problem)")
        }
    }

    /// The checkpoint at `from` rewritten to `to` with header version `version` (versions 1 and 2:
    /// no data-file digests and no checksum trailer; later: a fresh checksum), `edit` applied.
    static func rewritten(_ from: String, to path: String, version: Int,
                          edit: (inout Checkpoint.Header) -> Void = { _ in }) throws -> String {
        var data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: from)))
        data.removeLast(64)
        var count = 0
        for k in 0..<8 { count |= Int(data[8 + k]) << (8 * k) }
        var header = try JSONDecoder().decode(Checkpoint.Header.self, from: Data(data[16..<(16 + count)]))
        header.version = version
        if version < 3 { header.trajectorySHA256 = nil; header.thermoSHA256 = nil }
        edit(&header)
        let json = [UInt8](try JSONEncoder().encode(header))
        var out = Array(data[0..<8])
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out += json + data[(16 + count)...]
        if version >= 3 { out += Array(SHA256.hex(out).utf8) }
        try Data(out).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A flipped bit anywhere in checkpoint.bin (header, data or checksum) is refused in one
    /// line naming the file; resuming from it changes nothing.
    @Test func checkpointWithAFlippedBitIsRefused() throws {
        let p = DynamicsFixtures.temporaryDirectory("flip"), q = DynamicsFixtures.temporaryDirectory("flipped")
        defer { for d in [p, q] { try? FileManager.default.removeItem(atPath: d) } }
        _ = try freshRun(p, steps: 20)
        let good = try bytes(p + "/checkpoint.bin")
        var count = 0
        for k in 0..<8 { count |= Int(good[8 + k]) << (8 * k) }
        // Every byte of the magic, length, header and checksum; every 11th of the numbers.
        let positions = Array(0..<(16 + count)) + Array(stride(from: 16 + count, to: good.count - 64, by: 11))
            + Array((good.count - 64)..<good.count)
        try FileManager.default.createDirectory(atPath: q, withIntermediateDirectories: true)
        let flipped = q + "/checkpoint.bin"
        var accepted: [Int] = []
        for (n, i) in positions.enumerated() {
            var b = good
            b[i] ^= UInt8(1) << UInt8(n % 8)
            try Data(b).write(to: URL(fileURLWithPath: flipped))
            do {
                _ = try Checkpoint(contentsOf: flipped)
                accepted.append(i)
            } catch let e as MLDError {
                let line = "\(e)"
                if !(line.hasPrefix(flipped) && !line.contains("\n")) { Issue.record("byte \(i): \(line)") }
            }
        }
        #expect(accepted.isEmpty, "flipped bits accepted at bytes \(accepted.prefix(10))")
        // Resuming from a damaged checkpoint: refused, nothing cut or written.
        let traj = try bytes(p + "/trajectory.xyz"), csv = try bytes(p + "/thermo.csv")
        var b = good
        b[good.count / 2] ^= 4
        try Data(b).write(to: URL(fileURLWithPath: p + "/checkpoint.bin"))
        do {
            _ = try RunDirectory(resuming: p)
            Issue.record("a damaged checkpoint was resumed")
        } catch let e as MLDError {
            #expect("\(e)".hasPrefix(p + "/checkpoint.bin") && "\(e)".contains("checksum"), "\(e)")
        }
        #expect(try bytes(p + "/trajectory.xyz") == traj && bytes(p + "/thermo.csv") == csv)
    }

    /// Before a resume cuts trajectory.xyz and thermo.csv back to the checkpoint, it checks
    /// them: one byte changed before the cut, or a file shorter than at the checkpoint, is
    /// refused in one line naming the file, and neither file is cut or written.
    @Test func damagedDataFilesAreRefusedBeforeResuming() throws {
        let p = DynamicsFixtures.temporaryDirectory("data")
        var made = [p]
        defer { for d in made { try? FileManager.default.removeItem(atPath: d) } }
        try crashedAfterCheckpoint(p)
        let ck = try Checkpoint(contentsOf: p + "/checkpoint.bin")
        #expect(ck.step == 40 && ck.trajectorySHA256 != nil && ck.thermoSHA256 != nil)
        let traj = try bytes(p + "/trajectory.xyz"), csv = try bytes(p + "/thermo.csv")
        #expect(UInt64(traj.count) > ck.trajectoryBytes && UInt64(csv.count) > ck.thermoBytes)

        func refused(_ name: String, _ damage: (inout [UInt8]) -> Void, file: String) throws {
            let d = p + "-" + name
            made.append(d)
            try FileManager.default.copyItem(atPath: p, toPath: d)
            var b = try bytes(d + "/" + file)
            damage(&b)
            try Data(b).write(to: URL(fileURLWithPath: d + "/" + file))
            let before = (try bytes(d + "/trajectory.xyz"), try bytes(d + "/thermo.csv"))
            do {
                _ = try RunDirectory(resuming: d)
                Issue.record("\(name): resumed")
            } catch let e as MLDError {
                let line = "\(e)"
                #expect(line.hasPrefix(d + "/" + file) && !line.contains("\n"), "\(name): \(line)")
            }
            #expect(try bytes(d + "/trajectory.xyz") == before.0 && bytes(d + "/thermo.csv") == before.1, "\(name)")
        }
        let cut = Int(ck.trajectoryBytes)
        // A digit in the first frame, the last byte before the cut, a byte of the last frame's
        // comment line; then the trajectory cut short, and thermo.csv changed.
        try refused("early", { $0[200] = $0[200] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1") }, file: "trajectory.xyz")
        try refused("edge", { $0[cut - 1] = UInt8(ascii: " ") }, file: "trajectory.xyz")
        try refused("short", { $0.removeLast($0.count - cut + 1) }, file: "trajectory.xyz")
        try refused("thermo", { $0[Int(ck.thermoBytes) - 5] ^= 1 }, file: "thermo.csv")
        // Bytes after the cut are the run's own, written after the checkpoint: they go.
        let d = p + "-after"
        made.append(d)
        try FileManager.default.copyItem(atPath: p, toPath: d)
        var b = traj
        b[cut + 3] ^= 1
        try Data(b).write(to: URL(fileURLWithPath: d + "/trajectory.xyz"))
        _ = try resume(d, until: 60)
        _ = try resume(p, until: 60)
        #expect(try bytes(d + "/trajectory.xyz") .count == bytes(p + "/trajectory.xyz").count)
    }

    /// A checkpoint older than version 3 (no digests) still resumes; its cut must at least fall
    /// at the end of a line.
    @Test func olderCheckpointStillResumes() throws {
        let p = DynamicsFixtures.temporaryDirectory("old"), q = DynamicsFixtures.temporaryDirectory("old-cut")
        defer { for d in [p, q] { try? FileManager.default.removeItem(atPath: d) } }
        try crashedAfterCheckpoint(p)
        try FileManager.default.copyItem(atPath: p, toPath: q)
        _ = try Self.rewritten(p + "/checkpoint.bin", to: p + "/checkpoint.bin", version: 2)
        let resumed = try resume(p, until: 60)
        #expect(resumed.step == 60)
        #expect(try ExtendedXYZ.read(p + "/trajectory.xyz").map { $0.step! } == Array(stride(from: 0, through: 60, by: 10)))
        _ = try Self.rewritten(q + "/checkpoint.bin", to: q + "/checkpoint.bin", version: 2) { $0.trajectoryBytes -= 1 }
        #expect(throws: MLDError.self) { _ = try RunDirectory(resuming: q) }
    }

    /// An open run directory holds its lock: a second open (another process, or this one) is
    /// refused in one line, "DIR is in use by another mld process", and changes nothing; once
    /// the first is closed the run continues.
    @Test func runDirectoryInUseIsRefused() throws {
        let p = DynamicsFixtures.temporaryDirectory("lock")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 20, stopAt: 10)
        do {
            let first = try RunDirectory(resuming: p)
            let traj = try bytes(p + "/trajectory.xyz"), ck = try bytes(p + "/checkpoint.bin")
            do {
                _ = try RunDirectory(resuming: p)
                Issue.record("a second resume opened a directory in use")
            } catch let MLDError.usage(line) {
                #expect(line.hasPrefix("\(p) is in use by another mld process") && !line.contains("\n"), "\(line)")
            }
            #expect(throws: MLDError.self) { _ = try RunDirectoryLock(p) }
            #expect(try bytes(p + "/trajectory.xyz") == traj && bytes(p + "/checkpoint.bin") == ck)
            // Another process is refused too (flock is per open file, not per process).
            let other = Process()
            other.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            other.arguments = ["flock", "--nonblock", p + "/" + RunDirectoryLock.fileName, "true"]
            if (try? other.run()) != nil {
                other.waitUntilExit()
                #expect(other.terminationStatus != 0, "flock(1) took the lock of a directory in use")
            }
            let sim = try Simulation(checkpoint: first.checkpointData!, backend: try backend(Self.start),
                                     settings: first.record.settings)
            #expect(try first.run(sim, until: 20) == .completed)
        }
        // Closed: free again, for this process and a fresh run there.
        _ = try RunDirectoryLock(p)
        #expect(try Checkpoint(contentsOf: p + "/checkpoint.bin").step == 20)
    }
}
