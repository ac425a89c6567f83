import Foundation
import Testing
@testable import MLD

/// Inputs that used to be read silently in one of several ways: two CP2K projects in one
/// directory, a file both plain and compressed, a short `.ener`, other velocity column names,
/// non-periodic and huge cells.
@Suite struct ReadingAmbiguityTests {
    let mini = MiniCP2K()

    @Test func twoProjectsInOneDirectoryAreRefusedNamingBoth() throws {
        let dir = try mini.write { f in
            f["w-eq-pos-1.xyz"] = f["w-pos-1.xyz"]
            f["w-eq-frc-1.xyz"] = f["w-frc-1.xyz"]
        }
        let e = try #require(readError(dir))
        #expect(e.contains("'w'") && e.contains("'w-eq'") && e.contains("w-eq-pos-1.xyz") && e.contains("w-pos-1.xyz"), "\(e)")
        #expect(!e.contains("\n"))
        #expect(throws: MLDError.self) { try Configuration.load(dir, frame: 0) }
    }

    @Test func aPositionsFileChoosesItsProject() throws {
        // w-eq has 2 steps, w has 3; each chosen by its positions file.
        let dir = try mini.write { f in
            f["w-eq-pos-1.xyz"] = mini.frames(kind: "pos", steps: [0, 1])
            f["w-eq-frc-1.xyz"] = mini.frames(kind: "frc", steps: [0, 1])
        }
        let eq = try CP2KReader.read(directory: dir + "/w-eq-pos-1.xyz")
        #expect(eq.project == "w-eq" && eq.frames.count == 2 && !eq.hasVelocities)
        #expect(eq.directory == dir)
        let w = try CP2KReader.read(directory: dir + "/w-pos-1.xyz")
        #expect(w.project == "w" && w.frames.count == 3 && w.hasVelocities)
        #expect(try Configuration.loadFrame(dir + "/w-eq-pos-1.xyz", frame: -1).index == 1)
        let e = try #require(readError(dir))
        #expect(e.contains("name one by its positions file"), "\(e)")
    }

    @Test func plainAndCompressedTogetherAreRefused() throws {
        let dir = try mini.write()
        // A .xz beside the plain file (content irrelevant: refused before reading).
        try Data([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]).write(to: URL(fileURLWithPath: dir + "/w-frc-1.xyz.xz"))
        let e = try #require(readError(dir))
        #expect(e.contains("w-frc-1.xyz") && e.contains("w-frc-1.xyz.xz") && e.contains("keep one"), "\(e)")
    }

    @Test func projectFilesAreMatchedByExactName() throws {
        // `eq-frc-1.xyz` ends like `w-eq-frc-1.xyz` would; with one project `eq` only its own files count.
        let dir = try mini.write { f in
            f["eq-pos-1.xyz"] = f["w-pos-1.xyz"]; f["w-pos-1.xyz"] = nil
            f["eq-frc-1.xyz"] = f["w-frc-1.xyz"]; f["w-frc-1.xyz"] = nil
            f["x-eq-vel-1.xyz"] = f["w-vel-1.xyz"]; f["w-vel-1.xyz"] = nil
        }
        let run = try CP2KReader.read(directory: dir)
        #expect(run.project == "eq")
        #expect(!run.hasVelocities)
    }

    @Test func restartFilesWithDifferentCellsAreRefused() throws {
        let other = "&FORCE_EVAL\n &SUBSYS\n &CELL\n ABC 7.0 7.0 7.0\n &END CELL\n &END SUBSYS\n&END FORCE_EVAL\n"
        let dir = try mini.write { f in f["w-eq.restart"] = other }
        let e = try #require(readError(dir))
        #expect(e.contains("w-eq.restart") && e.contains("w.restart") && e.contains("different cells"), "\(e)")
        // The same cell twice is no ambiguity.
        let same = try mini.write { f in f["w-copy.restart"] = f["w.restart"] }
        #expect(try CP2KReader.read(directory: same).box == Box(cubic: 6))
    }

    @Test func severalEnerFilesAreRefusedWhereOneIsPicked() throws {
        let dir = try mini.write { f in
            f["w-1.ener"] = " 0 0.0 0.1 300.0 -1.0 -0.9 1.0\n"
            f["v-1.ener"] = " 0 0.0 0.1 300.0 -1.0 -0.9 1.0\n"
        }
        #expect(throws: MLDError.self) { try CP2KReader.checkOneProject(dir) }
        #expect(throws: Never.self) { try CP2KReader.checkOneProject(try mini.write()) }
    }

