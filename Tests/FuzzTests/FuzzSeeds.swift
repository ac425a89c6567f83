import CLZMA
import Foundation
@testable import MLD

/// Valid inputs the mutations start from, cut from the bundled CP2K run
/// (`Data/cp2k-water64-xtb-300K`) and from files mld writes itself: small (a few atoms and
/// frames), so that a million inputs run in minutes.
enum FuzzSeeds {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    static let data = root + "/Data/cp2k-water64-xtb-300K"
    static let project = "water64-xtb-300K"
    /// Atoms and frames kept from each CP2K file.
    static let atoms = 6, frames = 3

    /// The first `frames` frames of a CP2K xyz file, each cut to its first `atoms` atoms (the
    /// count line rewritten to match; the comment and atom lines as CP2K wrote them).
    static func cp2kXYZ(_ kind: String) throws -> [UInt8] {
        let lines = try TextFile.lines("\(data)/\(project)-\(kind)-1.xyz.xz")
        guard let n = Int(lines[0].trimmingCharacters(in: .whitespaces)) else { throw FuzzFinding(description: "bad seed") }
        var out: [String] = []
        for f in 0..<frames {
            let at = f * (n + 2)
            out.append(String(format: "%8d", atoms))
            out.append(String(lines[at + 1]))
            out += lines[(at + 2)..<(at + 2 + atoms)].map(String.init)
        }
        return Array((out.joined(separator: "\n") + "\n").utf8)
    }

    /// The header and first `frames` rows of the `.ener` file.
    static func ener() throws -> [UInt8] {
        let lines = try TextFile.lines("\(data)/\(project)-1.ener")
        return Array((lines.prefix(frames + 1).joined(separator: "\n") + "\n").utf8)
    }

