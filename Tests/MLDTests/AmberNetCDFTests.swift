import Foundation
import Testing
@testable import MLD

/// trajectory.nc: the AMBER NetCDF writer and reader, runs that write it, their resume, and
/// a Python reader (scipy) reading what mld writes.
@Suite struct AmberNetCDFTests {
    /// Three frames of 8 atoms (O and H, some outside the box) with velocities in Å/fs.
    static func frames() -> [Configuration] {
        (0..<3).map { k in
            var c = DynamicsFixtures.randomConfiguration(n: 8, box: Box(9.5, 10.25, 11.125), seed: UInt64(7 + k))
            c.velocities = c.positions.enumerated().map { i, p in SIMD3(p.y - 5, 0.3 * Double(i) - 1, -p.x) * 1e-3 }
            c.step = 10 * k
            c.time = 0.5 * Double(10 * k) + 0.1
            return c
        }
    }

    static func write(_ frames: [Configuration], to path: String) throws {
        let w = try AmberNetCDFWriter(creating: path, elements: frames[0].elements.map(\.symbol), species: frames[0].species)
        for c in frames { try w.append(AmberNetCDF.Frame(configuration: c)) }
        try w.close()
    }

    /// Frames read back hold each number rounded once: positions to the nearest float (Å),
    /// velocities times 1000 (Å/fs to Å/ps) to the nearest float, time in ps to the nearest
    /// float, cell lengths as the doubles they were (Å), angles 90 degrees.
    @Test func framesReadBackAsWritten() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/t.nc"
        let written = Self.frames()
        try Self.write(written, to: path)
        let r = try AmberNetCDFReader(path)
        #expect(r.atoms == 8 && r.frameCount == 3)
        #expect(r.format == 2, "NetCDF-3 64-bit offset (NC_FORMAT_64BIT_OFFSET)")
        #expect(r.attributes["Conventions"] == "AMBER" && r.attributes["ConventionVersion"] == "1.0")
        #expect(r.attributes["program"] == "mld" && r.attributes["programVersion"] == AmberNetCDF.programVersion)
        #expect(r.units == ["time": "picosecond", "coordinates": "angstrom", "velocities": "angstrom/picosecond",
                            "cell_lengths": "angstrom", "cell_angles": "degree"])
        #expect(r.elements == written[0].atomElements.map(\.symbol))
        #expect(r.atomicNumbers == written[0].atomElements.map { $0.symbol == "O" ? 8 : 1 })
        for (k, c) in written.enumerated() {
            let f = try r.frame(k)
            #expect(f.time == Float(c.time! / 1000))
            #expect(f.coordinates == c.positions.flatMap { [Float($0.x), Float($0.y), Float($0.z)] })
            #expect(f.velocities == c.velocities!.flatMap { [Float($0.x * 1000), Float($0.y * 1000), Float($0.z * 1000)] })
            #expect(f.cellLengths == c.box.lengths && f.cellAngles == SIMD3(90, 90, 90))
            for (a, b) in zip(f.positions, c.positions) { #expect(maxAbs(a - b) <= 1e-6 * 16) }
            for (a, b) in zip(f.velocitiesPerFemtosecond!, c.velocities!) { #expect(maxAbs(a - b) <= 1e-9) }
        }
        #expect(try r.frames() == written.map(AmberNetCDF.Frame.init(configuration:)))
        do { _ = try r.frame(3); Issue.record("frame 3 of 3 read") } catch let MLDError.input(file, _, problem) {
            #expect(file == path && problem.contains("3 frames"))
        }
        // Appending to the closed file goes on where it ended.
        let w = try AmberNetCDFWriter(appendingTo: path)
        #expect(w.frameCount == 3)
        try w.append(AmberNetCDF.Frame(configuration: written[0]))
        try w.close()
        #expect(try AmberNetCDFReader(path).frame(3) == AmberNetCDF.Frame(configuration: written[0]))
    }

    /// A file that is not NetCDF, one that is missing, and a file that cannot be created are each
    /// one MLDError naming the file and carrying the NetCDF library's message.
    @Test func errorsNameTheFileAndTheLibrarysMessage() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "not netcdf\n".write(toFile: dir + "/text.nc", atomically: true, encoding: .utf8)
        for (p, message) in [(dir + "/text.nc", "NetCDF: Unknown file format"), (dir + "/missing.nc", "No such file or directory")] {
            do { _ = try AmberNetCDFReader(p); Issue.record("\(p) opened") } catch let e as MLDError {
                guard case let .input(file, _, problem) = e else { Issue.record("\(e)"); continue }
                #expect(file == p && problem.contains(message), "\(problem)")
                #expect(!e.description.contains("\n"))
            }
        }
        let c = Self.frames()[0]
        let bad = dir + "/no/such/dir/t.nc"
        do {
            _ = try AmberNetCDFWriter(creating: bad, elements: ["O", "H"], species: c.species)
            Issue.record("created in a missing directory")
        } catch let MLDError.output(file, problem) {
            #expect(file == bad && problem.contains("No such file or directory"), "\(problem)")
        }
        // A writer refuses a frame of the wrong size and writes nothing.
        let w = try AmberNetCDFWriter(creating: dir + "/w.nc", elements: ["O", "H"], species: c.species)
        #expect(throws: MLDError.self) { try w.append(AmberNetCDF.Frame(time: 0, coordinates: [1, 2, 3], velocities: [0, 0, 0], cellLengths: SIMD3(1, 1, 1))) }
        #expect(w.frameCount == 0)
    }

    // MARK: runs

    let runs = RunDirectoryTests()

    /// A fresh run writing `format`, to `steps`, optionally stopped early at `stopAt`.
    func freshRun(_ path: String, steps: Int, stopAt: Int? = nil, format: TrajectoryFormat = .both,
                  force: Bool = false) throws -> RunDirectory.Outcome {
        let s = runs.settings()
        let start = RunDirectoryTests.start
        let sim = try Simulation(configuration: start, backend: try runs.backend(start), settings: s)
        var rec = runs.record(s, sim)
        rec.trajectoryFormat = format
        let dir = try RunDirectory(creating: path, record: rec, simulation: sim, rng: MLD.SplitMix64(seed: 1), force: force)
        return try dir.run(sim, until: steps, stop: stopAt.map { StopRequest(atStep: $0) })
    }

    func resume(_ path: String, until steps: Int, format: TrajectoryFormat? = nil) throws -> Simulation {
        let dir = try RunDirectory(resuming: path, trajectoryFormat: format)
        let sim = try Simulation(checkpoint: dir.checkpointData!, backend: try runs.backend(RunDirectoryTests.start),
                                 settings: dir.record.settings)
        #expect(try dir.run(sim, until: steps) == .completed)
        return sim
    }

    func bytes(_ p: String) -> Data? { FileManager.default.contents(atPath: p) }

    /// A run writing both files, stopped at step 30 and resumed to 60, writes the trajectory.nc
    /// of the run that was not stopped: the same frames, the same numbers, the same bytes. So do
    /// a run that died after writing past its last checkpoint (the file counting more frames
    /// than the checkpoint: it is rewritten with the checkpoint's frames) and one whose file
    /// holds bytes past the checkpoint its header does not count (it is truncated).
    @Test func resumedTrajectoryIsBitIdentical() throws {
        let full = DynamicsFixtures.temporaryDirectory("nc-full"), split = DynamicsFixtures.temporaryDirectory("nc-split")
        let crash = DynamicsFixtures.temporaryDirectory("nc-crash"), tail = DynamicsFixtures.temporaryDirectory("nc-tail")
        defer { for p in [full, split, crash, tail] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(try freshRun(full, steps: 60) == .completed)
        let reference = try AmberNetCDFReader(full + "/trajectory.nc")
        #expect(reference.frameCount == 7)
        let xyz = try ExtendedXYZ.read(full + "/trajectory.xyz")
        #expect(try reference.frames() == xyz.map(AmberNetCDF.Frame.init(configuration:)), "the same frames as trajectory.xyz")

        #expect(try freshRun(split, steps: 60, stopAt: 30) == .interrupted("stop requested at step 30"))
        let ck = try Checkpoint(contentsOf: split + "/checkpoint.bin")
        #expect(ck.netcdfFrames == 4 && ck.netcdfSHA256?.count == 64)
        #expect(ck.netcdfBytes == (try FileManager.default.attributesOfItem(atPath: split + "/trajectory.nc")[.size] as? NSNumber)?.uint64Value)
        _ = try resume(split, until: 60)
        #expect(try AmberNetCDFReader(split + "/trajectory.nc").frames() == reference.frames())
        #expect(bytes(split + "/trajectory.nc") == bytes(full + "/trajectory.nc"))
        #expect(bytes(split + "/trajectory.xyz") == bytes(full + "/trajectory.xyz"))

        // Died after its checkpoint of step 40, with the file closed at step 50 (6 frames).
        _ = try freshRun(crash, steps: 40)
        let ck40 = try Data(contentsOf: URL(fileURLWithPath: crash + "/checkpoint.bin"))
        _ = try resume(crash, until: 50)
        #expect(try AmberNetCDFReader(crash + "/trajectory.nc").frameCount == 6)
        try ck40.write(to: URL(fileURLWithPath: crash + "/checkpoint.bin"))
        _ = try resume(crash, until: 60)
        #expect(bytes(crash + "/trajectory.nc") == bytes(full + "/trajectory.nc"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: crash).filter { $0.hasSuffix(".tmp") }.isEmpty)

        // Bytes past the checkpoint that the header does not count (frames of a killed process).
        _ = try freshRun(tail, steps: 40)
        let h = try #require(FileHandle(forWritingAtPath: tail + "/trajectory.nc"))
        try h.seekToEnd()
        try h.write(contentsOf: Data(repeating: 0x5a, count: 1000))
        try h.close()
        _ = try resume(tail, until: 60)
        #expect(bytes(tail + "/trajectory.nc") == bytes(full + "/trajectory.nc"))
    }

    /// A run writing trajectory.nc only: no trajectory.xyz, and a resume continues it exactly.
    @Test func netcdfOnlyRunResumes() throws {
        let full = DynamicsFixtures.temporaryDirectory("nco-full"), split = DynamicsFixtures.temporaryDirectory("nco-split")
        defer { for p in [full, split] { try? FileManager.default.removeItem(atPath: p) } }
        #expect(try freshRun(full, steps: 40, format: .netcdf) == .completed)
        #expect(!FileManager.default.fileExists(atPath: full + "/trajectory.xyz"))
        #expect(try freshRun(split, steps: 40, stopAt: 20, format: .netcdf) == .interrupted("stop requested at step 20"))
        _ = try resume(split, until: 40, format: .netcdf)
        #expect(!FileManager.default.fileExists(atPath: split + "/trajectory.xyz"))
        #expect(bytes(split + "/trajectory.nc") == bytes(full + "/trajectory.nc"))
        #expect(try AmberNetCDFReader(full + "/trajectory.nc").frameCount == 5)
        #expect(try runs.thermoRows(split) == runs.thermoRows(full))
        // run.json times the writing of each trajectory file the run writes.
        func timings(_ p: String) throws -> [String: Any] {
            let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: p + "/run.json"))) as! [String: Any]
            return rec["timings"] as! [String: Any]
        }
        #expect(try (timings(split)["netcdfWriteSeconds"] as? Double ?? 0) > 0 && timings(split)["xyzWriteSeconds"] == nil)
    }

    /// A run directory with trajectory.nc only loads for analysis (`mld compare`) like one with
    /// trajectory.xyz: the same atoms, box, steps and times, positions and velocities to float
    /// precision.
    @Test func analysisReadsTrajectoryNC() throws {
        let p = DynamicsFixtures.temporaryDirectory("nc-analysis")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 40)
        let text = try Trajectory.load(p)
        try FileManager.default.removeItem(atPath: p + "/trajectory.xyz")
        let binary = try Trajectory.load(p)
        #expect(binary.kind == "mld run" && binary.elements == text.elements && binary.species == text.species)
        #expect(binary.box == text.box && binary.steps == text.steps && binary.times == text.times)
        #expect(binary.steps == [0, 10, 20, 30, 40])
        for (a, b) in zip(binary.positions.joined(), text.positions.joined()) { #expect(maxAbs(a - b) <= 2e-6) }
        for (a, b) in zip(binary.velocities!.joined(), text.velocities!.joined()) { #expect(maxAbs(a - b) <= 1e-9) }
    }

    /// What a resume refuses, in one line and changing nothing: another trajectory format than
    /// the run's, a trajectory.nc changed after the checkpoint (a number, or frames missing), a
    /// checkpoint that does not match run.json's format.
    @Test func resumeRefusals() throws {
        let p = DynamicsFixtures.temporaryDirectory("nc-refuse")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 40, stopAt: 20)
        let files = ["trajectory.xyz", "trajectory.nc", "thermo.csv", "checkpoint.bin", "run.json"]
        func refused(_ what: String, format: TrajectoryFormat? = nil, _ check: (MLDError) -> Bool) {
            let before = files.map { bytes(p + "/" + $0) }
            do {
                _ = try resume(p, until: 40, format: format)
                Issue.record("\(what): resumed")
            } catch let e as MLDError {
                #expect(check(e) && !e.description.contains("\n"), "\(what): \(e)")
            } catch { Issue.record("\(what): \(error)") }
            #expect(files.map { bytes(p + "/" + $0) } == before, "\(what): files changed")
        }
        for other in [TrajectoryFormat.xyz, .netcdf] {
            refused("--trajectory-format \(other)", format: other) {
                guard case let .usage(line) = $0 else { return false }
                return line.contains("both") && line.contains(other.rawValue) && line.contains("run.json")
            }
        }
        let good = try #require(bytes(p + "/trajectory.nc"))
        // A flipped bit in the last float of the file (a velocity of frame 2).
        var flipped = good
        flipped[flipped.count - 60] ^= 1
        try flipped.write(to: URL(fileURLWithPath: p + "/trajectory.nc"))
        refused("a changed number") { $0.description.contains("trajectory.nc") && $0.description.contains("SHA-256") }
        // The checkpoint saying more frames than the file holds.
        let ck = try Checkpoint(contentsOf: p + "/checkpoint.bin")
        try good.write(to: URL(fileURLWithPath: p + "/trajectory.nc"))
        var more = ck
        more.netcdfFrames = 9
        let saved = try #require(bytes(p + "/checkpoint.bin"))
        try more.write(to: p + "/checkpoint.bin")
        refused("frames missing") { $0.description.contains("fewer than the 9") }
        // A checkpoint without trajectory.nc's record, for a run.json that writes it.
        var none = ck
        none.netcdfFrames = nil
        try none.write(to: p + "/checkpoint.bin")
        do {
            _ = try resume(p, until: 40)
            Issue.record("resumed a checkpoint without trajectory.nc's frames")
        } catch let e as MLDError {
            #expect(e.description.contains("checkpoint.bin") && e.description.contains("run.json"), "\(e)")
        }
        try saved.write(to: URL(fileURLWithPath: p + "/checkpoint.bin"))
        _ = try resume(p, until: 40, format: .both)
    }

    /// A checkpoint of a run with trajectory.nc is version 4 and keeps its trajectory.nc record;
    /// one without it is still version 3, as before.
    @Test func checkpointVersions() throws {
        let a = DynamicsFixtures.temporaryDirectory("nc-v4"), b = DynamicsFixtures.temporaryDirectory("nc-v3")
        defer { for p in [a, b] { try? FileManager.default.removeItem(atPath: p) } }
        _ = try freshRun(a, steps: 20)
        _ = try freshRun(b, steps: 20, format: .xyz)
        func header(_ p: String) throws -> [String: Any] {
            let d = try Data(contentsOf: URL(fileURLWithPath: p + "/checkpoint.bin"))
            var n = 0
            for k in 0..<8 { n |= Int(d[8 + k]) << (8 * k) }
            return try JSONSerialization.jsonObject(with: d[16..<(16 + n)]) as! [String: Any]
        }
        #expect(try header(a)["version"] as? Int == 4 && header(a)["netcdfFrames"] as? Int == 3)
        #expect(try header(b)["version"] as? Int == 3 && header(b)["netcdfFrames"] == nil)
        #expect(!FileManager.default.fileExists(atPath: b + "/trajectory.nc"))
        let ck = try Checkpoint(contentsOf: a + "/checkpoint.bin")
        #expect(ck.netcdfFrames == 3)
        #expect(try Checkpoint(contentsOf: b + "/checkpoint.bin").netcdfFrames == nil)
    }

    /// --force over an earlier run replaces its files: a new run writing trajectory.xyz only
    /// removes the earlier run's trajectory.nc, and the other way round; nothing else goes.
    @Test func forceOverAnEarlierRunLeavesOneRunsFrames() throws {
        let p = DynamicsFixtures.temporaryDirectory("nc-force")
        defer { try? FileManager.default.removeItem(atPath: p) }
        _ = try freshRun(p, steps: 20, format: .both)
        try "mine\n".write(toFile: p + "/notes.txt", atomically: true, encoding: .utf8)
        _ = try freshRun(p, steps: 20, format: .xyz, force: true)
        #expect(!FileManager.default.fileExists(atPath: p + "/trajectory.nc"))
        _ = try freshRun(p, steps: 20, format: .netcdf, force: true)
        #expect(!FileManager.default.fileExists(atPath: p + "/trajectory.xyz"))
        #expect(try AmberNetCDFReader(p + "/trajectory.nc").frameCount == 3)
        #expect(FileManager.default.contents(atPath: p + "/notes.txt") == Data("mine\n".utf8))
    }

    // MARK: a Python reader

    /// scipy.io.netcdf_file (pure Python, from PyPI) reads trajectory.nc as the AMBER
    /// convention says: the attributes, dimensions (frame unlimited), units, labels, and every
    /// number as mld wrote it. Skipped without scipy unless MLD_REQUIRE_NETCDF_READER=1.
    @Test func scipyReadsTheFile() throws {
        guard let python = which("python3") ?? ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
              shell(python, ["-c", "import scipy.io, numpy"]) == 0 else {
            if ProcessInfo.processInfo.environment["MLD_REQUIRE_NETCDF_READER"] == "1" {
                Issue.record("MLD_REQUIRE_NETCDF_READER=1 but python3 cannot import scipy (pip install scipy): trajectory.nc cannot be checked with scipy")
            } else {
                print("SKIPPED scipyReadsTheFile: python3 with scipy is not installed (pip install scipy; MLD_REQUIRE_NETCDF_READER=1 makes this a failure)")
            }
            return
        }
        let dir = DynamicsFixtures.temporaryDirectory("nc-scipy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try freshRun(dir, steps: 40)
        let frames = try ExtendedXYZ.read(dir + "/trajectory.xyz")
        // What scipy must find, from trajectory.xyz: floats and doubles written as exact decimals.
        func exact(_ x: Float) -> Double { Double(x) }
        let expected: [String: Any] = [
            "atoms": frames[0].count,
            "elements": frames[0].atomElements.map(\.symbol),
            "time": frames.map { exact(Float($0.time! / 1000)) },
            "coordinates": frames.map { $0.positions.map { [exact(Float($0.x)), exact(Float($0.y)), exact(Float($0.z))] } },
            "velocities": frames.map { $0.velocities!.map { [exact(Float($0.x * 1000)), exact(Float($0.y * 1000)), exact(Float($0.z * 1000))] } },
            "cell_lengths": frames.map { [$0.box.lengths.x, $0.box.lengths.y, $0.box.lengths.z] },
        ]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: dir + "/expected.json"))
        let script = """
        import json, sys
        import numpy as np
        from scipy.io import netcdf_file
        want = json.load(open(sys.argv[2]))
        f = netcdf_file(sys.argv[1], 'r', mmap=False)
        assert f.version_byte == 2, f.version_byte                      # NetCDF-3 64-bit offset
        assert f.Conventions == b'AMBER' and f.ConventionVersion == b'1.0', (f.Conventions, f.ConventionVersion)
        assert f.program == b'mld' and len(f.programVersion) > 0
        d = f.dimensions
        n, F = want['atoms'], len(want['time'])
        assert d['frame'] is None and d['spatial'] == 3 and d['atom'] == n, d   # frame: unlimited
        assert d['cell_spatial'] == 3 and d['cell_angular'] == 3 and d['label'] == 5, d
        v = f.variables
        units = {k: v[k].units for k in ('time', 'coordinates', 'velocities', 'cell_lengths', 'cell_angles')}
        assert units == {'time': b'picosecond', 'coordinates': b'angstrom', 'velocities': b'angstrom/picosecond',
                         'cell_lengths': b'angstrom', 'cell_angles': b'degree'}, units
        assert v['time'].dimensions == ('frame',) and v['time'].typecode() == 'f'
        assert v['coordinates'].dimensions == ('frame', 'atom', 'spatial') and v['coordinates'].typecode() == 'f'
        assert v['velocities'].dimensions == ('frame', 'atom', 'spatial') and v['velocities'].typecode() == 'f'
        assert v['cell_lengths'].dimensions == ('frame', 'cell_spatial') and v['cell_lengths'].typecode() == 'd'
        assert v['cell_angles'].dimensions == ('frame', 'cell_angular') and v['cell_angles'].typecode() == 'd'
        assert b''.join(v['spatial'][:]) == b'xyz' and b''.join(v['cell_spatial'][:]) == b'abc'
        assert [b''.join(r).rstrip(b'\\0') for r in v['cell_angular'][:]] == [b'alpha', b'beta', b'gamma']
        assert [b''.join(r).rstrip(b'\\0').decode() for r in v['atom_elements'][:]] == want['elements']
        assert list(v['atom_types'][:]) == [{'O': 8, 'H': 1, 'Ar': 18}[e] for e in want['elements']]
        assert v['coordinates'].shape == (F, n, 3), v['coordinates'].shape
        assert np.array_equal(v['time'][:], np.array(want['time'], dtype=np.float32))
        assert np.array_equal(v['coordinates'][:], np.array(want['coordinates'], dtype=np.float32))
        assert np.array_equal(v['velocities'][:], np.array(want['velocities'], dtype=np.float32))
        assert np.array_equal(v['cell_lengths'][:], np.array(want['cell_lengths']))
        assert np.all(v['cell_angles'][:] == 90.0)
        f.close()
        print('ok')
        """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = ["-c", script, dir + "/trajectory.nc", dir + "/expected.json"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && text.hasSuffix("ok\n"), "\(text)")
    }

    /// MDAnalysis (its NCDFReader, with trajectory.xyz as the topology) and ASE (its
    /// NetCDFTrajectory, which needs the netCDF4 package) read a run's trajectory.nc: the
    /// species, and positions and velocities equal to the floats of trajectory.xyz's. Each runs
    /// where python3 has it (not required by `make test`).
    @Test func otherReadersReadTheFile() throws {
        guard let python = which("python3") else { print("SKIPPED otherReadersReadTheFile: no python3"); return }
        let dir = DynamicsFixtures.temporaryDirectory("nc-readers")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try freshRun(dir, steps: 20)
        let frames = try ExtendedXYZ.read(dir + "/trajectory.xyz")
        let expected: [String: Any] = [
            "symbols": frames[0].atomElements.map(\.symbol),
            "positions": frames.map { $0.positions.map { [Double(Float($0.x)), Double(Float($0.y)), Double(Float($0.z))] } },
            "velocities": frames.map { $0.velocities!.map { [Double(Float($0.x * 1000)), Double(Float($0.y * 1000)), Double(Float($0.z * 1000))] } },
        ]
        try JSONSerialization.data(withJSONObject: expected).write(to: URL(fileURLWithPath: dir + "/expected.json"))
        let checks = [
            ("MDAnalysis", "import MDAnalysis", """
            import json, sys, warnings
            import numpy as np, MDAnalysis as mda
            warnings.filterwarnings('ignore')
            want = json.load(open(sys.argv[2]))
            u = mda.Universe(sys.argv[1] + '/trajectory.xyz', sys.argv[1] + '/trajectory.nc', topology_format='XYZ', format='NCDF')
            assert type(u.trajectory).__name__ == 'NCDFReader' and len(u.trajectory) == len(want['positions'])
            for ts in u.trajectory:
                assert np.array_equal(ts.positions, np.array(want['positions'][ts.frame], dtype=np.float32))
                assert np.array_equal(ts.velocities, np.array(want['velocities'][ts.frame], dtype=np.float32))
            print('ok')
            """),
            ("ASE", "import ase, netCDF4", """
            import json, sys
            import numpy as np
            from ase.io.netcdftrajectory import NetCDFTrajectory
            want = json.load(open(sys.argv[2]))
            t = NetCDFTrajectory(sys.argv[1] + '/trajectory.nc', 'r')
            assert len(t) == len(want['positions'])
            for k in range(len(t)):
                a = t[k]
                assert a.get_chemical_symbols() == want['symbols'] and all(a.pbc)
                assert np.array_equal(a.positions, np.array(want['positions'][k]))
            print('ok')
            """),
        ]
        for (name, probe, script) in checks {
            guard shell(python, ["-c", probe]) == 0 else {
                print("SKIPPED otherReadersReadTheFile (\(name)): python3 cannot \(probe)")
                continue
            }
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = ["-c", script, dir, dir + "/expected.json"]
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0 && text.hasSuffix("ok\n"), "\(name): \(text)")
        }
    }
}