    @Test func shortEnerFileIsAWarning() throws {
        let dir = try mini.write { f in
            f["w-1.ener"] = "# step time kin temp pot cons used\n 0 0.0 0.1 300.0 -1.0 -0.9 1.0\n 1 0.5 0.1 301.0 -1.0 -0.9 1.0\n"
        }
        let run = try CP2KReader.read(directory: dir)
        #expect(run.energies.count == 2)
        #expect(run.warnings.count == 1)
        #expect(run.warnings.first?.contains("2 rows for 3 frames") == true, "\(run.warnings)")
        #expect(run.warnings.first?.contains("step 2") == true)
        let full = try CP2KReader.read(directory: try mini.write { f in
            f["w-1.ener"] = (0..<3).map { " \($0) \(Double($0) * 0.5) 0.1 300.0 -1.0 -0.9 1.0\n" }.joined()
        })
        #expect(full.warnings.isEmpty)
    }

    func xyz(lattice: String = "9 0 0 0 9 0 0 0 9", properties: String, extra: String = "",
             atom: (String) -> String) -> String {
        "3\nLattice=\"\(lattice)\" Properties=\(properties) \(extra)\n" + ["O", "H", "H"].map(atom).joined(separator: "\n") + "\n"
    }

    func writeTemp(_ text: String) throws -> String {
        let path = try temporaryDirectory() + "/start.xyz"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test(arguments: ["velo", "vel", "velocities"])
    func velocityColumnNames(name: String) throws {
        let path = try writeTemp(xyz(properties: "species:S:1:pos:R:3:\(name):R:3") { "\($0) 1.0 2.0 3.0 0.01 -0.02 0.03" })
        let c = try ExtendedXYZ.read(path)[0]
        #expect(c.velocities?.first == SIMD3(0.01, -0.02, 0.03))
    }

    @Test func aColumnOfTheWrongWidthIsRefused() throws {
        let path = try writeTemp(xyz(properties: "species:S:1:pos:R:3:vel:R:1:forces:R:3") { "\($0) 1.0 2.0 3.0 0.5 0.1 0.2 0.3" })
        #expect {
            try ExtendedXYZ.read(path)
        } throws: { e in
            "\(e)".contains("column vel has 1 numbers")
        }
    }

    @Test func aseMomentaAreConverted() throws {
        let path = try writeTemp(xyz(properties: "species:S:1:pos:R:3:momenta:R:3") { _ in "O 1.0 2.0 3.0 1.0 0.0 0.0" })
        let c = try ExtendedXYZ.read(path)[0]
        #expect(abs(c.velocities![0].x - 1.0 / (15.999 * ExtendedXYZ.aseTimeUnit)) < 1e-15)
    }

    @Test(arguments: ["F F F", "T T F", "F T T"])
    func nonPeriodicIsRefused(pbc: String) throws {
        let path = try writeTemp(xyz(properties: "species:S:1:pos:R:3", extra: "pbc=\"\(pbc)\"") { "\($0) 1.0 2.0 3.0" })
        #expect {
            try ExtendedXYZ.read(path)
        } throws: { e in
            "\(e)".contains("pbc=\"\(pbc)\"") && "\(e)".contains("periodic") && "\(e)".contains(":2:")
        }
        let ok = try writeTemp(xyz(properties: "species:S:1:pos:R:3", extra: "pbc=\"T T T\"") { "\($0) 1.0 2.0 3.0" })
        #expect(try ExtendedXYZ.read(ok).count == 1)
    }

    @Test(arguments: ["3000 0 0 0 9 0 0 0 9", "9 0 0 0 1e9 0 0 0 9", "inf 0 0 0 9 0 0 0 9", "nan 0 0 0 9 0 0 0 9"])
    func hugeOrNonFiniteLatticeIsRefused(lattice: String) throws {
        let path = try writeTemp(xyz(lattice: lattice, properties: "species:S:1:pos:R:3") { "\($0) 1.0 2.0 3.0" })
        #expect(throws: MLDError.self) { try ExtendedXYZ.read(path) }
        #expect(Box(2999, 1, 1).edgeProblem == nil)
        #expect(Box(3000, 1, 1).edgeProblem != nil)
    }
}