    /// The `&CELL` section of the restart file inside the sections that hold it.
    static func restart() throws -> [UInt8] {
        let lines = try TextFile.lines("\(data)/\(project)-equilibration.restart")
        guard let a = lines.firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).uppercased() == "&CELL" }),
              let b = lines[a...].firstIndex(where: { $0.trimmingCharacters(in: .whitespaces).uppercased().hasPrefix("&END") })
        else { throw FuzzFinding(description: "no &CELL in the restart file") }
        let text = " &FORCE_EVAL\n   &SUBSYS\n" + lines[a...b].joined(separator: "\n") + "\n   &END SUBSYS\n &END FORCE_EVAL\n"
        return Array(text.utf8)
    }

    /// A CP2K `.cell` file (header, then step, time, the 9 cell components and the volume) for
    /// the restart file's cell.
    static func cellFile() throws -> [UInt8] {
        let dir = try scratchDirectory("cell")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(restart()).write(to: URL(fileURLWithPath: dir + "/x.restart"))
        guard let box = try CP2KReader.readRestartCell(dir + "/x.restart") else { throw FuzzFinding(description: "no cell") }
        let l = box.lengths
        let text = "#   Step   Time [fs]       Ax [Angstrom]       Ay [Angstrom]       Az [Angstrom]       Bx [Angstrom]       By [Angstrom]       Bz [Angstrom]       Cx [Angstrom]       Cy [Angstrom]       Cz [Angstrom]      Volume [Angstrom^3]\n"
            + String(format: "%8d %12.3f %20.10f %20.10f %20.10f %20.10f %20.10f %20.10f %20.10f %20.10f %20.10f %25.10f\n",
                     0, 0.0, l.x, 0.0, 0.0, 0.0, l.y, 0.0, 0.0, 0.0, l.z, l.x * l.y * l.z)
        return Array(text.utf8)
    }

    /// `bytes` compressed as an .xz stream (liblzma, preset 0).
    static func xz(_ bytes: [UInt8]) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: bytes.count + 1024)
        var used = 0
        let status = out.withUnsafeMutableBufferPointer { o in
            bytes.withUnsafeBufferPointer { i in
                lzma_easy_buffer_encode(0, LZMA_CHECK_CRC64, nil, i.baseAddress, i.count, o.baseAddress, &used, o.count)
            }
        }
        guard status == LZMA_OK else { throw FuzzFinding(description: "xz encoding failed (\(status.rawValue))") }
        return Array(out[0..<used])
    }

    /// A fresh scratch directory.
    static func scratchDirectory(_ name: String) throws -> String {
        let dir = (NSTemporaryDirectory() as NSString).appendingPathComponent("mld-fuzz-seed-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// The first frame of the bundled run (192 atoms), read once.
    static let water: Result<Configuration, Error> = Result { try Configuration.load(data, frame: 0) }

    /// Model files: version 2 with nearest distances, a bend, labelled angles and angular sums;
    /// version 2 with radial sums; and version 1 (one nearest-distance family at the top level).
    static func models() throws -> [[UInt8]] {
        let nearest = InvariantSpec.nearest(species: ["O", "H"], counts: [2, 2], searchRadius: 4.5)
            .adding(.labelledAngles(LabelledAngles.parse("H1-H2,O1-H1")!))
            .adding(.angularSums(.grid(cutoff: 3.5, etas: [0.2], zetas: [1])))
        let radial = InvariantSpec.radial(species: ["O", "H"], cutoff: 4, basis: .gaussian(size: 3, cutoff: 4))
        var out: [[UInt8]] = []
        for (k, spec) in [nearest, radial].enumerated() {
            out.append([UInt8](try randomModel(spec, seed: UInt64(k + 1), agents: k == 0 ? .selfish : .conservative).jsonData()))
        }
        // Version 1.
        let v1Spec = InvariantSpec.nearest(species: ["O", "H"], counts: [2, 3], searchRadius: 4.5)
        var o = try JSONSerialization.jsonObject(with: try randomModel(v1Spec, seed: 9, agents: .selfish).jsonData()) as! [String: Any]
        o["version"] = 1
        o["invariants"] = ["family": "nearest", "species": ["O", "H"], "counts": [2, 3],
                           "transform": "distance", "searchRadius": 4.5] as [String: Any]
        o.removeValue(forKey: "agents")
        out.append([UInt8](try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])))
        return out
    }

    /// A model over `spec` with seeded coefficients (full symmetric W), wide training ranges.
    static func randomModel(_ spec: InvariantSpec, seed: UInt64, agents: AgentKind) -> LearnedModel {
        var rng = SplitMix64(seed: seed)
        let p = spec.count
        let losses = spec.species.map { _ -> QuadraticLoss in
            let w = (0..<p).map { _ in (rng.nextUniform() - 0.5) * 0.2 }
            var W = [Double](repeating: 0, count: p * p)
            for a in 0..<p { for b in a..<p { let x = (rng.nextUniform() - 0.5) * 0.1; W[a * p + b] = x; W[b * p + a] = x } }
            return QuadraticLoss(w: w, W: W)
        }
        let ranges = spec.species.map { _ in InvariantRange(min: .init(repeating: -10, count: p), max: .init(repeating: 10, count: p)) }
        return LearnedModel(species: [.oxygen, .hydrogen], invariants: spec, form: .full, losses: losses,
                            ranges: ranges, agents: agents)
    }

    /// The files of a short real run (32 argon atoms, Lennard-Jones, Nose-Hoover, 40 steps,
    /// checkpoint at 40): run.json, checkpoint.bin, trajectory.xyz, thermo.csv.
    static func runDirectory() throws -> [String: [UInt8]] {
        let dir = try scratchDirectory("run")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let start = argonCrystal()
        var s = SimulationSettings()
        s.timeStep = 5; s.temperature = 70; s.tau = 100; s.every = 10; s.checkpointEvery = 20
        let backend = try CPUBackend(potential: argonLJ, species: start.species, box: start.box)
        let sim = try Simulation(configuration: start, backend: backend, settings: s)
        let rec = RunRecord(settings: s, model: .init(path: "argon-lj", sha256: SHA256.hex(Array("lj".utf8))),
                            start: .init(source: "fcc", frame: 0, velocities: "Maxwell-Boltzmann"),
                            backend: backend.name, device: backend.deviceName, atoms: sim.positions.count,
                            elements: sim.elements.map(\.symbol), degreesOfFreedom: sim.degreesOfFreedom, targetSteps: 40)
        let run = dir + "/run"
        let rd = try RunDirectory(creating: run, record: rec, simulation: sim, rng: SplitMix64(seed: 1))
        _ = try rd.run(sim, until: 40)
        var out: [String: [UInt8]] = [:]
        for f in ["run.json", "checkpoint.bin", "trajectory.xyz", "thermo.csv"] {
            out[f] = [UInt8](try Data(contentsOf: URL(fileURLWithPath: run + "/" + f)))
        }
        return out
    }

    static let argonLJ = PairAgentLoss(speciesCount: 1, cutoff: 5, epsilon: 0.0104, sigma: 3.4)

    /// 2x2x2 fcc cells of argon (32 atoms, a = 5.3 Å) with seeded velocities.
    static func argonCrystal() -> Configuration {
        var rng = SplitMix64(seed: 5)
        let basis: [SIMD3<Double>] = [SIMD3(0, 0, 0), SIMD3(0.5, 0.5, 0), SIMD3(0.5, 0, 0.5), SIMD3(0, 0.5, 0.5)]
        var pos: [SIMD3<Double>] = []
        for x in 0..<2 { for y in 0..<2 { for z in 0..<2 { for b in basis {
            pos.append((SIMD3(Double(x), Double(y), Double(z)) + b) * 5.3 + (SIMD3(rng.nextUniform(), rng.nextUniform(), rng.nextUniform()) - 0.5) * 0.1)
        } } } }
        let argon = Element(symbol: "Ar")!
        var c = Configuration(atoms: Array(repeating: argon, count: pos.count), positions: pos, box: Box(cubic: 10.6))
        c.velocities = pos.map { _ in rng.nextNormal3() * 0.002 }
        return c
    }
}
