import Foundation
@testable import MLD
@testable import mld

/// The fuzz targets over mld's file readers. Each writes the mutated input where the reader
/// expects it (beside unmutated seed files where the reader reads several) and then does what the
/// command that reads it would do next: `mld info --json` with a CP2K directory, a force
/// evaluation with a model, a simulation from a checkpoint.
enum ReaderTargets {
    static func write(_ bytes: [UInt8], _ path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    // MARK: CP2K output directories

    /// The seed files of a CP2K directory, by file name.
    static func cp2kFiles() throws -> [String: [UInt8]] {
        let p = FuzzSeeds.project
        return [
            "\(p)-pos-1.xyz": try FuzzSeeds.cp2kXYZ("pos"),
            "\(p)-frc-1.xyz": try FuzzSeeds.cp2kXYZ("frc"),
            "\(p)-vel-1.xyz": try FuzzSeeds.cp2kXYZ("vel"),
            "\(p)-1.ener": try FuzzSeeds.ener(),
            "\(p)-equilibration.restart": try FuzzSeeds.restart(),
        ]
    }

    /// What `mld info --json` does with a directory: read it, summarise, encode the JSON.
    static func info(_ dir: String) throws {
        let run = try CP2KReader.read(directory: dir, requireForces: false)
        let json = try jsonData(DataSetSummary(run))
        try FuzzTarget.checkFiniteJSON(json, "info --json")
    }

    /// One target per CP2K file: `file` is mutated, the others are written as they are.
    static func cp2k() throws -> [FuzzTarget] {
        let files = try cp2kFiles()
        let p = FuzzSeeds.project
        var targets: [FuzzTarget] = []
        for (short, name) in [("pos", "\(p)-pos-1.xyz"), ("frc", "\(p)-frc-1.xyz"), ("vel", "\(p)-vel-1.xyz"),
                              ("ener", "\(p)-1.ener"), ("restart", "\(p)-equilibration.restart")] {
            targets.append(FuzzTarget(name: "cp2k-\(short)", seeds: [files[name]!]) { input, dir in
                for (n, b) in files where n != name { try write(b, dir + "/" + n) }
                try write(input, dir + "/" + name)
                try info(dir)
            })
        }
        // The cell from a `.cell` file (no restart file).
        let cell = try FuzzSeeds.cellFile()
        targets.append(FuzzTarget(name: "cp2k-cell", seeds: [cell]) { input, dir in
            for (n, b) in files where !n.hasSuffix(".restart") { try write(b, dir + "/" + n) }
            try write(input, dir + "/\(p)-1.cell")
            try info(dir)
        })
        // Compressed positions: byte mutations of the .xz stream itself.
        let xz = try FuzzSeeds.xz(files["\(p)-pos-1.xyz"]!)
        targets.append(FuzzTarget(name: "cp2k-pos-xz", seeds: [xz]) { input, dir in
            for (n, b) in files where !n.contains("-pos-") { try write(b, dir + "/" + n) }
            try write(input, dir + "/\(p)-pos-1.xyz.xz")
            try info(dir)
        })
        return targets
    }

    // MARK: Extended XYZ starts

    static func extendedXYZ() throws -> FuzzTarget {
        var seeds: [[UInt8]] = [[UInt8](try Data(contentsOf: URL(fileURLWithPath: FuzzSeeds.root + "/Tests/MLDTests/Fixtures/ase-water.xyz")))]
        // As mld writes it (velo and forces), and with the other velocity names it reads.
        var c = try FuzzSeeds.water.get()
        c = Configuration(elements: c.elements, species: Array(c.species.prefix(9)), positions: Array(c.positions.prefix(9)),
                          box: c.box)
        c.velocities = c.positions.map { _ in SIMD3(0.001, -0.002, 0.0005) }
        c.forces = c.positions.map { _ in SIMD3(0.5, -0.25, 1.0) }
        c.step = 7; c.time = 3.5
        let text = ExtendedXYZ.format(c) + ExtendedXYZ.format(c)
        seeds.append(Array(text.utf8))
        seeds.append(Array(text.replacingOccurrences(of: ":velo:", with: ":vel:").utf8))
        seeds.append(Array(text.replacingOccurrences(of: ":velo:", with: ":velocities:").utf8))
        return FuzzTarget(name: "extxyz", seeds: seeds) { input, dir in
            let path = dir + "/start.xyz"
            try write(input, path)
            _ = try ExtendedXYZ.read(path)
            _ = try Configuration.load(path, frame: -1)
        }
    }

    // MARK: Model files

    static func model() throws -> FuzzTarget {
        let water = try FuzzSeeds.water.get()
        return FuzzTarget(name: "model", seeds: try FuzzSeeds.models()) { input, dir in
            let path = dir + "/model.json"
            try write(input, path)
            let m = try LearnedModel.load(path)
            // What `mld eval` and `mld run` do next: check it against the system and evaluate
            // forces (of the first 4 agents: the same code as all 192, a 48th of the time).
            try m.check(elements: water.elements, box: water.box, file: path)
            let sp = try m.speciesIndices(elements: water.elements, species: water.species, file: path)
            let ev = m.makeAgentEvaluator()
            let all = (0..<Int32(water.count)).map { $0 }
            try water.positions.withUnsafeBufferPointer { pos in
                try sp.withUnsafeBufferPointer { spp in
                    try all.withUnsafeBufferPointer { cand in
                        for k in 0..<4 { _ = try ev.force(agent: k, positions: pos, species: spp, box: water.box, candidates: cand) }
                    }
                }
            }
            try FuzzTarget.checkFiniteJSON(try m.jsonData(), "model file")
        }
    }

    // MARK: Checkpoints and run directories

    /// A mutated checkpoint.bin as it is (almost always refused by its checksum), and one whose
    /// checksum trailer is recomputed after the mutation (so the header and the data blocks are
    /// parsed), each followed by the simulation `mld run --resume` would build from it.
    static func checkpoints() throws -> [FuzzTarget] {
        let files = try FuzzSeeds.runDirectory()
        let ck = files["checkpoint.bin"]!
        func consume(_ input: [UInt8], _ dir: String) throws {
            let path = dir + "/checkpoint.bin"
            try write(input, path)
            let c = try Checkpoint(contentsOf: path)
            try resume(c)
        }
        let raw = FuzzTarget(name: "checkpoint", seeds: [ck], consume: consume)
        let resealed = FuzzTarget(name: "checkpoint-resealed", seeds: [Array(ck.dropLast(64))]) { input, dir in
            try consume(input + Array(SHA256.hex(input).utf8), dir)
        }
        return [raw, resealed]
    }

    /// The simulation a resumed run builds from a checkpoint, with the argon potential.
    static func resume(_ c: Checkpoint, settings: SimulationSettings? = nil) throws {
        var s = SimulationSettings()
        s.timeStep = 5; s.temperature = 70; s.tau = 100; s.every = 10; s.checkpointEvery = 20
        if let settings { s = settings }
        guard c.elements.count == 1 else { return }
        let backend = try CPUBackend(potential: FuzzSeeds.argonLJ, species: c.species, box: c.box)
        _ = try Simulation(checkpoint: c, backend: backend, settings: s)
    }

    /// A run directory with one of run.json, trajectory.xyz, thermo.csv mutated, opened for
    /// `--resume` (which checks the files against the checkpoint before cutting them back).
    static func runDirectory() throws -> [FuzzTarget] {
        let files = try FuzzSeeds.runDirectory()
        return ["run.json", "trajectory.xyz", "thermo.csv"].map { name in
            FuzzTarget(name: "resume-" + name.replacingOccurrences(of: ".", with: "-"), seeds: [files[name]!]) { input, dir in
                for (n, b) in files where n != name { try write(b, dir + "/" + n) }
                try write(input, dir + "/" + name)
                let rd = try RunDirectory(resuming: dir)
                if let c = rd.checkpointData { try resume(c, settings: rd.record.settings) }
            }
        }
    }

    // MARK: The fit-scan CSV

    static func fitScan() -> FuzzTarget {
        let seed = """
        neighbours,train_rel_rmse_O,test_rel_rmse_O,train_rel_rmse_H,test_rel_rmse_H
        1,0.612345,0.650001,0.402,0.43
        2,0.51,0.55,0.33,0.36
        4,0.4245,0.4512,0.2404,0.2611

        """
        let labels = """
        form,train_rel_rmse_O,test_rel_rmse_O,train_rel_rmse_H,test_rel_rmse_H
        full,0.1734,0.1975,0.1807,0.2097
        diagonal,0.3,0.31,0.25,0.26

        """
        return FuzzTarget(name: "fit-scan", seeds: [Array(seed.utf8), Array(labels.utf8)]) { input, dir in
            let path = dir + "/scan.csv"
            try write(input, path)
            _ = try FitScanTable(path: path)
        }
    }
}
